"""DescribeInvocations by InstanceId lists the invocations that ran on the instance, each once however often
it ran there (PostgreSQL: integration/test_pg_sql.py)."""

import pytest

from tests.instance_invocation_cases import ON_A, answers


@pytest.mark.django_db
def test_the_invocations_on_an_instance_are_those_that_ran_there(tenant, region):
    found = answers(tenant.account_id, region, "on")
    assert len(found["meant a"]) == ON_A and len(found["meant b"]) == len(range(0, ON_A, 3)) + 5
    for name in ("a", "b", "c"):
        assert found[f"found {name}"] == found[f"meant {name}"], name
    assert found["count a"] == ON_A  # the periodic task's history rows do not count it again
    assert found["found c"] == []
