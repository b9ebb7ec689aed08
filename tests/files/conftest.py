import pytest

from tests.api.conftest import fast_password_hashing, other_tenant, rpc, tenant  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def content_store_in_tmp(settings, tmp_path):
    """File contents go to a fresh data dir per test, not to the developer's var/."""
    settings.DATA_DIR = tmp_path / "data"
