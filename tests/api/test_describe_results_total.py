"""DescribeInvocationResults' TotalCount is the number of records its pages list, under every mix of
filters and for a root user and a RAM user who sees some instances only. Without a filter on the results
themselves it adds up the invocations' stored instance counts instead of counting results
(docs/performance.md, section 4), so this also proves those counts follow every write that adds or
removes a latest result: creation, a periodic task's executions rolling over, instances added later."""

from datetime import timedelta
from itertools import combinations

import pytest

from console.iam import services as iam_services
from console.iam.principal import Principal, arn
from console.invocations import reports, services
from console.invocations import status as st
from console.invocations.models import InvocationResult
from tests.api.conftest import make_instance
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db


def agent_runs(result: InvocationResult, status: str = st.SUCCESS) -> None:
    stamp = result.created_at.timestamp()
    exit_code = 0 if status == st.SUCCESS else 1
    reports.result_record_final(
        instance_id=result.instance_id, task_id=result.id, status=status, exit_code=exit_code,
        error_code="", error_info="", started_at=stamp, finished_at=stamp + 1, last_seq=0,
    )  # fmt: skip


@pytest.fixture
def runs(tenant, other_tenant):
    """Three runs on instances a, b, c: ``first`` on a and b (a succeeded), ``tagged`` on a, and a periodic
    task first on b and c whose executions rolled over once (history rows), then given a as well."""
    principal = tenant.principal
    a, b, c = (make_instance(tenant, name) for name in "abc")
    first = services.invocation_run_command(principal=principal, instance_ids=[a, b], command_content="x")
    agent_runs(first.results.get(instance_id=a))
    tagged = services.invocation_run_command(
        principal=principal, instance_ids=[a], command_content="y", tags={"env": "prod"}
    )
    periodic = services.invocation_run_command(
        principal=principal, instance_ids=[b, c], command_content="z", frequency="rate(5m)", timeout=30
    )
    assert services.executions_start_due(now=periodic.created_at + timedelta(minutes=5)) == 2
    for result in InvocationResult.objects.filter(invocation=periodic, latest=True):
        agent_runs(result, st.FAILED)
    services.invocation_modify(principal=principal, invocation_id=periodic.id, instance_ids=[a])
    services.invocation_run_command(
        principal=other_tenant.principal, instance_ids=[make_instance(other_tenant)], command_content="x"
    )
    assert InvocationResult.objects.filter(invocation=periodic, latest=False).count() == 2
    return {"a": a, "first": first, "tagged": tagged, "periodic": periodic}


def ram_user_seeing(tenant, region, instance_id: str):
    """A RAM user allowed DescribeInvocationResults on every invocation but on one instance only."""
    root = tenant.principal
    user = iam_services.ram_user_create(principal=root, name="reader")
    resources = [
        arn(tenant.account_id, region, "invocation", "*"),
        arn(tenant.account_id, region, "instance", instance_id),
    ]
    policy = iam_services.policy_create(
        principal=root, name="reader-policy", document=doc(allow("ecs:DescribeInvocationResults", resources))
    )
    iam_services.policy_attach(principal=root, policy=policy, to_user=user)
    assert Principal.for_user(user).is_root is False
    return iam_services.access_key_create(user=user)


def filter_mixes(runs) -> list[dict[str, str]]:
    filters = {
        "InvokeId": {"InvokeId": runs["first"].id},
        "InstanceId": {"InstanceId": runs["a"]},
        "CommandId": {"CommandId": runs["tagged"].command_id},
        "InvokeRecordStatus": {"InvokeRecordStatus": "Finished"},
        "Tag": {"Tag.1.Key": "env", "Tag.1.Value": "prod"},
    }
    mixes = []
    for size in range(len(filters) + 1):
        for names in combinations(filters, size):
            mixes.append({key: value for name in names for key, value in filters[name].items()})
    history = {"InvokeId": runs["periodic"].id, "IncludeHistory": "true"}
    return [*mixes, history, {**history, "InstanceId": runs["a"]}, {"InvokeId": runs["periodic"].id}]


@pytest.mark.parametrize("who", ["root", "ram"])
def test_total_count_is_the_number_of_records_under_every_filter_mix(rpc, tenant, region, runs, who):
    key = ram_user_seeing(tenant, region, runs["a"]) if who == "ram" else None
    caller = {"access_key_id": key.access_key_id, "secret": key.access_key_secret} if key else {}
    listed = {}
    for filters in filter_mixes(runs):
        response = rpc.v1(
            "DescribeInvocationResults", {"RegionId": region, "PageSize": "50", **filters}, **caller
        )
        assert response.status_code == 200, response.content
        body = response.json()["Invocation"]
        records = body["InvocationResults"]["InvocationResult"]
        assert body["TotalCount"] == len(records), filters
        listed[tuple(sorted(filters.items()))] = len(records)
    # The mixes mean something: the unfiltered page lists every latest result the caller may see (first
    # on a and b, tagged on a, periodic on a, b and c), and most mixes list some.
    assert listed[()] == (6 if who == "root" else 3)
    assert sum(1 for n in listed.values() if n) > len(listed) // 3
