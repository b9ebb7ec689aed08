"""A Running result whose agent will never report it ends (issue 9: every result final in bounded time):
the tick ends it as Error / ClientNotRunning once its instance has been offline past the task's timeout,
and a hello that no longer holds it (state directory lost) ends it as Error / ExecutionInterrupted."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from assist_agent import protocol
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from console.fleet import services as fleet_services
from console.fleet.models import Instance
from console.gateway.consumers import AgentConsumer
from console.invocations import reports, services, tasks
from console.invocations import status as st
from console.invocations.models import InvocationResult

OFFLINE = 120  # ASSIST_OFFLINE_AFTER, set below
TIMEOUT = 60  # the command's timeout


@pytest.fixture(autouse=True)
def _offline_after(settings):
    settings.ASSIST_OFFLINE_AFTER = OFFLINE


def _register(principal, name="h"):
    issued = fleet_services.activation_create(principal=principal, instance_count=1)
    registration = fleet_services.instance_register(
        activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1", hostname=name
    )
    return registration.instance, registration.secret


def _running(principal, instance, *, started_ago: float, status=st.RUNNING) -> InvocationResult:
    """A result of ``instance`` the agent took ``started_ago`` seconds ago (Stopping after a stop)."""
    invocation = services.invocation_run_command(
        principal=principal, instance_ids=[instance.id], command_content="sleep 1000", timeout=TIMEOUT
    )
    result = invocation.results.get()
    started = timezone.now() - timedelta(seconds=started_ago)
    InvocationResult.objects.filter(pk=result.pk).update(created_at=started - timedelta(seconds=1))
    reports.result_record_started(instance_id=instance.id, task_id=result.id, started_at=started.timestamp())
    if status == st.STOPPING:
        services.invocation_stop(principal=principal, invocation_id=invocation.id)
    result.refresh_from_db()
    assert result.status == status
    return result


def _last_heartbeat(instance, seconds_ago: float | None) -> None:
    at = None if seconds_ago is None else timezone.now() - timedelta(seconds=seconds_ago)
    Instance.objects.filter(pk=instance.pk).update(last_heartbeat_at=at)


# (status, seconds since it started, seconds since the instance's last heartbeat (None: never), ends?)
SILENT = [
    (st.RUNNING, TIMEOUT + OFFLINE + 10, OFFLINE + 10, True),  # offline, past timeout + offline limit
    (st.STOPPING, TIMEOUT + OFFLINE + 10, OFFLINE + 10, True),  # a stop the agent never confirmed
    (st.RUNNING, TIMEOUT + OFFLINE + 10, None, True),  # no heartbeat on record at all
    (st.RUNNING, TIMEOUT + OFFLINE + 10, 5, False),  # online: the agent still reports, its timeout rules
    (st.RUNNING, TIMEOUT + OFFLINE + 10, OFFLINE - 10, False),  # silent, but not yet offline
    (st.RUNNING, TIMEOUT + OFFLINE - 10, OFFLINE + 10, False),  # offline, but may still end in time
    (st.RUNNING, TIMEOUT, TIMEOUT, False),  # neither
]


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "started_ago", "heartbeat_ago", "ends"), SILENT)
def test_the_tick_ends_a_result_whose_agent_stays_away(
    root_principal, status, started_ago, heartbeat_ago, ends
):
    instance, _ = _register(root_principal)
    result = _running(root_principal, instance, started_ago=started_ago, status=status)
    _last_heartbeat(instance, heartbeat_ago)

    tasks.tick()

    result.refresh_from_db()
    if ends:
        assert (result.status, result.error_code) == (st.ERROR, "ClientNotRunning")
        assert "stopped reporting" in result.error_info and result.finished_at is not None
        assert result.invocation.results.get().status == st.ERROR
    else:
        assert (result.status, result.error_code) == (status, "")


@pytest.mark.django_db
def test_a_late_report_after_the_end_is_only_acknowledged(root_principal):
    instance, _ = _register(root_principal)
    result = _running(root_principal, instance, started_ago=TIMEOUT + OFFLINE + 10)
    _last_heartbeat(instance, OFFLINE + 10)
    assert services.results_end_for_silent_agents() == 1
    assert services.results_end_for_silent_agents() == 0  # once
    now = timezone.now().timestamp()
    reports.result_record_final(
        instance_id=instance.id, task_id=result.id, status=st.SUCCESS, exit_code=0,
        error_code="", error_info="", started_at=now - 1, finished_at=now, last_seq=0,
    )  # fmt: skip
    result.refresh_from_db()
    assert (result.status, result.error_code) == (st.ERROR, "ClientNotRunning")


def _hello(instance_id: str, secret: str, held_tasks: tuple[str, ...]) -> str:
    return protocol.encode(
        protocol.Hello(
            instance_id=instance_id, secret=secret, agent_version="0.1.0", os_type="Linux", os_name="test",
            hostname="h", ips=(), boot_id="b", held_tasks=held_tasks,
        )
    )  # fmt: skip


def _say_hello(instance, secret, held_tasks: tuple[str, ...]) -> None:
    async def scenario():
        communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_to(_hello(instance.id, secret, held_tasks))
        welcome = protocol.decode(await communicator.receive_from(timeout=10), sender="console")
        assert isinstance(welcome, protocol.Welcome)
        await communicator.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_hello_without_a_running_task_ends_it(root_principal):
    instance, secret = _register(root_principal)
    other, _ = _register(root_principal, "other")
    held = _running(root_principal, instance, started_ago=5)
    lost = _running(root_principal, instance, started_ago=5)
    stopping = _running(root_principal, instance, started_ago=5, status=st.STOPPING)
    elsewhere = _running(root_principal, other, started_ago=5)  # another instance's: not for this hello

    _say_hello(instance, secret, held_tasks=(held.id, "t-unknown"))

    for result in (held, lost, stopping, elsewhere):
        result.refresh_from_db()
    assert held.status == st.RUNNING and elsewhere.status == st.RUNNING
    for result in (lost, stopping):
        assert (result.status, result.error_code) == (st.ERROR, "ExecutionInterrupted")
        assert "state directory was lost" in result.error_info

    _say_hello(instance, secret, held_tasks=(held.id,))  # again: nothing more changes
    held.refresh_from_db()
    assert held.status == st.RUNNING
