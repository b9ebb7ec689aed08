"""The database's overall status (selectors.with_overall_status, which DescribeInvocations filters and pages
on) agrees with the pure rule (status.overall_status) for every mix of one, two and three statuses."""

from itertools import combinations

import pytest

from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult
from console.invocations.selectors import with_overall_status

pytestmark = pytest.mark.django_db

MIXES = [()] + [mix for size in (1, 2, 3) for mix in combinations(st.INSTANCE_STATUSES, size)]


def test_sql_overall_status_matches_the_pure_rule(root_principal):
    invocations = [
        Invocation(id=f"t-{n:04d}", account_id=root_principal.account_id, region="local", command_id="c-1",
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
