"""DescribeInvocationResults: exact response shape, output encoding and tail, filters, both paging styles."""

import base64
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.api import services as api_services
from console.invocations import reports as inv_reports
from console.invocations.models import InvocationResult
from console.invocations.services import invocation_run_command
from tests.api.conftest import make_instance

RESULT_KEYS = {
    "CommandId", "ContainerId", "ContainerName", "Dropped", "ErrorCode", "ErrorInfo", "ExitCode",
    "FinishedTime", "InstanceId", "InvocationStatus", "InvokeId", "InvokeRecordStatus", "Launcher",
    "OssOutputDelivery", "OssOutputErrorCode", "OssOutputErrorInfo", "OssOutputStatus", "OssOutputUri",
    "Output", "Repeats", "StartTime", "StopTime", "Tags", "TerminationMode", "Username",
}  # fmt: skip
STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FINISHED = datetime(2026, 1, 2, 3, 4, 9, tzinfo=UTC)


def run(tenant, instance_ids, content="echo hi", region=""):
    return invocation_run_command(
        principal=tenant.principal, instance_ids=instance_ids, command_content=content, region=region
    )


def finish(result: InvocationResult, output: bytes, *, status="Success", exit_code=0) -> None:
    chunks = [output[i : i + 10000] for i in range(0, len(output), 10000)]
    for seq, chunk in enumerate(chunks, start=1):
        inv_reports.result_record_output(
            instance_id=result.instance_id, task_id=result.id, seq=seq, data=chunk
        )
    inv_reports.result_record_final(
        instance_id=result.instance_id,
        task_id=result.id,
        status=status,
        exit_code=exit_code,
        error_code="",
        error_info="",
        started_at=STARTED.timestamp(),
        finished_at=FINISHED.timestamp(),
        last_seq=len(chunks),
    )


def describe(rpc, region, **params):
    response = rpc.v3("DescribeInvocationResults", {"RegionId": region, **params})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_shape_of_a_finished_result(rpc, tenant, instance_id, region) -> None:
    invocation = run(tenant, [instance_id])
    finish(invocation.results.get(), b"hello\n")
    body = describe(rpc, region, InvokeId=invocation.id)
    assert set(body) == {"RequestId", "Invocation"}
    assert set(body["Invocation"]) == {"InvocationResults", "PageNumber", "PageSize", "TotalCount"}
    assert (body["Invocation"]["PageNumber"], body["Invocation"]["PageSize"]) == (1, 10)
    assert body["Invocation"]["TotalCount"] == 1
    assert set(body["Invocation"]["InvocationResults"]) == {"InvocationResult"}
    [record] = body["Invocation"]["InvocationResults"]["InvocationResult"]
    assert set(record) == RESULT_KEYS
    assert record == {
        **record,
        "CommandId": invocation.command_id,
        "InvokeId": invocation.id,
        "InstanceId": instance_id,
        "InvocationStatus": "Success",
        "InvokeRecordStatus": "Finished",
        "ExitCode": 0,
        "ErrorCode": "",
        "ErrorInfo": "",
        "Output": base64.b64encode(b"hello\n").decode(),
        "Dropped": 0,
        "Repeats": 1,
        "StartTime": "2026-01-02T03:04:05Z",
        "FinishedTime": "2026-01-02T03:04:09Z",
        "StopTime": "",
        "Tags": {"Tag": []},
        "Username": "root",
    }


@pytest.mark.django_db
def test_pending_result_has_empty_times_and_zero_exit_code(rpc, tenant, instance_id, region) -> None:
    invocation = run(tenant, [instance_id])
    [record] = describe(rpc, region, InvokeId=invocation.id)["Invocation"]["InvocationResults"][
        "InvocationResult"
    ]
    assert (record["InvocationStatus"], record["InvokeRecordStatus"]) == ("Pending", "Running")
    assert (record["StartTime"], record["FinishedTime"], record["StopTime"]) == ("", "", "")
    assert (record["ExitCode"], record["Output"], record["Repeats"]) == (0, "", 0)


@pytest.mark.django_db
def test_failed_result(rpc, tenant, instance_id, region) -> None:
    invocation = run(tenant, [instance_id])
    finish(invocation.results.get(), b"boom\n", status="Failed", exit_code=3)
    body = describe(rpc, region, InvokeId=invocation.id, ContentEncoding="plaintext")
    [record] = body["Invocation"]["InvocationResults"]["InvocationResult"]
    assert (record["InvocationStatus"], record["InvokeRecordStatus"]) == ("Failed", "Finished")
    assert (record["ExitCode"], record["ErrorCode"]) == (3, "ExitCodeNonzero")
    assert record["Output"] == "boom\n"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "decode"),
    [
        ("PlainText", lambda text: text.encode()),
        ("Base64", base64.b64decode),
        ("bogus", base64.b64decode),  # an unknown encoding falls back to the default, Base64
    ],
)
def test_output_is_the_tail_of_24k(rpc, tenant, instance_id, region, settings, encoding, decode) -> None:
    output = b"".join(b"line %05d\n" % n for n in range(3000))  # 33,000 bytes
    invocation = run(tenant, [instance_id])
    finish(invocation.results.get(), output)
    body = describe(rpc, region, InvokeId=invocation.id, ContentEncoding=encoding)
    [record] = body["Invocation"]["InvocationResults"]["InvocationResult"]
    limit = settings.ASSIST_API_OUTPUT_LIMIT
    assert decode(record["Output"]) == output[-limit:]
    assert record["Dropped"] == len(output) - limit


@pytest.mark.django_db
def test_filters(rpc, tenant, region) -> None:
    a, b = make_instance(tenant, "a"), make_instance(tenant, "b")
    first = run(tenant, [a, b])
    second = run(tenant, [a])
    finish(first.results.get(instance_id=a), b"x")

    def ids(**filters):
        body = describe(rpc, region, **filters)
        records = body["Invocation"]["InvocationResults"]["InvocationResult"]
        assert body["Invocation"]["TotalCount"] == len(records)
        return sorted((r["InvokeId"], r["InstanceId"]) for r in records)

    everything = sorted([(first.id, a), (first.id, b), (second.id, a)])
    assert ids() == everything
    assert ids(InvokeId=first.id) == sorted([(first.id, a), (first.id, b)])
    assert ids(InstanceId=b) == [(first.id, b)]
    assert ids(CommandId=second.command_id) == [(second.id, a)]
    assert ids(InvokeRecordStatus="Finished") == [(first.id, a)]
    assert ids(InvokeRecordStatus="running") == sorted([(first.id, b), (second.id, a)])
    assert ids(InvokeRecordStatus="Stopped") == []
    assert ids(InvokeId="t-unknown") == []
    assert ids(IncludeHistory="false", ResourceGroupId="rg-x") == everything


@pytest.mark.django_db
def test_other_accounts_and_regions_are_invisible(rpc, tenant, other_tenant, instance_id, region) -> None:
    foreign = run(other_tenant, [make_instance(other_tenant)])
    assert describe(rpc, region)["Invocation"]["TotalCount"] == 0
    assert describe(rpc, region, InvokeId=foreign.id)["Invocation"]["TotalCount"] == 0
    run(tenant, [instance_id])
    assert describe(rpc, region)["Invocation"]["TotalCount"] == 1
    assert describe(rpc, "cn-hangzhou")["Invocation"]["TotalCount"] == 0


@pytest.mark.django_db
def test_page_number_paging(rpc, tenant, instance_id, region) -> None:
    invocations = [run(tenant, [instance_id]) for _ in range(5)]
    newest_first = [i.id for i in reversed(invocations)]
    seen = []
    for number in (1, 2, 3):
        body = describe(rpc, region, PageNumber=str(number), PageSize="2")["Invocation"]
        assert (body["PageNumber"], body["PageSize"], body["TotalCount"]) == (number, 2, 5)
        assert "NextToken" not in body
        seen += [r["InvokeId"] for r in body["InvocationResults"]["InvocationResult"]]
    assert seen == newest_first


@pytest.mark.django_db
def test_token_paging(rpc, tenant, instance_id, region) -> None:
    invocations = [run(tenant, [instance_id]) for _ in range(5)]
    seen, token, pages = [], None, 0
    while token != "":
        params = {"MaxResults": "2"} if token is None else {"MaxResults": "2", "NextToken": token}
        body = describe(rpc, region, **params)["Invocation"]
        assert set(body) == {"InvocationResults", "NextToken", "PageSize", "TotalCount"}
        assert (body["PageSize"], body["TotalCount"]) == (2, 5)
        seen += [r["InvokeId"] for r in body["InvocationResults"]["InvocationResult"]]
        token = body["NextToken"]
        pages += 1
    assert pages == 3
    assert seen == [i.id for i in reversed(invocations)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"PageSize": "0"}, 403, "InvalidParam.PageSize"),
        ({"PageSize": "51"}, 403, "InvalidParam.PageSize"),
        ({"PageSize": "ten"}, 403, "InvalidParam.PageSize"),
        ({"PageNumber": "0"}, 403, "InvalidParam.PageNumber"),
        ({"MaxResults": "51"}, 403, "InvalidParam.MaxResults"),
        ({"NextToken": "not-a-token"}, 400, "InvalidParameter.NextToken"),
        ({"InvokeRecordStatus": "Exploded"}, 400, "InvalidParameter.InvokeRecordStatus"),
        ({"IncludeHistory": "perhaps"}, 400, "InvalidParameter.IncludeHistory"),
        ({"Tag.1.Key": "k" * 65}, 400, "InvalidTagKey.Malformed"),
        ({"RegionId": ""}, 400, "MissingParameter.RegionId"),
    ],
)
def test_refusals(rpc, region, params, status, code) -> None:
    response = rpc.v1("DescribeInvocationResults", {"RegionId": region, **params})
    assert response.status_code == status, response.content
    assert response.json()["Code"] == code


@pytest.mark.django_db
def test_ram_user_is_denied(rpc, tenant, region) -> None:
    from console.iam.models import User
    from console.iam.services import access_key_create

    ram_user = User.objects.create(account_id=tenant.account_id, name="dev", login_name="dev@acme")
    key = access_key_create(user=ram_user)
    response = rpc.v1(
        "DescribeInvocationResults",
        {"RegionId": region},
        access_key_id=key.access_key_id,
        secret=key.access_key_secret,
    )
    assert response.status_code == 403
    assert response.json()["Code"] == "Forbidden.RAM"


@pytest.mark.django_db
def test_query_count_does_not_grow_with_results(rpc, tenant, region, monkeypatch) -> None:
    monkeypatch.setattr(api_services, "_next_prune", float("inf"))
    instances = [make_instance(tenant, f"h{n}") for n in range(5)]
    one = run(tenant, instances[:1])
    five = run(tenant, instances)
    for invocation in (one, five):
        for result in invocation.results.all():
            finish(result, b"out")
    counts = []
    for invocation, expected in ((one, 1), (five, 5)):
        with CaptureQueriesContext(connection) as queries:
            body = describe(rpc, region, InvokeId=invocation.id)
        assert len(body["Invocation"]["InvocationResults"]["InvocationResult"]) == expected
        counts.append(len(queries))
    assert counts[0] == counts[1]
