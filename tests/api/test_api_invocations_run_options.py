"""RunCommand and InvokeCommand's run options through signed requests: stored, answered by the Describe
operations, and refused with the parameter to fix (TerminationMode, ContainerId/ContainerName, RepeatMode
NextRebootOnly/EveryReboot, MaxConcurrency, MaxErrors)."""

import pytest

from console.commands.services import command_create
from console.fleet.models import Instance
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult
from tests.api.conftest import make_instance

pytestmark = pytest.mark.django_db

CONTAINER = "docker://" + "ab" * 32


def run(rpc, region, instance_ids, **extra):
    params = {"RegionId": region, "Type": "RunShellScript", "CommandContent": "echo hi"}
    params.update({f"InstanceId.{n}": i for n, i in enumerate(instance_ids, start=1)})
    params.update(extra)
    return rpc.v3("RunCommand", params)


def ok(response):
    assert response.status_code == 200, response.content
    return response.json()


def test_run_options_are_stored_and_described(rpc, tenant, region):
    a, b = make_instance(tenant, "a"), make_instance(tenant, "b")
    body = ok(
        run(
            rpc,
            region,
            [a, b],
            TerminationMode="processtree",
            ContainerId=CONTAINER,
            ContainerName="web",
            MaxConcurrency="50%",
            MaxErrors="0",
        )
    )
    invocation = Invocation.objects.get(pk=body["InvokeId"])
    assert (invocation.termination_mode, invocation.container_id, invocation.container_name) == (
        "ProcessTree",
        CONTAINER,
        "web",
    )
    assert (invocation.max_concurrency, invocation.max_errors) == ("50%", "0")
    described = ok(rpc.v3("DescribeInvocations", {"RegionId": region, "InvokeId": invocation.id}))
    row = described["Invocations"]["Invocation"][0]
    assert (row["TerminationMode"], row["ContainerId"], row["ContainerName"]) == (
        "ProcessTree",
        CONTAINER,
        "web",
    )
    assert (row["MaxConcurrency"], row["MaxErrors"], row["RepeatMode"]) == ("50%", "0", "Once")
    results = ok(rpc.v3("DescribeInvocationResults", {"RegionId": region, "InvokeId": invocation.id}))
    records = results["Invocation"]["InvocationResults"]["InvocationResult"]
    assert {(r["TerminationMode"], r["ContainerId"], r["ContainerName"]) for r in records} == {
        ("ProcessTree", CONTAINER, "web")
    }


def test_defaults_kill_the_whole_tree_and_set_no_limit(rpc, tenant, region, instance_id):
    body = ok(run(rpc, region, [instance_id]))
    row = ok(rpc.v3("DescribeInvocations", {"RegionId": region, "InvokeId": body["InvokeId"]}))[
        "Invocations"
    ]["Invocation"][0]
    assert (row["TerminationMode"], row["ContainerId"], row["ContainerName"]) == ("ProcessTree", "", "")
    assert (row["MaxConcurrency"], row["MaxErrors"]) == ("", "")


@pytest.mark.parametrize("mode", ["NextRebootOnly", "EveryReboot", "everyreboot"])
def test_reboot_tasks_are_armed_with_the_current_boot(rpc, tenant, region, mode):
    instance_id = make_instance(tenant, "a")
    Instance.objects.filter(pk=instance_id).update(boot_id="boot-1")
    body = ok(run(rpc, region, [instance_id], RepeatMode=mode))
    invocation = Invocation.objects.get(pk=body["InvokeId"])
    assert invocation.repeat_mode.lower() == mode.lower()
    [result] = InvocationResult.objects.filter(invocation=invocation)
    # Waiting for the next boot is shown as Scheduled, like a periodic task between runs.
    assert (result.status, result.boot_id, result.queued) == (st.SCHEDULED, "boot-1", False)
    row = ok(rpc.v3("DescribeInvocations", {"RegionId": region, "InvokeId": invocation.id}))["Invocations"][
        "Invocation"
    ][0]
    assert (row["InvocationStatus"], row["InvokeStatus"], row["Timed"]) == ("Scheduled", "Running", True)


def test_max_concurrency_queues_all_but_the_first(rpc, tenant, region):
    ids = [make_instance(tenant, name) for name in ("a", "b", "c")]
    body = ok(run(rpc, region, ids, MaxConcurrency="1"))
    results = InvocationResult.objects.filter(invocation_id=body["InvokeId"]).order_by("instance_id")
    assert [r.status for r in results] == [st.PENDING] * 3
    assert sorted(r.queued for r in results) == [False, True, True]


def test_invoke_command_takes_the_same_options(rpc, tenant, region, instance_id):
    command = command_create(principal=tenant.principal, name="c", command_content="echo hi")
    body = ok(
        rpc.v3(
            "InvokeCommand",
            {
                "RegionId": region,
                "CommandId": command.id,
                "InstanceId.1": instance_id,
                "RepeatMode": "NextRebootOnly",
                "TerminationMode": "ProcessTree",
                "ContainerName": "db",
                "MaxConcurrency": "2",
                "MaxErrors": "10%",
            },
        )
    )
    invocation = Invocation.objects.get(pk=body["InvokeId"])
    assert (invocation.repeat_mode, invocation.termination_mode, invocation.container_name) == (
        "NextRebootOnly",
        "ProcessTree",
        "db",
    )
    assert (invocation.max_concurrency, invocation.max_errors) == ("2", "10%")


REFUSALS = [
    pytest.param({"TerminationMode": "Kill"}, 400, "InvalidParameter.TerminationMode", id="termination"),
    pytest.param({"ContainerId": "docker://abc"}, 400, "InvalidParameter.ContainerId", id="short-id"),
    pytest.param({"ContainerName": "a b"}, 400, "InvalidParameter.ContainerName", id="bad-name"),
    pytest.param(
        {"ContainerName": "web", "Type": "RunPowerShellScript"},
        400,
        "InvalidParameter.ContainerName",
        id="container-not-shell",
    ),
    pytest.param({"MaxConcurrency": "0"}, 400, "InvalidParameter.MaxConcurrency", id="concurrency-zero"),
    pytest.param({"MaxConcurrency": "150%"}, 400, "InvalidParameter.MaxConcurrency", id="concurrency-pct"),
    pytest.param({"MaxErrors": "-1"}, 400, "InvalidParameter.MaxErrors", id="errors-negative"),
    pytest.param({"MaxErrors": "x%"}, 400, "InvalidParameter.MaxErrors", id="errors-text"),
    pytest.param(
        {"Launcher": "python3 {{ACS::ScriptFileName|Ext(py)}}"},
        400,
        "InvalidParameter.Launcher",
        id="launcher",
    ),
    pytest.param({"RepeatMode": "Period"}, 403, "MissingParam.Frequency", id="period-no-frequency"),
]


@pytest.mark.parametrize(("change", "status", "code"), REFUSALS)
def test_refusals_create_nothing(rpc, tenant, region, instance_id, change, status, code):
    response = run(rpc, region, [instance_id], **change)
    assert (response.status_code, response.json()["Code"]) == (status, code), response.content
    assert not Invocation.objects.exists()


def modify(rpc, region, invoke_id, **params):
    return rpc.v3("ModifyInvocationAttribute", {"RegionId": region, "InvokeId": invoke_id, **params})


def test_modify_a_reboot_task(rpc, tenant, region):
    a, b = make_instance(tenant, "a"), make_instance(tenant, "b")
    Instance.objects.filter(pk=b).update(boot_id="boot-b")
    body = ok(run(rpc, region, [a], RepeatMode="EveryReboot"))
    invoke_id = body["InvokeId"]
    # Frequency belongs to Period tasks only.
    refused = modify(rpc, region, invoke_id, Frequency="rate(5m)")
    assert (refused.status_code, refused.json()["Code"]) == (400, "InvalidParameter.Frequency")
    changed = ok(modify(rpc, region, invoke_id, CommandContent="echo changed", **{"InstanceId.1": b}))
    assert changed["CommandId"] != body["CommandId"]
    invocation = Invocation.objects.get(pk=invoke_id)
    assert invocation.command_content == "echo changed"
    added = InvocationResult.objects.get(invocation=invocation, instance_id=b)
    assert (added.status, added.boot_id) == (st.SCHEDULED, "boot-b")
    # Once stopped it has ended: no more changes.
    ok(rpc.v3("StopInvocation", {"RegionId": region, "InvokeId": invoke_id}))
    assert set(InvocationResult.objects.filter(invocation=invocation).values_list("status", flat=True)) == {
        st.CANCELLED
    }
    ended = modify(rpc, region, invoke_id, CommandContent="echo again")
    assert (ended.status_code, ended.json()["Code"]) == (403, "InvalidOperation.InvocationStatus")


def test_modify_a_once_task_is_refused(rpc, tenant, region, instance_id):
    body = ok(run(rpc, region, [instance_id]))
    refused = modify(rpc, region, body["InvokeId"], CommandContent="echo x")
    assert (refused.status_code, refused.json()["Code"]) == (403, "InvalidOperation.RepeatMode")
