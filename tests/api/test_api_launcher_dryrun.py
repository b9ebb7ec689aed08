"""Launcher and RepeatMode=DryRun through signed API requests: saved with commands and invocations, returned
by the Describe* actions, overridden by InvokeCommand, checked (1 KB, placeholder syntax), and sent to the
agent in the task.run frame."""

import base64

import pytest
from assist_agent import protocol

from console.commands.models import Command
from console.commands.services import command_clone
from console.invocations import status as st
from console.invocations.delivery import task_run_frame
from console.invocations.models import Invocation, InvocationResult

pytestmark = pytest.mark.django_db

PY = "python3 -u {{ACS::ScriptFileName|Ext(.py)}}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def call(rpc, action: str, params: dict[str, str], status: int = 200) -> dict:
    response = rpc.v3(action, params)
    assert response.status_code == status, response.content
    return response.json()


def create(rpc, region, **extra: str) -> str:
    params = {
        "RegionId": region,
        "Name": "py",
        "Type": "RunShellScript",
        "CommandContent": b64("print(1)"),
        **extra,
    }
    return call(rpc, "CreateCommand", params)["CommandId"]


def described_command(rpc, region, command_id: str) -> dict:
    body = call(rpc, "DescribeCommands", {"RegionId": region, "CommandId": command_id})
    [row] = body["Commands"]["Command"]
    return row


def described_invocation(rpc, region, invoke_id: str) -> dict:
    body = call(rpc, "DescribeInvocations", {"RegionId": region, "InvokeId": invoke_id})
    [row] = body["Invocations"]["Invocation"]
    return row


def described_result(rpc, region, invoke_id: str) -> dict:
    body = call(rpc, "DescribeInvocationResults", {"RegionId": region, "InvokeId": invoke_id})
    [row] = body["Invocation"]["InvocationResults"]["InvocationResult"]
    return row


def frame_of(invoke_id: str) -> protocol.TaskRun:
    return task_run_frame(InvocationResult.objects.select_related("invocation").get(invocation_id=invoke_id))


def test_create_modify_describe_and_clone_keep_the_launcher(rpc, tenant, region):
    command_id = create(rpc, region, Launcher=f"  {PY} ")
    assert Command.objects.get(pk=command_id).launcher == PY  # stored without the surrounding spaces
    assert described_command(rpc, region, command_id)["Launcher"] == PY

    call(rpc, "ModifyCommand", {"RegionId": region, "CommandId": command_id, "Name": "renamed"})
    assert described_command(rpc, region, command_id)["Launcher"] == PY  # absent: kept
    call(rpc, "ModifyCommand", {"RegionId": region, "CommandId": command_id, "Launcher": "perl -w"})
    assert described_command(rpc, region, command_id)["Launcher"] == "perl -w"

    clone = command_clone(principal=tenant.principal, command_id=command_id, region=region, name="copy")
    assert clone.launcher == "perl -w"

    call(rpc, "ModifyCommand", {"RegionId": region, "CommandId": command_id, "Launcher": ""})
    assert described_command(rpc, region, command_id)["Launcher"] == ""  # empty: cleared


@pytest.mark.parametrize(
    ("launcher", "status", "message"),
    [
        ("x" * 1024, 200, ""),
        ("x" * 1025, 400, "1025 bytes; at most 1024 bytes"),
        ("é" * 513, 400, "1026 bytes"),  # UTF-8 bytes, not characters
        ("python3 {{ACS::ScriptFileName|Ext(py)}}", 400, "bad extension 'py'"),
        ("python3 {{ACS::ScriptFileName|Gzip(.py)}}", 400, "unknown function |Gzip(...)"),
        ("python3 {{ACS::ScriptPath}}", 400, "unknown placeholder {{ACS::ScriptPath}}"),
    ],
)
@pytest.mark.parametrize("action", ["CreateCommand", "ModifyCommand", "RunCommand", "InvokeCommand"])
def test_launcher_limits(rpc, region, instance_id, action, launcher, status, message):
    saved = create(rpc, region)
    params = {
        "CreateCommand": {
            "RegionId": region,
            "Name": "n",
            "Type": "RunShellScript",
            "CommandContent": b64("x"),
        },
        "ModifyCommand": {"RegionId": region, "CommandId": saved},
        "RunCommand": {
            "RegionId": region,
            "Type": "RunShellScript",
            "CommandContent": "x",
            "InstanceId.1": instance_id,
        },
        "InvokeCommand": {"RegionId": region, "CommandId": saved, "InstanceId.1": instance_id},
    }[action]
    body = call(rpc, action, {**params, "Launcher": launcher}, status)
    if status == 200:
        return
    assert body["Code"] == "InvalidParameter.Launcher"
    assert message in body["Message"] and '"Launcher" is not valid' in body["Message"]
    assert Command.objects.count() == 1 and not Invocation.objects.exists()
    assert Command.objects.get().launcher == ""


def test_run_command_sends_and_returns_the_launcher(rpc, region, instance_id):
    body = call(
        rpc,
        "RunCommand",
        {
            "RegionId": region,
            "Type": "RunShellScript",
            "CommandContent": "print(3)",
            "InstanceId.1": instance_id,
            "Launcher": PY,
            "KeepCommand": "true",
        },
    )
    invoke_id = body["InvokeId"]
    assert described_invocation(rpc, region, invoke_id)["Launcher"] == PY
    assert described_result(rpc, region, invoke_id)["Launcher"] == PY
    assert described_command(rpc, region, body["CommandId"])["Launcher"] == PY  # KeepCommand keeps it
    frame = frame_of(invoke_id)
    assert (frame.launcher, frame.dry_run) == (PY, False)
    assert '"launcher":' in protocol.encode(frame)


def test_invoke_command_uses_the_commands_launcher_unless_given_one(rpc, region, instance_id):
    command_id = create(rpc, region, Launcher=PY)
    invoked = call(
        rpc, "InvokeCommand", {"RegionId": region, "CommandId": command_id, "InstanceId.1": instance_id}
    )
    assert described_invocation(rpc, region, invoked["InvokeId"])["Launcher"] == PY
    assert frame_of(invoked["InvokeId"]).launcher == PY

    override = "python3 {{ACS::ScriptFileName|Ext(.py3)}}"
    invoked = call(
        rpc,
        "InvokeCommand",
        {"RegionId": region, "CommandId": command_id, "InstanceId.1": instance_id, "Launcher": override},
    )
    assert described_invocation(rpc, region, invoked["InvokeId"])["Launcher"] == override
    assert frame_of(invoked["InvokeId"]).launcher == override
    assert Command.objects.get(pk=command_id).launcher == PY  # for this run only


def test_a_launcher_does_not_go_with_a_container(rpc, region, instance_id):
    body = call(
        rpc,
        "RunCommand",
        {
            "RegionId": region,
            "Type": "RunShellScript",
            "CommandContent": "x",
            "InstanceId.1": instance_id,
            "Launcher": PY,
            "ContainerName": "web",
        },
        400,
    )
    assert body["Code"] == "InvalidParameter.Launcher" and "ContainerId or ContainerName" in body["Message"]
    assert not Invocation.objects.exists()


def test_without_a_launcher_the_frame_has_none(rpc, region, instance_id):
    body = call(
        rpc,
        "RunCommand",
        {"RegionId": region, "Type": "RunShellScript", "CommandContent": "echo", "InstanceId.1": instance_id},
    )
    assert described_invocation(rpc, region, body["InvokeId"])["Launcher"] == ""
    encoded = protocol.encode(frame_of(body["InvokeId"]))
    assert "launcher" not in encoded and "dry_run" not in encoded  # an older agent still takes it


# --- DryRun ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["RunCommand", "InvokeCommand"])
def test_dry_run_is_accepted_returned_and_flagged_to_the_agent(rpc, region, instance_id, action):
    params = (
        {"Type": "RunShellScript", "CommandContent": "touch /tmp/x"}
        if action == "RunCommand"
        else {"CommandId": create(rpc, region)}
    )
    body = call(
        rpc, action, {"RegionId": region, "InstanceId.1": instance_id, "RepeatMode": "dryrun", **params}
    )
    invoke_id = body["InvokeId"]
    row = described_invocation(rpc, region, invoke_id)
    assert row["RepeatMode"] == "DryRun"  # the original's spelling
    assert row["Timed"] is False and row["InvokeInstances"]["InvokeInstance"][0]["Timed"] is False
    assert row["InvokeStatus"] == "Running"  # Pending: not yet answered
    result = InvocationResult.objects.get(invocation_id=invoke_id)
    assert result.status == st.PENDING  # delivered at once, like a one-time run
    assert frame_of(invoke_id).dry_run is True

    listed = call(rpc, "DescribeInvocations", {"RegionId": region, "RepeatMode": "DryRun"})
    assert [r["InvokeId"] for r in listed["Invocations"]["Invocation"]] == [invoke_id]
    once = call(rpc, "DescribeInvocations", {"RegionId": region, "RepeatMode": "Once"})
    assert once["Invocations"]["Invocation"] == []
    timed = call(rpc, "DescribeInvocations", {"RegionId": region, "Timed": "true"})
    assert timed["Invocations"]["Invocation"] == []


def test_a_dry_run_still_checks_the_parameters(rpc, region, instance_id):
    body = call(
        rpc,
        "RunCommand",
        {
            "RegionId": region,
            "Type": "RunShellScript",
            "CommandContent": "x",
            "InstanceId.1": "mi-nope",
            "RepeatMode": "DryRun",
        },
        404,
    )
    assert body["Code"] == "InvalidInstance.NotFound"
    body = call(
        rpc,
        "RunCommand",
        {
            "RegionId": region,
            "Type": "RunShellScript",
            "CommandContent": "x",
            "InstanceId.1": instance_id,
            "RepeatMode": "DryRun",
            "Timeout": "-5",
        },
        400,
    )
    assert body["Code"] == "InvalidParameter.Timeout"
    assert not Invocation.objects.exists()


def test_rerun_on_failed_keeps_the_launcher_and_the_dry_run(tenant, region, instance_id):
    from console.invocations.services import invocation_run_command
    from console.web.rerun import invocation_rerun_failed

    for repeat_mode in ("", "DryRun"):
        first = invocation_run_command(
            principal=tenant.principal,
            instance_ids=[instance_id],
            command_content="print(1)",
            region=region,
            launcher=PY,
            repeat_mode=repeat_mode,
        )
        InvocationResult.objects.filter(invocation=first).update(status=st.FAILED)
        again = invocation_rerun_failed(principal=tenant.principal, invocation=first)
        assert (again.launcher, again.repeat_mode) == (PY, repeat_mode or "Once")
        assert frame_of(again.id).dry_run is bool(repeat_mode)
