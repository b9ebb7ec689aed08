"""A task that went out to its agent is never reported as not run (docs/reliability.md, promise 1). Only a
task never sent ends Aborted/DeliveryTimeout; one sent waits for the agent's word (its report, or a hello
saying it does not hold the task) and, if the agent stays silent past the command's timeout plus
ASSIST_OFFLINE_AFTER, ends Error/ClientNotRunning ("whether the command ran is unknown"), never flipping
from Aborted to a real outcome."""

import sqlite3
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from console.invocations import reports, services, tasks
from console.invocations import status as st
from console.invocations.models import InvocationResult
from tests.conftest import make_instance
from tests.live import embedded_console, sdk_client, wait_until
from tests.reliability.harness import TcpProxy
from tests.reliability.test_fuzz import result_of, run

DELIVERY = 60  # ASSIST_DELIVERY_TIMEOUT, set below
OFFLINE = 120  # ASSIST_OFFLINE_AFTER, set below
TIMEOUT = 30  # the command's timeout


@pytest.fixture
def _limits(settings):
    settings.ASSIST_DELIVERY_TIMEOUT = DELIVERY
    settings.ASSIST_OFFLINE_AFTER = OFFLINE


def _pending(principal, *, created_ago: float, sent_ago: float | None) -> InvocationResult:
    instance = make_instance(principal)
    invocation = services.invocation_run_command(
        principal=principal, instance_ids=[instance.id], command_content="echo hi", timeout=TIMEOUT
    )
    result = invocation.results.get()
    now = timezone.now()
    sent_at = None if sent_ago is None else now - timedelta(seconds=sent_ago)
    InvocationResult.objects.filter(pk=result.pk).update(
        created_at=now - timedelta(seconds=created_ago), sent_at=sent_at
    )
    return result


# (seconds since created, seconds since sent (None: never), status after a tick, error code)
CASES = [
    (DELIVERY - 10, None, st.PENDING, ""),  # not late yet
    (DELIVERY + 10, None, st.ABORTED, "DeliveryTimeout"),  # never went out: not run, for sure
    (DELIVERY + 10, DELIVERY + 10, st.PENDING, ""),  # went out: the agent may be running it
    (TIMEOUT + OFFLINE + 10, TIMEOUT + OFFLINE - 10, st.PENDING, ""),  # may still report in time
    (TIMEOUT + OFFLINE + 10, TIMEOUT + OFFLINE + 10, st.ERROR, "ClientNotRunning"),  # unknown, bounded
    (10 * DELIVERY, 5, st.PENDING, ""),  # sent late (an agent back after a cut): its clock runs from then
]


@pytest.mark.django_db
@pytest.mark.usefixtures("_limits")
@pytest.mark.parametrize(("created_ago", "sent_ago", "status", "error_code"), CASES)
def test_the_tick_ends_only_unsent_tasks_as_not_run(
    root_principal, created_ago, sent_ago, status, error_code
):
    result = _pending(root_principal, created_ago=created_ago, sent_ago=sent_ago)

    tasks.tick()

    result.refresh_from_db()
    assert (result.status, result.error_code) == (status, error_code)
    if status == st.ERROR:
        assert "whether the command ran is unknown" in result.error_info
        assert result.finished_at is not None


@pytest.mark.django_db
@pytest.mark.usefixtures("_limits")
def test_a_report_after_the_unknown_outcome_is_acknowledged_and_changes_nothing(root_principal):
    result = _pending(root_principal, created_ago=TIMEOUT + OFFLINE + 10, sent_ago=TIMEOUT + OFFLINE + 10)
    tasks.tick()
    missing = reports.result_record_final(
        instance_id=result.instance_id,
        task_id=result.id,
        status=st.SUCCESS,
        exit_code=0,
        error_code="",
        error_info="",
        started_at=time.time() - 2,
        finished_at=time.time() - 1,
        last_seq=0,
    )
    assert missing == []  # acknowledged: the agent may forget it
    result.refresh_from_db()
    assert (result.status, result.error_code) == (st.ERROR, "ClientNotRunning")


@pytest.mark.django_db
def test_marking_sent_keeps_the_first_send_and_refuses_tasks_no_longer_pending(root_principal):
    first = _pending(root_principal, created_ago=5, sent_ago=None)
    again = _pending(root_principal, created_ago=5, sent_ago=3)
    stopped = _pending(root_principal, created_ago=5, sent_ago=None)
    services.invocation_stop(principal=root_principal, invocation_id=stopped.invocation_id)
    earlier = InvocationResult.objects.get(pk=again.pk).sent_at

    may_go = services.results_mark_sent([first.id, again.id, stopped.id])

    assert may_go == {first.id, again.id}
    first.refresh_from_db()
    stopped.refresh_from_db()
    assert first.sent_at is not None
    assert InvocationResult.objects.get(pk=again.pk).sent_at == earlier  # re-sends do not move it
    assert (stopped.status, stopped.sent_at) == (st.CANCELLED, None)


@pytest.mark.django_db
@pytest.mark.usefixtures("_limits")
def test_a_hello_without_a_sent_task_makes_it_unsent_again(root_principal):
    held = _pending(root_principal, created_ago=DELIVERY + 10, sent_ago=DELIVERY + 10)
    lost = _pending(root_principal, created_ago=DELIVERY + 10, sent_ago=DELIVERY + 10)
    InvocationResult.objects.filter(pk=lost.pk).update(instance_id=held.instance_id)

    cleared = services.results_unsent_at_hello(instance_id=held.instance_id, held_tasks=[held.id])

    assert cleared == 1
    tasks.tick()  # the one the agent never got is past its delivery time: not run, for sure
    held.refresh_from_db()
    lost.refresh_from_db()
    assert (held.status, lost.status, lost.error_code) == (st.PENDING, st.ABORTED, "DeliveryTimeout")


# --- end to end: the agent's reports are lost on the way for longer than the delivery timeout ---------

E2E_DELIVERY = 3


@pytest.mark.integration
@pytest.mark.live
def test_a_task_whose_reports_are_held_up_is_never_shown_as_not_run(tmp_path):
    procs, console = embedded_console(
        tmp_path,
        extra_env={
            "ASSIST_DELIVERY_TIMEOUT": str(E2E_DELIVERY),
            "ASSIST_TICK_SECONDS": "0.3",
            "ASSIST_HEARTBEAT_INTERVAL": "1",
        },
    )
    proxy = None
    try:
        port = int(console.url.rsplit(":", 1)[1])
        proxy = TcpProxy(port)
        key = console.bootstrap()
        activation = console.create_activation(count=1)
        through_proxy = type(console)(procs, f"http://127.0.0.1:{proxy.port}")
        instance_id = through_proxy.register_agent("cut", activation)
        state = tmp_path / "agents" / "cut"
        procs.spawn("agent-cut", [sys.executable, "-m", "assist_agent", "run", "--state-dir", str(state),
                                  "--reconnect-initial", "0.2", "--reconnect-max", "0.5"])  # fmt: skip
        client = sdk_client(console, key)
        db = tmp_path / "data" / "assist.sqlite3"
        wait_until(lambda: result_of(db, run(client, instance_id, "true")) is not None, timeout=30)
        first = run(client, instance_id, "echo warm")
        wait_until(lambda: result_of(db, first)[1] == "Success", timeout=30, message="the agent is online")

        # The console's task.run reaches the agent; nothing the agent says reaches the console.
        proxy.mute_upstream()
        invoke_id = run(client, instance_id, "sleep 1; echo ran once", timeout=60)
        seen = set()
        held_until = time.monotonic() + E2E_DELIVERY + 5
        while time.monotonic() < held_until:
            seen.add(result_of(db, invoke_id)[1])
            time.sleep(0.1)
        assert seen == {"Pending"}, "a sent task must wait for its agent's word, not end as not run"

        proxy.cut()  # the agent notices, reconnects and delivers its spooled report
        proxy.restore()
        statuses = []

        def final():
            statuses.append(result_of(db, invoke_id)[1])
            return statuses[-1] not in ("Pending", "Running")

        wait_until(final, timeout=60, interval=0.1, message="the held-up report arrives")
        assert statuses[-1] == "Success"
        assert "Aborted" not in statuses
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            chunks = conn.execute(
                "SELECT o.data FROM invocations_outputchunk o JOIN invocations_invocationresult r"
                " ON r.id = o.result_id WHERE r.invocation_id = ? ORDER BY o.seq",
                (invoke_id,),
            ).fetchall()
        assert b"".join(bytes(chunk) for (chunk,) in chunks) == b"ran once\n"
    finally:
        if proxy is not None:
            proxy.close()
        procs.stop_all()
