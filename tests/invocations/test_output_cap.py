"""The output cap (ASSIST_MAX_OUTPUT_BYTES): what an execution prints beyond it is counted, not stored; the
API's Dropped adds it and the console's output ends with a line saying so."""

import base64

import pytest

from console.invocations import reports, services
from console.invocations import status as st
from console.invocations.models import InvocationResult, OutputChunk
from console.invocations.selectors import output_of
from tests.api.conftest import make_instance

pytestmark = pytest.mark.django_db


def report(result, chunks):
    for seq, data in enumerate(chunks, start=1):
        assert reports.result_record_output(
            instance_id=result.instance_id, task_id=result.id, seq=seq, data=data
        )
    return reports.result_record_final(
        instance_id=result.instance_id, task_id=result.id, status=st.SUCCESS, exit_code=0, error_code="",
        error_info="", started_at=1.0, finished_at=2.0, last_seq=len(chunks),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("cap", "chunks", "stored", "dropped"),
    [
        (10, [b"abcdef", b"ghijkl", b"mnopqr"], b"abcdefghij", 8),
        (12, [b"abcdef", b"ghijkl"], b"abcdefghijkl", 0),
        (0, [b"abc"], b"", 3),
        (100, [b"x" * 60, b"y" * 60, b"z"], b"x" * 60 + b"y" * 40, 21),
    ],
)
def test_output_beyond_the_cap_is_counted_not_stored(tenant, settings, cap, chunks, stored, dropped):
    settings.ASSIST_MAX_OUTPUT_BYTES = cap
    instance_id = make_instance(tenant, "a")
    invocation = services.invocation_run_command(
        principal=tenant.principal, instance_ids=[instance_id], command_content="yes | head"
    )
    result = InvocationResult.objects.get(invocation=invocation)
    assert report(result, chunks) == []  # every chunk number is held: the result is complete
    result.refresh_from_db()
    assert (result.status, result.output_size, result.output_dropped) == (st.SUCCESS, len(stored), dropped)
    kept = b"".join(
        bytes(c) for c in OutputChunk.objects.filter(result=result).values_list("data", flat=True)
    )
    assert kept == stored
    shown = output_of(result.id)
    assert shown.startswith(stored)
    if dropped:
        assert f"{dropped} more bytes were not stored".encode() in shown[len(stored) :]
    else:
        assert shown == stored


def test_the_api_dropped_adds_what_was_not_stored(rpc, tenant, region, settings):
    settings.ASSIST_MAX_OUTPUT_BYTES = 30 * 1024
    settings.ASSIST_API_OUTPUT_LIMIT = 24 * 1024
    instance_id = make_instance(tenant, "a")
    invocation = services.invocation_run_command(
        principal=tenant.principal, instance_ids=[instance_id], command_content="big"
    )
    result = InvocationResult.objects.get(invocation=invocation)
    report(result, [b"a" * 20 * 1024, b"b" * 20 * 1024])  # 40 KiB printed, 30 KiB kept
    response = rpc.v3("DescribeInvocationResults", {"RegionId": region, "InvokeId": invocation.id})
    assert response.status_code == 200, response.content
    [record] = response.json()["Invocation"]["InvocationResults"]["InvocationResult"]
    # 10 KiB never stored + 6 KiB of the stored 30 KiB cut from the API's 24 KiB Output.
    assert record["Dropped"] == 16 * 1024
    assert base64.b64decode(record["Output"]) == b"a" * 14 * 1024 + b"b" * 10 * 1024
    described = rpc.v3(
        "DescribeInvocations", {"RegionId": region, "InvokeId": invocation.id, "IncludeOutput": "true"}
    ).json()
    assert (
        described["Invocations"]["Invocation"][0]["InvokeInstances"]["InvokeInstance"][0]["Dropped"]
        == 16 * 1024
    )
