"""DescribeInvocations pages the invocation rows first and computes the overall status of the page's
invocations only, unless InvokeStatus or Timed filter on that status (then every candidate's status is
computed before paging). Both paths must give the same statuses, pages and TotalCount; the unfiltered
TotalCount counts plain invocation rows (docs/performance.md, section 4)."""

from datetime import UTC, datetime, timedelta
from itertools import combinations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.api.actions.describe_invocations import INVOKE_STATUS_FILTER, LIVE_OVERALL
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult

pytestmark = pytest.mark.django_db

# Every mix of none, one and two per-instance statuses: every overall status the rule can give.
MIXES = [()] + [mix for size in (1, 2) for mix in combinations(st.INSTANCE_STATUSES, size)]
EPOCH = datetime(2026, 3, 1, tzinfo=UTC)


def load(tenant, region, *, periodic_every: int = 5) -> dict[str, tuple[str, str]]:
    """One invocation per mix, one second apart (oldest first); every ``periodic_every``-th is a Period task.
    Each instance also has an earlier execution (not latest) in another status, which must not count.
    Returns each invocation's (expected overall status, repeat mode)."""
    invocations, results, expected = [], [], {}
    for n, mix in enumerate(MIXES):
        mode = "Period" if n % periodic_every == 0 else "Once"
        invocation_id = f"t-mix{n:04d}"
        invocations.append(
            Invocation(id=invocation_id, account_id=tenant.account_id, region=region, command_id="c-1",
                       command_type="RunShellScript", command_content="id", repeat_mode=mode,
                       created_at=EPOCH + timedelta(seconds=n))
        )  # fmt: skip
        for i, status in enumerate(mix):
            results.append(
                InvocationResult(id=f"{invocation_id}-{i}", invocation_id=invocation_id,
                                 instance_id=f"mi-{i}", status=status,
                                 created_at=EPOCH + timedelta(seconds=n))
            )  # fmt: skip
            results.append(
                InvocationResult(id=f"{invocation_id}-{i}-old", invocation_id=invocation_id,
                                 instance_id=f"mi-{i}", status=st.RUNNING, latest=False,
                                 created_at=EPOCH + timedelta(seconds=n))
            )  # fmt: skip
        expected[invocation_id] = (st.overall_status(mix), mode)
    Invocation.objects.bulk_create(invocations)
    InvocationResult.objects.bulk_create(results)
    return expected


def every_page(rpc, region, paging_style: str, size: int, **filters) -> tuple[list[dict], set[int]]:
    """All pages of DescribeInvocations: the rows in order, and the TotalCounts answered."""
    rows, totals = [], set()
    token, number = "", 1
    while True:
        if paging_style == "token":
            params = {"MaxResults": str(size), **({"NextToken": token} if token else {})}
        else:
            params = {"PageSize": str(size), "PageNumber": str(number)}
        response = rpc.v3("DescribeInvocations", {"RegionId": region, **params, **filters})
        assert response.status_code == 200, response.content
        body = response.json()
        page = body["Invocations"]["Invocation"]
        rows.extend(page)
        totals.add(body["TotalCount"])
        if paging_style == "token":
            token = body["NextToken"]
            if not token:
                return rows, totals
        else:
            if len(page) < size:
                return rows, totals
            number += 1


@pytest.mark.parametrize(
    ("paging_style", "size"), [("token", 50), ("token", 7), ("number", 50), ("number", 13)]
)
def test_unfiltered_pages_carry_each_invocations_overall_status(rpc, tenant, region, paging_style, size):
    expected = load(tenant, region)
    rows, totals = every_page(rpc, region, paging_style, size)
    assert totals == {len(MIXES)}
    assert [row["InvokeId"] for row in rows] == sorted(expected, reverse=True)  # newest first, each once
    for row in rows:
        overall, mode = expected[row["InvokeId"]]
        assert row["InvocationStatus"] == overall, row["InvokeId"]
        assert row["InvokeStatus"] == st.legacy_invoke_status(overall, mode)
        assert row["Timed"] is (mode != "Once" and overall in LIVE_OVERALL)


@pytest.mark.parametrize("invoke_status", sorted(INVOKE_STATUS_FILTER))
def test_status_filter_before_paging_agrees_with_the_unfiltered_pages(rpc, tenant, region, invoke_status):
    expected = load(tenant, region)
    unfiltered, _ = every_page(rpc, region, "token", 50)
    wanted = [
        row["InvokeId"]
        for row in unfiltered
        if row["InvocationStatus"] in INVOKE_STATUS_FILTER[invoke_status]
    ]
    assert wanted == [
        i for i in sorted(expected, reverse=True) if expected[i][0] in INVOKE_STATUS_FILTER[invoke_status]
    ]
    for paging_style, size in (("token", 4), ("number", 4)):
        rows, totals = every_page(rpc, region, paging_style, size, InvokeStatus=invoke_status)
        assert [row["InvokeId"] for row in rows] == wanted
        assert totals == {len(wanted)}


@pytest.mark.parametrize("timed", ["true", "false"])
def test_timed_filter_before_paging_agrees_with_the_unfiltered_pages(rpc, tenant, region, timed):
    load(tenant, region, periodic_every=2)
    unfiltered, _ = every_page(rpc, region, "token", 50)
    wanted = [row["InvokeId"] for row in unfiltered if row["Timed"] is (timed == "true")]
    assert wanted  # both halves are populated by the mixes
    rows, totals = every_page(rpc, region, "token", 6, Timed=timed)
    assert [row["InvokeId"] for row in rows] == wanted
    assert totals == {len(wanted)}


def test_unfiltered_total_counts_plain_invocation_rows(rpc, tenant, region):
    load(tenant, region)
    with CaptureQueriesContext(connection) as captured:
        response = rpc.v3("DescribeInvocations", {"RegionId": region, "MaxResults": "10"})
    assert response.status_code == 200
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(*)" in q["sql"].upper()]
    assert counts, "no count query"
    assert all("invocations_invocationresult" not in sql for sql in counts), counts
    # No status aggregate at all: the overall status comes from the page's result rows, which are read
    # for the page's invocations only (an IN list of them), not the account's.
    aggregates = [
        q["sql"] for q in captured.captured_queries if "n_all" in q["sql"] or "CASE WHEN" in q["sql"]
    ]
    assert aggregates == []
    results = [
        q["sql"] for q in captured.captured_queries if 'FROM "invocations_invocationresult"' in q["sql"]
    ]
    assert len(results) == 1 and " IN (" in results[0]
    assert all(row["InvocationStatus"] for row in response.json()["Invocations"]["Invocation"])


def test_the_overall_status_counts_every_instance_when_the_page_shows_one(rpc, tenant, region):
    """With InstanceId the page's results are narrowed to that instance; its overall status still counts
    every instance of the invocation."""
    expected = load(tenant, region)
    rows, _ = every_page(rpc, region, "token", 50, InstanceId="mi-0")
    with_mi_0 = {i for i, mix in zip(sorted(expected), MIXES, strict=True) if mix}
    assert {row["InvokeId"] for row in rows} == with_mi_0
    for row in rows:
        assert [entry["InstanceId"] for entry in row["InvokeInstances"]["InvokeInstance"]] == ["mi-0"]
        assert row["InvocationStatus"] == expected[row["InvokeId"]][0], row["InvokeId"]
