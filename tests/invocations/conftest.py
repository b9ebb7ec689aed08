"""Fixtures for the invocation tests: the RPC client of tests/api (signed with the official SDK's code)."""

from tests.api.conftest import (  # noqa: F401 - fixtures used by the tests of this package
    fast_password_hashing,
    instance_id,
    other_tenant,
    region,
    rpc,
    tenant,
)
from tests.integration.test_production_mode import (  # noqa: F401 - production mode (test_periodic_e2e.py)
    database,
    production,
    redis_url,
)
