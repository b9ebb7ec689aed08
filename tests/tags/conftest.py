"""Fixtures for the tag tests: the RPC client of tests/api (signed with the official SDK's code)."""

from tests.api.conftest import (  # noqa: F401 - fixtures used by the tests of this package
    fast_password_hashing,
    instance_id,
    region,
    rpc,
    tenant,
)
