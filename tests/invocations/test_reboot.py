"""Reboot tasks (NextRebootOnly, EveryReboot): armed with the instance's boot id, started by a hello from
another boot (fleet_services.instance_hello, as the gateway calls it), once per boot, stopped by
StopInvocation. The agent's reports go through the same service the gateway uses."""

import threading

import pytest
from django.db import connection

from console.fleet import services as fleet_services
from console.fleet.models import Instance
from console.invocations import reboots, services
from console.invocations import status as st
from console.invocations.models import InvocationResult
from console.invocations.selectors import pending_tasks
from tests.conftest import make_instance
from tests.invocations.test_periodic import agent_runs, latest, overall

pytestmark = pytest.mark.django_db


def booted(instance, boot_id):
    instance.refresh_from_db()
    fleet_services.instance_hello(
        instance=instance, agent_version="1.0", os_type="linux", os_name="Linux", hostname="h", ips=[],
        boot_id=boot_id,
    )  # fmt: skip


def reboot_task(principal, instances, mode):
    return services.invocation_run_command(
        principal=principal,
        instance_ids=[i.id for i in instances],
        command_content="echo booted",
        repeat_mode=mode,
    )


def test_next_reboot_only_runs_once_after_the_next_boot(root_principal):
    instance = make_instance(root_principal)
    booted(instance, "boot-1")
    invocation = reboot_task(root_principal, [instance], "NextRebootOnly")
    waiting = latest(invocation)
    assert (waiting.status, waiting.boot_id, overall(invocation)) == (st.SCHEDULED, "boot-1", st.SCHEDULED)
    assert pending_tasks(instance.id) == []  # nothing is delivered before the reboot

    booted(instance, "boot-1")  # a reconnect without a reboot
    assert latest(invocation).status == st.SCHEDULED

    booted(instance, "boot-2")
    run = latest(invocation)
    assert (run.id, run.status, run.boot_id, run.repeats) == (waiting.id, st.PENDING, "boot-2", 1)
    assert [task.id for task in pending_tasks(instance.id)] == [run.id]
    booted(instance, "boot-2")  # a second hello of the same boot starts nothing more
    assert InvocationResult.objects.filter(invocation=invocation).count() == 1

    agent_runs(run)
    done = latest(invocation)
    assert (done.id, done.status, done.repeats) == (run.id, st.SUCCESS, 1)
    assert overall(invocation) == st.SUCCESS
    booted(instance, "boot-3")  # it ran once: later boots start nothing
    assert InvocationResult.objects.filter(invocation=invocation).count() == 1
    assert latest(invocation).status == st.SUCCESS


def test_every_reboot_makes_an_execution_per_boot(root_principal):
    instance = make_instance(root_principal)
    booted(instance, "boot-1")
    invocation = reboot_task(root_principal, [instance], "EveryReboot")
    for number, boot in enumerate(("boot-2", "boot-3", "boot-4"), start=1):
        booted(instance, boot)
        booted(instance, boot)
        run = latest(invocation)
        assert (run.status, run.boot_id, run.repeats) == (st.PENDING, boot, number)
        agent_runs(run, output=f"run {number}\n".encode())
        waiting = latest(invocation)
        assert (waiting.status, waiting.boot_id, waiting.repeats) == (st.SCHEDULED, boot, number)
    history = InvocationResult.objects.filter(invocation=invocation, latest=False).order_by("repeats")
    assert [(r.repeats, r.boot_id, r.status) for r in history] == [
        (1, "boot-2", st.SUCCESS),
        (2, "boot-3", st.SUCCESS),
        (3, "boot-4", st.SUCCESS),
    ]
    assert overall(invocation) == st.SCHEDULED


def test_every_reboot_run_cut_by_a_reboot_runs_again_for_the_new_boot(root_principal):
    """The hello of the new boot comes while the old run is still Running (the agent reports it after
    reconnecting): the roll-over sees the instance booted since and starts the next run at once."""
    instance = make_instance(root_principal)
    booted(instance, "boot-1")
    invocation = reboot_task(root_principal, [instance], "EveryReboot")
    booted(instance, "boot-2")
    run = latest(invocation)
    booted(instance, "boot-3")  # the run is still Pending: nothing else starts
    assert InvocationResult.objects.filter(invocation=invocation).count() == 1
    agent_runs(run, status=st.ERROR, exit_code=None)
    nxt = latest(invocation)
    assert (nxt.status, nxt.boot_id, nxt.repeats) == (st.PENDING, "boot-3", 2)


def test_an_instance_that_never_reported_a_boot_is_armed_by_its_first_hello(root_principal):
    instance = make_instance(root_principal)
    assert Instance.objects.get(pk=instance.pk).boot_id == ""
    invocation = reboot_task(root_principal, [instance], "NextRebootOnly")
    booted(instance, "boot-1")  # the first boot id seen: not a reboot since the task was made
    waiting = latest(invocation)
    assert (waiting.status, waiting.boot_id) == (st.SCHEDULED, "boot-1")
    booted(instance, "boot-2")
    assert latest(invocation).status == st.PENDING


def test_stop_ends_a_reboot_task(root_principal):
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    booted(a, "a-1")
    booted(b, "b-1")
    invocation = reboot_task(root_principal, [a, b], "EveryReboot")
    booted(a, "a-2")
    services.invocation_stop(principal=root_principal, invocation_id=invocation.id)
    assert {r.instance_id: r.status for r in InvocationResult.objects.filter(invocation=invocation)} == {
        a.id: st.CANCELLED,
        b.id: st.CANCELLED,
    }
    booted(b, "b-2")
    assert latest(invocation, b).status == st.CANCELLED
    assert overall(invocation) == "Stopped"


def test_aborted_every_reboot_execution_rolls_over_on_the_tick(root_principal):
    instance = make_instance(root_principal)
    booted(instance, "boot-1")
    invocation = reboot_task(root_principal, [instance], "EveryReboot")
    booted(instance, "boot-2")
    # An Aborted execution whose roll-over was lost (the delivery timeout path rolls over at once).
    InvocationResult.objects.filter(invocation=invocation).update(status=st.ABORTED)
    assert services.executions_roll_over_finished() == 1
    waiting = latest(invocation)
    assert (waiting.status, waiting.boot_id) == (st.SCHEDULED, "boot-2")
    booted(instance, "boot-3")
    assert latest(invocation).status == st.PENDING


def test_start_is_idempotent_when_called_twice_for_one_boot(root_principal):
    instance = make_instance(root_principal)
    booted(instance, "boot-1")
    invocation = reboot_task(root_principal, [instance], "NextRebootOnly")
    assert reboots.reboot_executions_start(instance_id=instance.id, boot_id="boot-2") == 1
    assert reboots.reboot_executions_start(instance_id=instance.id, boot_id="boot-2") == 0
    assert latest(invocation).repeats == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_hellos_of_one_boot_start_it_once(root_principal):
    """Two connections of one agent say hello from the new boot at the same moment (PostgreSQL: row locks;
    SQLite serialises the writers)."""
    instance = make_instance(root_principal)
    booted(instance, "boot-1")
    invocations = [reboot_task(root_principal, [instance], "EveryReboot") for _ in range(3)]
    barrier = threading.Barrier(4)
    started: list[int] = []

    def hello() -> None:
        try:
            barrier.wait(timeout=30)
            started.append(reboots.reboot_executions_start(instance_id=instance.id, boot_id="boot-2"))
        finally:
            connection.close()

    threads = [threading.Thread(target=hello) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(started) == [0, 0, 0, 3]
    for invocation in invocations:
        assert (latest(invocation).status, latest(invocation).repeats) == (st.PENDING, 1)


def test_an_undelivered_every_reboot_run_waits_for_the_next_boot(root_principal, settings):
    from datetime import timedelta

    from django.utils import timezone

    instance = make_instance(root_principal)
    booted(instance, "boot-1")
    invocation = reboot_task(root_principal, [instance], "EveryReboot")
    booted(instance, "boot-2")
    late = timezone.now() + timedelta(seconds=settings.ASSIST_DELIVERY_TIMEOUT + 1)
    assert services.results_abort_undelivered(now=late) == 1
    waiting = latest(invocation)
    assert (waiting.status, waiting.boot_id, waiting.repeats) == (st.SCHEDULED, "boot-2", 1)
    aborted = InvocationResult.objects.get(invocation=invocation, latest=False)
    assert (aborted.status, aborted.error_code) == (st.ABORTED, "DeliveryTimeout")
