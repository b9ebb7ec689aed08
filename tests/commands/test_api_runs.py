"""InvokeCommand, StopInvocation, DescribeInvocations and RunCommand's parameters through signed requests."""

import base64
import json

import pytest

from console.commands.services import command_create
from console.invocations import reports
from console.invocations import status as st
from console.invocations.delivery import task_run_frame
from console.invocations.models import Invocation, InvocationResult
from console.invocations.services import invocation_run_command
from tests.api.conftest import make_instance

pytestmark = pytest.mark.django_db


def saved(tenant, **overrides):
    arguments = {
        "principal": tenant.principal,
        "name": "deploy",
        "command_content": "echo {{v}} {{ACS::InstanceId}}",
        "enable_parameter": True,
        "timeout": 45,
        "working_dir": "/srv",
        **overrides,
    }
    return command_create(**arguments)


def ok(response):
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("style", ["v1", "v3"])
def test_invoke_command(rpc, tenant, region, style):
    command = saved(tenant)
    a, b = make_instance(tenant, "a"), make_instance(tenant, "b")
    body = ok(getattr(rpc, style)("InvokeCommand", {
        "RegionId": region, "CommandId": command.id, "InstanceId.1": a, "InstanceId.2": b,
        "Parameters": json.dumps({"v": "1.2"}), "Username": "deploy", "Timeout": "20", "WorkingDir": "/tmp",
        "ClientToken": "x", "RepeatMode": "Once", "TerminationMode": "ProcessTree",
    }))  # fmt: skip
    assert set(body) == {"RequestId", "InvokeId"}
    invocation = Invocation.objects.get(pk=body["InvokeId"])
    assert (invocation.command_id, invocation.command_name, invocation.username) == (command.id, "deploy",
                                                                                     "deploy")  # fmt: skip
    assert (invocation.timeout, invocation.working_dir, invocation.parameters) == (20, "/tmp", {"v": "1.2"})
    frames = {r.instance_id: task_run_frame(r).content for r in invocation.results.all()}
    assert frames == {a: f"echo 1.2 {a}", b: f"echo 1.2 {b}"}


INVOKE_REFUSALS = [
    pytest.param({"CommandId": None}, 400, "MissingParameter.CommandId", id="no-command"),
    pytest.param({"CommandId": "c-nope"}, 404, "InvalidCmdId.NotFound", id="unknown-command"),
    pytest.param({"InstanceId.1": None}, 400, "MissingParameter.InstanceId", id="no-instance"),
    pytest.param({"InstanceId.1": "mi-nope"}, 404, "InvalidInstance.NotFound", id="unknown-instance"),
    pytest.param({"Timeout": "5"}, 400, "InvalidParameter.Timeout", id="timeout-under-10"),
    pytest.param({"Parameters": '{"zzz": "1"}'}, 403, "Parameter.NotMatched", id="not-matched"),
    pytest.param({"Parameters": '{"v": 1, "V": 2}'}, 403, "ParameterKey.Duplicate", id="duplicate-key"),
    pytest.param({"Parameters": '{"v": 1, "v": 2}'}, 403, "ParameterKey.Duplicate", id="duplicate-json-key"),
    pytest.param({"Parameters": '{"v": [1]}'}, 403, "ParameterType.NotSupported", id="array-value"),
    pytest.param({"Parameters": "{'v': 1}"}, 400, "InvalidParameter.Parameters", id="python-repr"),
    pytest.param(
        {"Parameters": json.dumps({f"k{i}": i for i in range(11)})},
        403,
        "ParameterCount.ExceedLimit",
        id="11-values",
    ),  # fmt: skip
    pytest.param({"Parameters": json.dumps({"k" * 65: 1})}, 403, "ParameterKey.ExceedLimit", id="long-key"),
    pytest.param({"RepeatMode": "Period"}, 403, "MissingParam.Frequency", id="period-without-frequency"),
    pytest.param({"Launcher": "sh {{ACS::Script}}"}, 400, "InvalidParameter.Launcher", id="launcher"),
    pytest.param({"Frequency": "at(2020-01-01 00:00:00)"}, 403, "InvalidParam.Frequency", id="expired-at"),
    pytest.param(
        {"ResourceTag.1.Key": "env"}, 400, "InvalidParameter.ResourceTag", id="resource-tag-and-ids"
    ),
    pytest.param({"ContainerName": "-web"}, 400, "InvalidParameter.ContainerName", id="container"),
    pytest.param({"Username": "u" * 256}, 403, "Username.ExceedLimit", id="long-username"),
]


@pytest.mark.parametrize(("change", "status", "code"), INVOKE_REFUSALS)
def test_invoke_command_refusals(rpc, tenant, region, instance_id, change, status, code):
    command = saved(tenant)
    params = {"RegionId": region, "CommandId": command.id, "InstanceId.1": instance_id, **change}
    response = rpc.v3("InvokeCommand", {k: v for k, v in params.items() if v is not None})
    assert (response.status_code, response.json()["Code"]) == (status, code), response.content
    assert not Invocation.objects.exists()


def test_invoke_command_with_parameters_disabled(rpc, tenant, region, instance_id):
    command = saved(tenant, enable_parameter=False)
    params = {"RegionId": region, "CommandId": command.id, "InstanceId.1": instance_id}
    response = rpc.v1("InvokeCommand", {**params, "Parameters": '{"v": "1"}'})
    assert (response.status_code, response.json()["Code"]) == (404, "Parameter.Disabled")
    ok(rpc.v1("InvokeCommand", {**params, "Parameters": "{}"}))
    assert task_run_frame(InvocationResult.objects.get()).content == "echo {{v}} {{ACS::InstanceId}}"


def test_run_command_with_parameters(rpc, region, instance_id):
    body = ok(rpc.v3("RunCommand", {
        "RegionId": region, "Type": "RunShellScript", "InstanceId.1": instance_id, "EnableParameter": "true",
        "CommandContent": "echo {{ name }} on {{ACS::InstanceId}}", "Parameters": '{"name": "Jack"}',
    }))  # fmt: skip
    result = InvocationResult.objects.get(invocation_id=body["InvokeId"])
    assert task_run_frame(result).content == f"echo Jack on {instance_id}"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"Parameters": '{"name": "x"}'}, "Parameter.Disabled"),
        ({"EnableParameter": "true", "CommandContent": "echo {{.x}}"}, "CmdParam.InvalidParamName"),
        (
            {"EnableParameter": "true", "Parameters": json.dumps({"name": "x" * 18500})},
            "CmdContent.ExceedLimit",
        ),
    ],
)
def test_run_command_parameter_refusals(rpc, region, instance_id, params, code):
    base = {"RegionId": region, "Type": "RunShellScript", "InstanceId.1": instance_id,
            "CommandContent": "echo {{name}}"}  # fmt: skip
    response = rpc.v1("RunCommand", {**base, **params})
    assert response.json()["Code"] == code
    assert not Invocation.objects.exists()


# --- StopInvocation --------------------------------------------------------------------------------------


def run(tenant, instance_ids, content="sleep 30"):
    return invocation_run_command(
        principal=tenant.principal, instance_ids=instance_ids, command_content=content
    )


def test_stop_invocation(rpc, tenant, region):
    a, b = make_instance(tenant, "a"), make_instance(tenant, "b")
    invocation = run(tenant, [a, b])
    InvocationResult.objects.filter(instance_id=a).update(status=st.RUNNING)
    body = ok(rpc.v3("StopInvocation", {"RegionId": region, "InvokeId": invocation.id}))
    assert set(body) == {"RequestId"}
    statuses = dict(InvocationResult.objects.values_list("instance_id", "status"))
    assert statuses == {a: st.STOPPING, b: st.CANCELLED}
    ok(rpc.v1("StopInvocation", {"RegionId": region, "InvokeId": invocation.id}))  # again: harmless


def test_stop_some_instances(rpc, tenant, region):
    a, b = make_instance(tenant, "a"), make_instance(tenant, "b")
    invocation = run(tenant, [a, b])
    ok(rpc.v1("StopInvocation", {"RegionId": region, "InvokeId": invocation.id, "InstanceId.1": b}))
    assert dict(InvocationResult.objects.values_list("instance_id", "status")) == {
        a: st.PENDING,
        b: st.CANCELLED,
    }


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"InvokeId": None}, 400, "MissingParameter.InvokeId"),
        ({"InvokeId": "t-nope"}, 404, "InvalidInvokeId.NotFound"),
        ({"RegionId": "elsewhere"}, 404, "InvalidInvokeId.NotFound"),
        ({"InstanceId.1": "mi-other"}, 404, "InvalidInstance.NotFound"),
    ],
)
def test_stop_invocation_refusals(rpc, tenant, region, instance_id, change, status, code):
    invocation = run(tenant, [instance_id])
    params = {"RegionId": region, "InvokeId": invocation.id, **change}
    response = rpc.v3("StopInvocation", {k: v for k, v in params.items() if v is not None})
    assert (response.status_code, response.json()["Code"]) == (status, code)
    assert InvocationResult.objects.get().status == st.PENDING


def test_another_accounts_invocation_is_not_found(rpc, other_tenant, region):
    theirs = run(other_tenant, [make_instance(other_tenant)])
    response = rpc.v3("StopInvocation", {"RegionId": region, "InvokeId": theirs.id})
    assert (response.status_code, response.json()["Code"]) == (404, "InvalidInvokeId.NotFound")


# --- DescribeInvocations ---------------------------------------------------------------------------------

INVOCATION_KEYS = {
    "CommandContent", "CommandDescription", "CommandId", "CommandName", "CommandType", "ContainerId",
    "ContainerName", "CreationTime", "Frequency", "InvocationStatus", "InvokeId", "InvokeInstances",
    "InvokeStatus", "Launcher", "OssOutputDelivery", "Parameters", "RepeatMode", "Tags", "TerminationMode",
    "Timed", "Timeout", "Username", "WorkingDir",
    "MaxConcurrency", "MaxErrors",  # rate control, this server's extra fields (docs/api.md)
}  # fmt: skip
INSTANCE_KEYS = {
    "CreationTime", "Dropped", "ErrorCode", "ErrorInfo", "ExitCode", "FinishTime", "InstanceId",
    "InstanceInvokeStatus", "InvocationStatus", "OssOutputErrorCode", "OssOutputErrorInfo", "OssOutputStatus",
    "OssOutputUri", "Output", "Repeats", "StartTime", "StopTime", "Timed", "UpdateTime",
}  # fmt: skip


def describe(rpc, region, **params):
    return ok(rpc.v3("DescribeInvocations", {"RegionId": region, **params}))


def finish(result, status="Success", exit_code=0, output=b""):
    if output:
        reports.result_record_output(instance_id=result.instance_id, task_id=result.id, seq=1, data=output)
    reports.result_record_final(
        instance_id=result.instance_id, task_id=result.id, status=status, exit_code=exit_code, error_code="",
        error_info="", started_at=1_700_000_000.0, finished_at=1_700_000_002.0, last_seq=1 if output else 0,
    )  # fmt: skip


def test_describe_invocations_shape(rpc, tenant, region):
    a, b = make_instance(tenant, "a"), make_instance(tenant, "b")
    invocation = invocation_run_command(
        principal=tenant.principal, instance_ids=[a, b], command_content="echo {{x}}", enable_parameter=True,
        parameters={"x": "中"}, name="n", description="d", working_dir="/w", timeout=30,
    )  # fmt: skip
    results = {r.instance_id: r for r in invocation.results.all()}
    finish(results[a], output=b"out\n")
    finish(results[b], status="Failed", exit_code=3)
    body = describe(rpc, region)
    assert set(body) == {"RequestId", "Invocations", "PageNumber", "PageSize", "TotalCount"}
    [row] = body["Invocations"]["Invocation"]
    assert set(row) == INVOCATION_KEYS
    assert base64.b64decode(row["CommandContent"]) == b"echo {{x}}"
    assert json.loads(row["Parameters"]) == {"x": "中"}
    assert (row["InvokeId"], row["CommandId"], row["CommandName"], row["CommandDescription"]) == (
        invocation.id, invocation.command_id, "n", "d")  # fmt: skip
    assert (row["InvocationStatus"], row["InvokeStatus"], row["RepeatMode"], row["Timed"]) == (
        "PartialFailed", "PartialFailed", "Once", False)  # fmt: skip
    assert (row["Timeout"], row["WorkingDir"], row["Username"], row["Frequency"]) == (30, "/w", "root", "")
    assert row["Tags"] == {"Tag": []}
    instances = row["InvokeInstances"]["InvokeInstance"]
    assert [i["InstanceId"] for i in instances] == sorted([a, b])
    by_id = {i["InstanceId"]: i for i in instances}
    assert set(by_id[a]) == INSTANCE_KEYS
    assert (by_id[a]["InvocationStatus"], by_id[a]["ExitCode"], by_id[a]["InstanceInvokeStatus"]) == (
        "Success", 0, "Finished")  # fmt: skip
    assert (by_id[b]["InvocationStatus"], by_id[b]["ErrorCode"], by_id[b]["ExitCode"]) == (
        "Failed", "ExitCodeNonzero", 3)  # fmt: skip
    assert (
        by_id[a]["FinishTime"] == "2023-11-14T22:13:22Z" and by_id[a]["StartTime"] == "2023-11-14T22:13:20Z"
    )
    assert (by_id[a]["Output"], by_id[a]["Dropped"], by_id[a]["StopTime"]) == ("", 0, "")


def test_include_output(rpc, tenant, region, instance_id):
    invocation = run(tenant, [instance_id], "echo")
    finish(invocation.results.get(), output=b"hello\n")
    row = describe(rpc, region, InvokeId=invocation.id, IncludeOutput="true")["Invocations"]["Invocation"][0]
    assert base64.b64decode(row["InvokeInstances"]["InvokeInstance"][0]["Output"]) == b"hello\n"
    plain = describe(rpc, region, InstanceId=instance_id, IncludeOutput="true", ContentEncoding="PlainText")
    [row] = plain["Invocations"]["Invocation"]
    assert (row["CommandContent"], row["InvokeInstances"]["InvokeInstance"][0]["Output"]) == (
        "echo",
        "hello\n",
    )
    refused = rpc.v3("DescribeInvocations", {"RegionId": region, "IncludeOutput": "true"})
    assert (refused.status_code, refused.json()["Code"]) == (400, "InvalidParameter.IncludeOutput")


def test_describe_invocations_filters(rpc, tenant, region):
    a, b = make_instance(tenant, "a"), make_instance(tenant, "b")
    command = saved(tenant, enable_parameter=False, command_type="RunShellScript")
    done = run(tenant, [a])
    finish(done.results.get())
    mixed = run(tenant, [a, b])
    for result in mixed.results.all():
        finish(result, status="Success" if result.instance_id == a else "Failed", exit_code=0)
    pending = invocation_run_command(principal=tenant.principal, instance_ids=[b], command_content="x",
                                     name="named")  # fmt: skip
    from console.invocations.services import invocation_invoke_command, invocation_stop

    invoked = invocation_invoke_command(principal=tenant.principal, command_id=command.id, instance_ids=[b])
    invocation_stop(principal=tenant.principal, invocation_id=invoked.id)

    def ids(**params):
        return [row["InvokeId"] for row in describe(rpc, region, **params)["Invocations"]["Invocation"]]

    assert ids() == [invoked.id, pending.id, mixed.id, done.id]
    assert ids(InvokeId=mixed.id) == [mixed.id]
    assert ids(CommandId=command.id) == [invoked.id]
    assert ids(CommandName="named") == [pending.id]
    assert ids(CommandType="RunBatScript") == []
    assert ids(InstanceId=a) == [mixed.id, done.id]
    assert ids(InvokeStatus="Success") == [done.id]
    assert ids(InvokeStatus="finished") == [done.id]
    assert ids(InvokeStatus="PartialFailed") == [mixed.id]
    assert ids(InvokeStatus="Pending") == [pending.id]
    assert ids(InvokeStatus="Stopped") == [invoked.id]
    assert ids(InvokeStatus="Running") == []
    assert ids(RepeatMode="Once") == [invoked.id, pending.id, mixed.id, done.id]
    assert ids(RepeatMode="Period") == []
    assert ids(Timed="true") == []
    assert ids(Timed="false") == [invoked.id, pending.id, mixed.id, done.id]
    [row] = describe(rpc, region, InstanceId=a, InvokeId=mixed.id)["Invocations"]["Invocation"]
    assert [i["InstanceId"] for i in row["InvokeInstances"]["InvokeInstance"]] == [a]
    assert row["InvocationStatus"] == "PartialFailed"  # the task's status, over all its instances
    bad = rpc.v3("DescribeInvocations", {"RegionId": region, "InvokeStatus": "Weird"})
    assert (bad.status_code, bad.json()["Code"]) == (400, "InvalidParameter.InvokeStatus")


def test_describe_invocations_paging_and_isolation(rpc, tenant, other_tenant, region, instance_id):
    made = [run(tenant, [instance_id]).id for _ in range(5)]
    run(other_tenant, [make_instance(other_tenant)])
    page = describe(rpc, region, PageNumber="2", PageSize="2")
    assert [r["InvokeId"] for r in page["Invocations"]["Invocation"]] == made[::-1][2:4]
    assert page["TotalCount"] == 5
    seen, token = [], ""
    while True:
        page = describe(rpc, region, MaxResults="3", **({"NextToken": token} if token else {}))
        seen += [r["InvokeId"] for r in page["Invocations"]["Invocation"]]
        token = page["NextToken"]
        if not token:
            break
    assert seen == made[::-1]
    assert describe(rpc, "elsewhere")["Invocations"]["Invocation"] == []


def test_describe_invocations_query_count_does_not_grow(rpc, tenant, region):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    instances = [make_instance(tenant, f"h{n}") for n in range(3)]
    describe(rpc, region)  # the first request of a process also prunes old nonces
    counts = []
    for total in (1, 8):
        while Invocation.objects.count() < total:
            run(tenant, instances)
        with CaptureQueriesContext(connection) as queries:
            body = describe(rpc, region, PageSize="8", InstanceId=instances[0], IncludeOutput="true")
        assert len(body["Invocations"]["Invocation"]) == total
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_timed_filter_separates_live_schedules(rpc, tenant, region, instance_id):
    once = run(tenant, [instance_id])
    periodic = run(tenant, [instance_id])
    Invocation.objects.filter(pk=periodic.id).update(repeat_mode="Period", frequency="rate(5m)")
    InvocationResult.objects.filter(invocation_id=periodic.id).update(status=st.SCHEDULED)

    def ids(**params):
        return [row["InvokeId"] for row in describe(rpc, region, **params)["Invocations"]["Invocation"]]

    assert ids(Timed="true") == [periodic.id]
    assert ids(Timed="false") == [once.id]
    assert ids() == [periodic.id, once.id]
    [row] = describe(rpc, region, InvokeId=periodic.id)["Invocations"]["Invocation"]
    assert (row["Timed"], row["InvocationStatus"], row["Frequency"]) == (True, "Scheduled", "rate(5m)")
    InvocationResult.objects.filter(invocation_id=periodic.id).update(status=st.CANCELLED)
    assert ids(Timed="false") == [periodic.id, once.id]
