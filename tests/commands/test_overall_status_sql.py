"""The database's overall status (selectors.with_overall_status, which DescribeInvocations filters and pages
on) agrees with the pure rule (status.overall_status) for every mix of one, two and three statuses; so does
the status DescribeInvocations shows for an unfiltered page, which it takes from the page's result rows."""

from itertools import combinations

import pytest

from console.api.actions.registry import ACTIONS
from console.api.params import Params
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult
from console.invocations.selectors import with_overall_status

pytestmark = pytest.mark.django_db

MIXES = [()] + [mix for size in (1, 2, 3) for mix in combinations(st.INSTANCE_STATUSES, size)]


def _store_every_mix(account_id: str) -> None:
    invocations = [
        Invocation(id=f"t-{n:04d}", account_id=account_id, region="local", command_id="c-1",
                   command_type="RunShellScript", command_content="id")
        for n in range(len(MIXES))
    ]  # fmt: skip
    Invocation.objects.bulk_create(invocations)
    InvocationResult.objects.bulk_create(
        InvocationResult(
            id=f"r-{n:04d}-{i}", invocation_id=f"t-{n:04d}", instance_id=f"mi-{i}", status=status
        )
        for n, mix in enumerate(MIXES)
        for i, status in enumerate(mix)
    )
    # An earlier run's row (history, not latest) counts for neither: its status would turn most mixes.
    InvocationResult.objects.bulk_create(
        InvocationResult(id=f"r-{n:04d}-old", invocation_id=f"t-{n:04d}", instance_id="mi-0",
                         status=st.FAILED, latest=False)
        for n in range(len(MIXES))
    )  # fmt: skip


def test_sql_overall_status_matches_the_pure_rule(root_principal):
    _store_every_mix(root_principal.account_id)
    computed = dict(with_overall_status(Invocation.objects.all()).values_list("id", "overall"))
    expected = {f"t-{n:04d}": st.overall_status(mix) for n, mix in enumerate(MIXES)}
    assert computed == expected
    assert len(expected) == 1 + 12 + 66 + 220


def test_filtering_on_the_overall_status(root_principal):
    for n, statuses in enumerate([(st.SUCCESS,), (st.SUCCESS, st.FAILED), (st.CANCELLED,)]):
        Invocation.objects.create(
            id=f"t-{n}",
            account_id=root_principal.account_id,
            region="local",
            command_id="c-1",
            command_type="RunShellScript",
            command_content="id",
        )
        for i, status in enumerate(statuses):
            InvocationResult.objects.create(
                id=f"r-{n}-{i}", invocation_id=f"t-{n}", instance_id=f"mi-{i}", status=status
            )
    annotated = with_overall_status(Invocation.objects.all())
    assert list(annotated.filter(overall="PartialFailed").values_list("id", flat=True)) == ["t-1"]
    assert annotated.filter(overall__in=["Success", "Stopped"]).count() == 2


def test_describe_invocations_pages_show_the_overall_status_the_database_computes(root_principal):
    _store_every_mix(root_principal.account_id)
    shown, token = {}, ""
    while True:
        params = {"RegionId": "local", "MaxResults": "50", **({"NextToken": token} if token else {})}
        page = ACTIONS["DescribeInvocations"](root_principal, Params(params))
        shown.update({row["InvokeId"]: row["InvocationStatus"] for row in page["Invocations"]["Invocation"]})
        token = page.get("NextToken", "")
        if not token:
            break
    computed = dict(with_overall_status(Invocation.objects.all()).values_list("id", "overall"))
    assert len(shown) == len(MIXES)
    assert shown == computed
    assert {"Pending", "Running", "Stopped", "Success", "Failed", "PartialFailed"} <= set(shown.values())
