"""Periodic tasks (RepeatMode=Period): creation, the scheduler driven with an explicit clock, executions
(a new task id per run, own status, output and run number), StopInvocation, ModifyInvocationAttribute and
the API's IncludeHistory. The agent's reports go through the same service the gateway uses."""

import base64
from datetime import timedelta

import pytest

from console.commands import services as cmd_services
from console.commands.models import Command
from console.errors import ServiceError
from console.invocations import reports, services
from console.invocations import status as st
from console.invocations.delivery import task_run_frame
from console.invocations.models import Invocation, InvocationResult
from console.invocations.selectors import with_overall_status
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db


def periodic(principal, instances, frequency="rate(5m)", **options):
    return services.invocation_run_command(
        principal=principal,
        instance_ids=[i.id for i in instances],
        command_content=options.pop("content", "echo tick"),
        frequency=frequency,
        timeout=options.pop("timeout", 30),
        **options,
    )


def latest(invocation, instance=None):
    rows = InvocationResult.objects.filter(invocation=invocation, latest=True)
    return rows.get(instance=instance) if instance is not None else rows.get()


def overall(invocation):
    return with_overall_status(Invocation.objects.filter(pk=invocation.pk)).get().overall


def agent_runs(result, *, status=st.SUCCESS, exit_code=0, output=b"tick\n"):
    """What the agent reports for one task: started, one output chunk, the final state."""
    stamp = result.created_at.timestamp()
    reports.result_record_started(instance_id=result.instance_id, task_id=result.id, started_at=stamp)
    reports.result_record_output(instance_id=result.instance_id, task_id=result.id, seq=1, data=output)
    missing = reports.result_record_final(
        instance_id=result.instance_id, task_id=result.id, status=status, exit_code=exit_code,
        error_code="", error_info="", started_at=stamp, finished_at=stamp + 1, last_seq=1,
    )  # fmt: skip
    assert missing == []


def test_a_rate_task_waits_then_runs_each_interval_as_a_new_execution(root_principal):
    instance = make_instance(root_principal)
    invocation = periodic(root_principal, [instance])
    created = invocation.created_at
    assert (invocation.repeat_mode, invocation.frequency) == ("Period", "rate(5m)")
    assert invocation.next_run_at == created + timedelta(minutes=5)  # first run one interval after creation
    waiting = latest(invocation)
    assert (waiting.status, waiting.repeats, overall(invocation)) == (st.SCHEDULED, 0, st.SCHEDULED)

    assert services.executions_start_due(now=created + timedelta(minutes=4, seconds=59)) == 0
    assert services.executions_start_due(now=created + timedelta(minutes=5)) == 1
    first = latest(invocation)
    assert (first.id, first.status, first.repeats) == (waiting.id, st.PENDING, 1)
    assert task_run_frame(first).task_id == first.id
    invocation.refresh_from_db()
    assert invocation.next_run_at == created + timedelta(minutes=10)
    assert overall(invocation) == st.PENDING

    agent_runs(first, output=b"run 1\n")
    between = latest(invocation)
    assert between.id != first.id  # the next run will be a new task for the agent
    assert (between.status, between.repeats, overall(invocation)) == (st.SCHEDULED, 1, st.SCHEDULED)
    first.refresh_from_db()
    assert (first.status, first.latest, first.repeats) == (st.SUCCESS, False, 1)

    assert services.executions_start_due(now=created + timedelta(minutes=10, seconds=1)) == 1
    second = latest(invocation)
    assert (second.id, second.status, second.repeats) == (between.id, st.PENDING, 2)
    agent_runs(second, status=st.FAILED, exit_code=3, output=b"run 2\n")
    history = InvocationResult.objects.filter(invocation=invocation).order_by("repeats", "latest")
    assert [(r.repeats, r.status, r.latest) for r in history] == [
        (1, st.SUCCESS, False), (2, st.FAILED, False), (2, st.SCHEDULED, True),
    ]  # fmt: skip
    assert latest(invocation).error_code == ""  # a failed run does not end the schedule
    assert overall(invocation) == st.SCHEDULED


def test_runs_missed_while_down_are_not_caught_up_one_by_one(root_principal):
    invocation = periodic(root_principal, [make_instance(root_principal)])
    created = invocation.created_at
    assert services.executions_start_due(now=created + timedelta(minutes=23)) == 1
    invocation.refresh_from_db()
    assert invocation.next_run_at == created + timedelta(minutes=25)  # the grid counts from creation


def test_an_instance_still_running_skips_a_run(root_principal):
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    invocation = periodic(root_principal, [a, b])
    created = invocation.created_at
    services.executions_start_due(now=created + timedelta(minutes=5))
    agent_runs(latest(invocation, a))
    slow = latest(invocation, b)
    reports.result_record_started(instance_id=b.id, task_id=slow.id, started_at=created.timestamp())
    assert services.executions_start_due(now=created + timedelta(minutes=10)) == 1  # only a
    assert latest(invocation, b).id == slow.id
    assert (latest(invocation, a).repeats, latest(invocation, b).repeats) == (2, 1)
    assert overall(invocation) == st.PENDING  # a is Pending again, b still Running


def test_an_at_task_runs_once_and_then_reports_the_run(root_principal):
    instance = make_instance(root_principal)
    invocation = periodic(root_principal, [instance], frequency="at(2099-01-01 00:00:00 UTC)")
    at = invocation.next_run_at
    assert at.isoformat() == "2099-01-01T00:00:00+00:00"
    assert services.executions_start_due(now=at) == 1
    invocation.refresh_from_db()
    assert invocation.next_run_at is None
    agent_runs(latest(invocation))
    assert (latest(invocation).status, overall(invocation)) == (st.SUCCESS, st.SUCCESS)  # schedule ended
    assert InvocationResult.objects.filter(invocation=invocation).count() == 1


def test_an_undelivered_execution_ends_aborted_and_the_schedule_goes_on(root_principal, settings):
    invocation = periodic(root_principal, [make_instance(root_principal)])
    created = invocation.created_at
    services.executions_start_due(now=created + timedelta(minutes=5))
    late = created + timedelta(minutes=5, seconds=settings.ASSIST_DELIVERY_TIMEOUT + 1)
    assert services.results_abort_undelivered(now=late) == 1  # and rolled over at once
    assert services.executions_roll_over_finished(now=late) == 0  # nothing left for the sweep
    assert (latest(invocation).status, latest(invocation).repeats) == (st.SCHEDULED, 1)
    aborted = InvocationResult.objects.get(invocation=invocation, latest=False)
    assert (aborted.status, aborted.error_code) == (st.ABORTED, "DeliveryTimeout")


def test_stop_ends_the_schedule_whether_waiting_or_running(root_principal):
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    invocation = periodic(root_principal, [a, b])
    created = invocation.created_at
    services.executions_start_due(now=created + timedelta(minutes=5))
    agent_runs(latest(invocation, a))  # a waits for the next run, b is running
    running = latest(invocation, b)
    reports.result_record_started(instance_id=b.id, task_id=running.id, started_at=created.timestamp())

    outcome = services.invocation_stop(principal=root_principal, invocation_id=invocation.id)
    assert (outcome.cancelled, outcome.stopping) == ([latest(invocation, a).id], [running.id])
    invocation.refresh_from_db()
    assert invocation.next_run_at is None
    assert overall(invocation) == st.STOPPING
    reports.result_record_final(
        instance_id=b.id, task_id=running.id, status=st.TERMINATED, exit_code=None, error_code="",
        error_info="", started_at=None, finished_at=None, last_seq=0,
    )  # fmt: skip
    assert (latest(invocation, a).status, latest(invocation, b).status) == (st.CANCELLED, st.TERMINATED)
    assert overall(invocation) == "Stopped"
    assert services.executions_start_due(now=created + timedelta(minutes=10)) == 0


def test_stopping_some_instances_ends_only_their_schedule(root_principal):
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    invocation = periodic(root_principal, [a, b])
    created = invocation.created_at
    services.invocation_stop(principal=root_principal, invocation_id=invocation.id, instance_ids=[a.id])
    assert services.executions_start_due(now=created + timedelta(minutes=5)) == 1
    assert (latest(invocation, a).status, latest(invocation, b).status) == (st.CANCELLED, st.PENDING)
    services.invocation_stop(principal=root_principal, invocation_id=invocation.id, instance_ids=[b.id])
    assert services.executions_start_due(now=created + timedelta(minutes=10)) == 0
    invocation.refresh_from_db()
    assert invocation.next_run_at is None  # no instance left on the schedule: it ends


def test_modify_changes_frequency_content_and_adds_instances(root_principal):
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    invocation = periodic(root_principal, [a], content="echo {{who}}", enable_parameter=True,
                          parameters={"who": "one"}, keep_command=True, name="kept")  # fmt: skip
    created, old_command = invocation.created_at, invocation.command_id
    changed = services.invocation_modify(
        principal=root_principal,
        invocation_id=invocation.id,
        frequency="rate(7m)",
        command_content="echo again {{who}} {{ACS::InstanceName}}",
        parameters={"who": "two"},
        instance_ids=[b.id],
    )
    assert changed.command_id != old_command
    kept = Command.objects.get(pk=changed.command_id)  # the task ran a saved command: the new one is kept
    assert (kept.name, kept.content) == ("kept", "echo again {{who}} {{ACS::InstanceName}}")
    assert changed.next_run_at == created + timedelta(minutes=7)  # counted from the task's creation
    assert latest(invocation, b).status == st.SCHEDULED
    assert services.executions_start_due(now=created + timedelta(minutes=7)) == 2
    assert {task_run_frame(latest(invocation, i)).content for i in (a, b)} == {
        "echo again two a", "echo again two b",
    }  # fmt: skip


def test_modify_without_content_keeps_the_command_id(root_principal):
    invocation = periodic(root_principal, [make_instance(root_principal)])
    changed = services.invocation_modify(
        principal=root_principal, invocation_id=invocation.id, frequency="0 0 12 * * ? * Asia/Tokyo"
    )
    assert changed.command_id == invocation.command_id
    assert changed.frequency == "0 0 12 * * ? * Asia/Tokyo"
    assert changed.next_run_at.astimezone(changed.next_run_at.tzinfo).minute == 0
    assert not Command.objects.exists()  # RunCommand without KeepCommand: a new content is not kept either


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"frequency": "rate(10s)"}, "InvalidParam.Frequency"),
        ({"frequency": "at(2001-01-01 00:00:00)"}, "InvalidParam.Frequency"),
        ({"command_content": "x" * 30_000}, "CmdContent.ExceedLimit"),
    ],
)
def test_modify_refusals_change_nothing(root_principal, change, code):
    invocation = periodic(root_principal, [make_instance(root_principal)])
    with pytest.raises(ServiceError) as refused:
        services.invocation_modify(principal=root_principal, invocation_id=invocation.id, **change)
    assert refused.value.code == code
    stored = Invocation.objects.get(pk=invocation.pk)
    assert (stored.frequency, stored.command_content) == ("rate(5m)", "echo tick")


def test_modify_refuses_once_tasks_and_ended_schedules(root_principal):
    instance = make_instance(root_principal)
    once = services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="echo"
    )
    with pytest.raises(ServiceError) as refused:
        services.invocation_modify(principal=root_principal, invocation_id=once.id, command_content="x")
    assert (refused.value.code, refused.value.status) == ("InvalidOperation.RepeatMode", 403)
    stopped = periodic(root_principal, [instance])
    services.invocation_stop(principal=root_principal, invocation_id=stopped.id)
    with pytest.raises(ServiceError) as refused:
        services.invocation_modify(principal=root_principal, invocation_id=stopped.id, frequency="rate(9m)")
    assert (refused.value.code, refused.value.status) == ("InvalidOperation.InvocationStatus", 403)


def test_invoke_command_schedules_a_saved_command(root_principal):
    instance = make_instance(root_principal)
    command = cmd_services.command_create(
        principal=root_principal, name="c", command_content=base64.b64encode(b"uptime").decode(), timeout=20
    )
    invocation = services.invocation_invoke_command(
        principal=root_principal, command_id=command.id, instance_ids=[instance.id], frequency="rate(1h)"
    )
    assert (invocation.repeat_mode, latest(invocation).status) == ("Period", st.SCHEDULED)
    with pytest.raises(ServiceError) as refused:  # a rate must be longer than the timeout
        services.invocation_invoke_command(
            principal=root_principal, command_id=command.id, instance_ids=[instance.id],
            frequency="rate(60s)", timeout=60,
        )  # fmt: skip
    assert refused.value.code == "InvalidParam.Frequency"


# --- Through the API (signed requests, Django test client) --------------------------------------


def test_api_period_task_history_and_status(rpc, tenant, region, instance_id):
    answer = rpc.v1(
        "RunCommand",
        {"RegionId": region, "Type": "RunShellScript", "CommandContent": "echo hi",
         "InstanceId.1": instance_id, "RepeatMode": "Period", "Frequency": "rate(5m)", "Timeout": "30"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.content
    invoke_id = answer.json()["InvokeId"]
    invocation = Invocation.objects.get(pk=invoke_id)
    for minute, out in ((5, b"first\n"), (10, b"second\n")):
        services.executions_start_due(now=invocation.created_at + timedelta(minutes=minute))
        agent_runs(latest(invocation), output=out)

    def results(**extra):
        body = rpc.v1(
            "DescribeInvocationResults",
            {"RegionId": region, "InvokeId": invoke_id, "ContentEncoding": "PlainText", **extra},
        ).json()
        return body["Invocation"]["InvocationResults"]["InvocationResult"]

    [now] = results()
    assert (now["InvocationStatus"], now["Repeats"], now["Output"]) == ("Scheduled", 2, "")
    runs = results(IncludeHistory="true")
    assert [(r["Repeats"], r["InvocationStatus"], r["Output"]) for r in runs] == [
        (2, "Success", "second\n"),
        (1, "Success", "first\n"),
    ]  # newest first, like every DescribeInvocationResults answer
    [row] = rpc.v1("DescribeInvocations", {"RegionId": region, "InvokeId": invoke_id}).json()["Invocations"][
        "Invocation"
    ]
    shown = (row["InvocationStatus"], row["InvokeStatus"], row["Timed"], row["RepeatMode"], row["Frequency"])
    assert shown == ("Scheduled", "Running", True, "Period", "rate(5m)")
    [instance_row] = row["InvokeInstances"]["InvokeInstance"]
    assert (instance_row["InvocationStatus"], instance_row["Timed"], instance_row["Repeats"]) == (
        "Scheduled",
        True,
        2,
    )

    modified = rpc.v1(
        "ModifyInvocationAttribute", {"RegionId": region, "InvokeId": invoke_id, "CommandContent": "echo new"}
    )
    assert modified.status_code == 200, modified.content
    assert modified.json()["CommandId"] not in ("", invocation.command_id)
    assert rpc.v1("StopInvocation", {"RegionId": region, "InvokeId": invoke_id}).status_code == 200
    [row] = rpc.v1("DescribeInvocations", {"RegionId": region, "InvokeId": invoke_id}).json()["Invocations"][
        "Invocation"
    ]
    assert (row["InvocationStatus"], row["Timed"]) == ("Stopped", False)


def test_api_include_history_needs_a_periodic_task(rpc, region, instance_id):
    once = rpc.v1(
        "RunCommand",
        {"RegionId": region, "Type": "RunShellScript", "CommandContent": "echo", "InstanceId.1": instance_id},
    ).json()["InvokeId"]
    for extra in ({}, {"InvokeId": once}):
        answer = rpc.v1("DescribeInvocationResults", {"RegionId": region, "IncludeHistory": "true", **extra})
        assert (answer.status_code, answer.json()["Code"]) == (400, "InvalidParameter.IncludeHistory")


def test_api_frequency_refusals_name_the_reason(rpc, region, instance_id):
    base = {
        "RegionId": region,
        "Type": "RunShellScript",
        "CommandContent": "echo",
        "InstanceId.1": instance_id,
    }
    answer = rpc.v1("RunCommand", {**base, "Frequency": "at(2020-01-01 00:00:00)"})
    assert (answer.status_code, answer.json()["Code"]) == (403, "InvalidParam.Frequency")
    assert "AtExpressionExpired" in answer.json()["Message"]
    assert not Invocation.objects.exists()


def test_modify_frequency_alone_keeps_each_instance_script(root_principal):
    instance = make_instance(root_principal, "solo")
    invocation = periodic(
        root_principal, [instance], content="echo {{ACS::InstanceName}} {{x}}", enable_parameter=True,
        parameters={"x": "1"},
    )  # fmt: skip
    services.invocation_modify(principal=root_principal, invocation_id=invocation.id, frequency="rate(6m)")
    services.executions_start_due(now=invocation.created_at + timedelta(minutes=6))
    assert task_run_frame(latest(invocation)).content == "echo solo 1"


def test_a_command_a_live_schedule_runs_cannot_be_deleted(root_principal):
    instance = make_instance(root_principal)
    command = cmd_services.command_create(
        principal=root_principal, name="c", command_content=base64.b64encode(b"uptime").decode()
    )
    invocation = services.invocation_invoke_command(
        principal=root_principal, command_id=command.id, instance_ids=[instance.id], frequency="rate(1h)"
    )
    with pytest.raises(ServiceError) as refused:
        cmd_services.command_delete(principal=root_principal, command_id=command.id)
    assert (refused.value.code, refused.value.status) == ("InvalidStatus.CmdIdInUse", 403)
    assert invocation.id in refused.value.message
    services.invocation_stop(principal=root_principal, invocation_id=invocation.id)
    cmd_services.command_delete(principal=root_principal, command_id=command.id)
    assert not Command.objects.filter(pk=command.id).exists()


def test_a_browser_limited_to_some_instances_follows_their_later_executions(root_principal):
    from console.web.stream import updates_for

    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    invocation = periodic(root_principal, [a, b])
    seen_at_connect = {latest(invocation, a).id}  # e.g. a RAM user allowed on instance a only
    services.executions_start_due(now=invocation.created_at + timedelta(minutes=5))
    agent_runs(latest(invocation, a))
    messages = updates_for(invocation.id, {}, None, seen_at_connect)
    assert [m["result_id"] for m in messages if m["type"] == "result"] == [latest(invocation, a).id]
    assert messages[-1] == {
        "type": "overall",
        "status": st.SCHEDULED,
        "done": 0,
        "total": 1,
        "more": False,
        "left": [],
    }
