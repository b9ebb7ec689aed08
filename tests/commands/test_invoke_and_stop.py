"""Running with parameters (RunCommand and InvokeCommand), the per-instance script the agent receives, and
StopInvocation's status changes and doorbells."""

from datetime import timedelta

import pytest
from assist_agent import protocol

from console.commands import services as cmd_services
from console.commands.models import Command
from console.errors import ServiceError
from console.invocations import reports, services
from console.invocations import status as st
from console.invocations.delivery import task_run_frame
from console.invocations.models import Invocation, InvocationResult
from tests.conftest import make_instance
from tests.iam.conftest import ram_principal

pytestmark = pytest.mark.django_db


def contents(invocation):
    return {
        r.instance_id: task_run_frame(r).content
        for r in InvocationResult.objects.filter(invocation=invocation)
    }


def test_run_command_renders_parameters_and_built_ins_per_instance(root_principal):
    a, b = make_instance(root_principal, "alpha"), make_instance(root_principal, "beta")
    invocation = services.invocation_run_command(
        principal=root_principal,
        instance_ids=[a.id, b.id],
        command_content="echo {{greeting}} {{ ACS::InstanceId }} {{ACS::InstanceName}} {{ACS::InvokeId}} "
        "{{ACS::CommandId}} {{ACS::RegionId}} {{ACS::AccountId}} [{{missing}}]",
        enable_parameter=True,
        parameters={"Greeting": "hi"},
    )
    tail = f"{invocation.id} {invocation.command_id} local {root_principal.account_id} []"
    assert contents(invocation) == {
        a.id: f"echo hi {a.id} {a.name} {tail}",
        b.id: f"echo hi {b.id} {b.name} {tail}",
    }
    assert invocation.command_content.startswith("echo {{greeting}}")  # the template is what is shown
    assert (invocation.parameters, invocation.enable_parameter) == ({"Greeting": "hi"}, True)


def test_without_enable_parameter_placeholders_stay_literal(root_principal):
    instance = make_instance(root_principal)
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="echo {{ACS::InstanceId}} {{x}}"
    )
    assert contents(invocation) == {instance.id: "echo {{ACS::InstanceId}} {{x}}"}
    assert InvocationResult.objects.get().content == ""


def test_kept_command_remembers_enable_parameter(root_principal):
    instance = make_instance(root_principal)
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="echo {{x}}",
        enable_parameter=True, parameters={"x": 1}, keep_command=True, name="kept",
    )  # fmt: skip
    kept = Command.objects.get(pk=invocation.command_id)
    assert (kept.name, kept.content, kept.enable_parameter) == ("kept", "echo {{x}}", True)


RUN_REFUSED = [
    ({"parameters": {"x": "1"}}, "Parameter.Disabled"),
    ({"enable_parameter": True, "parameters": {"y": "1"}}, "Parameter.NotMatched"),
    ({"enable_parameter": True, "command_content": "echo {{}}"}, "CmdParam.EmptyKey"),
    ({"enable_parameter": True, "parameters": {"x": "v" * 18433}}, "CmdContent.ExceedLimit"),
]


@pytest.mark.parametrize(("override", "code"), RUN_REFUSED)
def test_run_refusals_create_nothing(root_principal, override, code):
    instance = make_instance(root_principal)
    arguments = {"principal": root_principal, "instance_ids": [instance.id], "command_content": "echo {{x}}"}
    with pytest.raises(ServiceError) as refused:
        services.invocation_run_command(**{**arguments, **override})
    assert refused.value.code == code
    assert not Invocation.objects.exists() and not InvocationResult.objects.exists()


def test_rendered_size_is_checked_per_instance(root_principal, settings):
    short, long = make_instance(root_principal, "s"), make_instance(root_principal, "l" * 100)
    settings.ASSIST_MAX_CONTENT_B64 = 4 * ((len("name=") + 50 + 2) // 3)
    arguments = {"principal": root_principal, "command_content": "name={{ACS::InstanceName}}",
                 "enable_parameter": True}  # fmt: skip
    services.invocation_run_command(**arguments, instance_ids=[short.id])
    with pytest.raises(ServiceError) as refused:
        services.invocation_run_command(**arguments, instance_ids=[short.id, long.id])
    assert refused.value.code == "CmdContent.ExceedLimit" and long.id in refused.value.message
    assert Invocation.objects.count() == 1


def saved(principal, **overrides):
    arguments = {
        "principal": principal,
        "name": "deploy",
        "command_content": "echo {{version}} {{ACS::InstanceId}}",
        "enable_parameter": True,
        "working_dir": "/srv",
        "timeout": 45,
        **overrides,
    }
    return cmd_services.command_create(**arguments)


def test_invoke_command_runs_a_saved_command(root_principal):
    command = saved(root_principal, description="rolls out")
    instance = make_instance(root_principal)
    invocation = services.invocation_invoke_command(
        principal=root_principal,
        command_id=command.id,
        instance_ids=[instance.id],
        parameters={"version": 7},
        username="deploy",
    )
    assert (invocation.command_id, invocation.command_name, invocation.command_description) == (
        command.id, "deploy", "rolls out")  # fmt: skip
    assert (invocation.working_dir, invocation.timeout, invocation.username) == ("/srv", 45, "deploy")
    frame = task_run_frame(InvocationResult.objects.get(invocation=invocation))
    assert isinstance(frame, protocol.TaskRun)
    assert (frame.content, frame.working_dir, frame.timeout) == (f"echo 7 {instance.id}", "/srv", 45.0)


def test_invoke_overrides_timeout_and_working_dir(root_principal):
    command = saved(root_principal)
    instance = make_instance(root_principal)
    invocation = services.invocation_invoke_command(
        principal=root_principal,
        command_id=command.id,
        instance_ids=[instance.id],
        timeout="10",
        working_dir="",
    )
    assert (invocation.timeout, invocation.working_dir) == (10, "")
    assert command.timeout == 45  # the command itself is unchanged


INVOKE_REFUSED = [
    ({"command_id": "c-doesnotexist"}, "InvalidCmdId.NotFound"),
    ({"region": "elsewhere"}, "InvalidCmdId.NotFound"),
    ({"timeout": "9"}, "InvalidParameter.Timeout"),
    ({"timeout": "0"}, "InvalidParameter.Timeout"),
    ({"working_dir": "w" * 201}, "InvalidParameter.WorkingDir"),
    ({"username": "u" * 256}, "Username.ExceedLimit"),
    ({"parameters": {"nope": "1"}}, "Parameter.NotMatched"),
    ({"parameters": {f"k{i}": "1" for i in range(11)}}, "ParameterCount.ExceedLimit"),
    ({"instance_ids": []}, "MissingParameter.InstanceId"),
    ({"instance_ids": ["mi-doesnotexist"]}, "InvalidInstance.NotFound"),
]


@pytest.mark.parametrize(("override", "code"), INVOKE_REFUSED)
def test_invoke_refusals_create_nothing(root_principal, override, code):
    command = saved(root_principal)
    instance = make_instance(root_principal)
    arguments = {"principal": root_principal, "command_id": command.id, "instance_ids": [instance.id]}
    with pytest.raises(ServiceError) as refused:
        services.invocation_invoke_command(**{**arguments, **override})
    assert refused.value.code == code and refused.value.message
    assert not Invocation.objects.exists()


def test_parameters_on_a_command_without_them_are_refused(root_principal):
    command = saved(root_principal, enable_parameter=False)
    instance = make_instance(root_principal)
    with pytest.raises(ServiceError) as refused:
        services.invocation_invoke_command(
            principal=root_principal,
            command_id=command.id,
            instance_ids=[instance.id],
            parameters={"version": "1"},
        )
    assert (refused.value.status, refused.value.code) == (404, "Parameter.Disabled")


def test_another_accounts_command_cannot_be_invoked(root_principal, other_principal):
    theirs = saved(other_principal)
    instance = make_instance(root_principal)
    with pytest.raises(ServiceError) as refused:
        services.invocation_invoke_command(principal=root_principal, command_id=theirs.id,
                                           instance_ids=[instance.id])  # fmt: skip
    assert refused.value.code == "InvalidCmdId.NotFound"


def _allow(action, resources, condition=None):
    statement = {"Effect": "Allow", "Action": action, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return {"Version": "1", "Statement": [statement]}


def test_invoke_needs_the_command_and_every_instance(root_principal):
    command, other = saved(root_principal), saved(root_principal, name="other")
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    user = ram_principal(root_principal, "runner", documents=(
        _allow("ecs:InvokeCommand", [f"acs:ecs:*:*:command/{command.id}", f"acs:ecs:*:*:instance/{a.id}"]),
    ))  # fmt: skip
    ok = {"principal": user, "command_id": command.id, "instance_ids": [a.id]}
    services.invocation_invoke_command(**ok)
    for denied in ({"instance_ids": [a.id, b.id]}, {"command_id": other.id}):
        with pytest.raises(ServiceError) as refused:
            services.invocation_invoke_command(**{**ok, **denied})
        assert refused.value.code == "Forbidden.RAM"
    run_as = ram_principal(root_principal, "nonroot", documents=(
        _allow("ecs:InvokeCommand", "*", {"StringNotEqualsIgnoreCase": {"ecs:CommandRunAs": ["root"]}}),
    ))  # fmt: skip
    with pytest.raises(ServiceError):
        services.invocation_invoke_command(**{**ok, "principal": run_as})
    services.invocation_invoke_command(**{**ok, "principal": run_as, "username": "deploy"})
    assert Invocation.objects.count() == 2


# --- StopInvocation -------------------------------------------------------------------------------------


@pytest.fixture
def stop_doorbells(monkeypatch):
    rung = []
    monkeypatch.setattr(services.events, "ring_agent_stop", lambda instance_id, task_id: rung.append(task_id))
    return rung


def _run_on(principal, count):
    instances = [make_instance(principal, f"h{n}") for n in range(count)]
    invocation = services.invocation_run_command(
        principal=principal, instance_ids=[i.id for i in instances], command_content="sleep 30"
    )
    results = {r.instance_id: r for r in InvocationResult.objects.filter(invocation=invocation)}
    return invocation, [results[i.id] for i in instances]


def _set_status(result, status):
    InvocationResult.objects.filter(pk=result.pk).update(status=status)


def status_of(result):
    return InvocationResult.objects.get(pk=result.pk)


@pytest.mark.parametrize(
    ("before", "after", "rung", "finished"),
    [
        (st.PENDING, st.CANCELLED, True, True),
        (st.SCHEDULED, st.CANCELLED, True, True),
        (st.RUNNING, st.STOPPING, True, False),
        (st.STOPPING, st.STOPPING, True, False),
        (st.SUCCESS, st.SUCCESS, False, False),
        (st.FAILED, st.FAILED, False, False),
        (st.ERROR, st.ERROR, False, False),
        (st.TIMEOUT, st.TIMEOUT, False, False),
        (st.ABORTED, st.ABORTED, False, False),
        (st.INVALID, st.INVALID, False, False),
        (st.CANCELLED, st.CANCELLED, False, False),
        (st.TERMINATED, st.TERMINATED, False, False),
    ],
)
def test_stop_moves_each_status(
    root_principal, stop_doorbells, django_capture_on_commit_callbacks, before, after, rung, finished
):
    invocation, [result] = _run_on(root_principal, 1)
    _set_status(result, before)
    with django_capture_on_commit_callbacks(execute=True):
        services.invocation_stop(principal=root_principal, invocation_id=invocation.id)
    stored = status_of(result)
    assert stored.status == after
    assert stop_doorbells == ([result.id] if rung else [])
    assert (stored.finished_at is not None) is finished
    changed = before != after
    assert (stored.stopped_at is not None) is changed


def test_stop_some_instances(root_principal, stop_doorbells, django_capture_on_commit_callbacks):
    invocation, (a, b, c) = _run_on(root_principal, 3)
    _set_status(a, st.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.invocation_stop(principal=root_principal, invocation_id=invocation.id,
                                           instance_ids=[a.instance_id, b.instance_id])  # fmt: skip
    assert (outcome.stopping, outcome.cancelled) == ([a.id], [b.id])
    assert [status_of(r).status for r in (a, b, c)] == [st.STOPPING, st.CANCELLED, st.PENDING]
    assert sorted(stop_doorbells) == sorted([a.id, b.id])


def test_a_stopped_task_reports_terminated_and_the_overall_status_follows(root_principal):
    invocation, [result] = _run_on(root_principal, 1)
    reports.result_record_started(instance_id=result.instance_id, task_id=result.id, started_at=1.0)
    services.invocation_stop(principal=root_principal, invocation_id=invocation.id)
    assert st.overall_status(invocation.results.values_list("status", flat=True)) == st.STOPPING
    reports.result_record_final(
        instance_id=result.instance_id, task_id=result.id, status="Terminated", exit_code=143, error_code="",
        error_info="", started_at=1.0, finished_at=2.0, last_seq=0,
    )  # fmt: skip
    stored = status_of(result)
    assert (stored.status, stored.error_code, stored.exit_code) == ("Terminated", "ExecutionInterrupted", 143)
    assert stored.stopped_at is not None
    assert st.overall_status(invocation.results.values_list("status", flat=True)) == "Stopped"


def test_a_cancelled_task_ignores_a_late_agent_report(root_principal):
    invocation, [result] = _run_on(root_principal, 1)
    services.invocation_stop(principal=root_principal, invocation_id=invocation.id)
    reports.result_record_started(instance_id=result.instance_id, task_id=result.id, started_at=1.0)
    missing = reports.result_record_final(
        instance_id=result.instance_id, task_id=result.id, status="Success", exit_code=0, error_code="",
        error_info="", started_at=1.0, finished_at=2.0, last_seq=0,
    )  # fmt: skip
    assert missing == []  # acknowledged, so the agent forgets it
    assert status_of(result).status == st.CANCELLED


STOP_REFUSED = [
    ({"invocation_id": "t-doesnotexist"}, 404, "InvalidInvokeId.NotFound"),
    ({"region": "elsewhere"}, 404, "InvalidInvokeId.NotFound"),
    ({"instance_ids": ["mi-notatarget"]}, 404, "InvalidInstance.NotFound"),
    ({"instance_ids": [f"mi-{n}" for n in range(51)]}, 403, "InstanceIds.ExceedLimit"),
]


@pytest.mark.parametrize(("override", "status", "code"), STOP_REFUSED)
def test_stop_refusals_change_nothing(root_principal, override, status, code):
    invocation, [result] = _run_on(root_principal, 1)
    with pytest.raises(ServiceError) as refused:
        services.invocation_stop(**{"principal": root_principal, "invocation_id": invocation.id, **override})
    assert (refused.value.status, refused.value.code) == (status, code)
    assert status_of(result).status == st.PENDING


def test_another_accounts_invocation_cannot_be_stopped(root_principal, other_principal):
    invocation, [result] = _run_on(other_principal, 1)
    with pytest.raises(ServiceError) as refused:
        services.invocation_stop(principal=root_principal, invocation_id=invocation.id)
    assert refused.value.code == "InvalidInvokeId.NotFound"
    assert status_of(result).status == st.PENDING


def test_stop_needs_stop_invocation_on_every_instance_named(root_principal):
    invocation, (a, b) = _run_on(root_principal, 2)
    user = ram_principal(root_principal, "stopper", documents=(
        _allow("ecs:StopInvocation", f"acs:ecs:*:*:instance/{a.instance_id}"),
    ))  # fmt: skip
    with pytest.raises(ServiceError) as refused:
        services.invocation_stop(principal=user, invocation_id=invocation.id)
    assert refused.value.code == "Forbidden.RAM"
    assert status_of(a).status == st.PENDING
    services.invocation_stop(principal=user, invocation_id=invocation.id, instance_ids=[a.instance_id])
    assert [status_of(r).status for r in (a, b)] == [st.CANCELLED, st.PENDING]


def test_stopped_results_keep_their_stop_time_through_the_agent_report(root_principal):
    invocation, [result] = _run_on(root_principal, 1)
    _set_status(result, st.RUNNING)
    services.invocation_stop(principal=root_principal, invocation_id=invocation.id)
    stopped_at = status_of(result).stopped_at
    reports.result_record_final(
        instance_id=result.instance_id, task_id=result.id, status="Terminated", exit_code=None, error_code="",
        error_info="", started_at=None, finished_at=stopped_at.timestamp() + 1, last_seq=0,
    )  # fmt: skip
    stored = status_of(result)
    assert stored.stopped_at == stopped_at
    assert stored.finished_at - stopped_at == timedelta(seconds=1)
    assert stored.status == st.TERMINATED


def test_the_tick_rings_stops_again_for_results_still_stopping(root_principal, stop_doorbells):
    from django.utils import timezone

    invocation, (a, b) = _run_on(root_principal, 2)
    _set_status(a, st.RUNNING)
    services.invocation_stop(principal=root_principal, invocation_id=invocation.id)
    stop_doorbells.clear()
    assert services.results_restop() == 0  # just asked: not yet
    later = timezone.now() + timedelta(seconds=services.RESTOP_AFTER_SECONDS + 1)
    assert services.results_restop(now=later) == 1
    assert stop_doorbells == [a.id]  # the cancelled one is final: no more doorbells
