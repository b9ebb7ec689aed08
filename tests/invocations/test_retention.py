"""History retention (console/invocations/retention.py): what is older than ASSIST_HISTORY_DAYS goes, in
batches; anything recent or live stays."""

from datetime import timedelta

import pytest
from django.db.models.signals import post_delete
from django.utils import timezone

from console.files.models import FileTransfer, FileTransferResult
from console.invocations import reports, retention, services
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult, OutputChunk
from console.tags.models import Tag
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def _run(principal, instance, *, age: timedelta, status=st.SUCCESS, finished_age: timedelta | None = None):
    """A run of ``age`` whose one result ended ``finished_age`` ago (default: when it was created)."""
    invocation = services.invocation_run_command(
        principal=principal, instance_ids=[instance.id], command_content="x"
    )
    result = invocation.results.get()
    for seq in (1, 2, 3):
        reports.result_record_output(instance_id=instance.id, task_id=result.id, seq=seq, data=b"line\n")
    now = timezone.now()
    finished = now - (finished_age if finished_age is not None else age)
    Invocation.objects.filter(pk=invocation.pk).update(created_at=now - age)
    InvocationResult.objects.filter(pk=result.pk).update(
        created_at=now - age, status=status, finished_at=None if status in st.LIVE else finished
    )
    return invocation


def _transfer(principal, instance, n: int, *, age: timedelta, status="Success"):
    created = timezone.now() - age
    transfer = FileTransfer.objects.create(
        id=f"f-retention{n}", account_id=principal.account_id, region="local", name="a.txt", target_dir="/t",
        size=1, sha256="0" * 64, created_at=created,
    )  # fmt: skip
    FileTransferResult.objects.create(
        id=f"f-retention{n}-r", transfer=transfer, instance=instance, status=status, created_at=created,
        finished_at=None if status in ("Pending", "Running") else created,
    )  # fmt: skip
    return transfer


def test_history_older_than_the_setting_goes_and_anything_recent_or_live_stays(root_principal, settings):
    settings.ASSIST_HISTORY_DAYS = 28
    instance = make_instance(root_principal)
    old = [_run(root_principal, instance, age=35 * DAY) for _ in range(5)]
    recent = _run(root_principal, instance, age=27 * DAY)
    finished_lately = _run(root_principal, instance, age=40 * DAY, finished_age=2 * DAY)
    still_running = _run(root_principal, instance, age=40 * DAY, status=st.RUNNING)
    Tag.objects.create(
        account_id=root_principal.account_id, region="local", resource_type="invocation",
        resource_id=old[0].id, key="team", value="ops",
    )  # fmt: skip
    old_transfer = _transfer(root_principal, instance, 1, age=30 * DAY)
    new_transfer = _transfer(root_principal, instance, 2, age=3 * DAY)
    live_transfer = _transfer(root_principal, instance, 3, age=30 * DAY, status="Running")

    purged = retention.purge_history(batch=2)  # several batches of each kind

    assert purged.complete
    assert (purged.invocations, purged.results, purged.chunks) == (5, 5, 15)
    kept = {recent.id, finished_lately.id, still_running.id}
    assert set(Invocation.objects.values_list("pk", flat=True)) == kept
    assert set(InvocationResult.objects.values_list("invocation_id", flat=True)) == kept
    assert OutputChunk.objects.count() == 3 * len(kept)
    assert not Tag.objects.filter(resource_id=old[0].id).exists()
    assert (purged.file_transfers, purged.file_results) == (1, 1)
    assert set(FileTransfer.objects.values_list("pk", flat=True)) == {new_transfer.pk, live_transfer.pk}
    assert not FileTransfer.objects.filter(pk=old_transfer.pk).exists()

    # A shorter history takes the recent run too; a second purge finds nothing more.
    settings.ASSIST_HISTORY_DAYS = 1
    assert retention.purge_history().invocations == 2  # recent and finished_lately; still_running stays
    assert retention.purge_history() == retention.Purged()
    assert list(Invocation.objects.values_list("pk", flat=True)) == [still_running.id]


def test_a_live_periodic_task_keeps_its_run_and_loses_only_old_executions(root_principal, settings):
    settings.ASSIST_HISTORY_DAYS = 28
    instance = make_instance(root_principal)
    periodic = _run(root_principal, instance, age=60 * DAY, status=st.SCHEDULED)
    Invocation.objects.filter(pk=periodic.pk).update(next_run_at=timezone.now() + DAY, repeat_mode="Period")
    now = timezone.now()
    # The latest row (what Describe* shows for the instance) stays however long ago its last run ended.
    periodic.results.filter(latest=True).update(finished_at=now - 45 * DAY)
    for n, age in enumerate((50 * DAY, 40 * DAY, 10 * DAY)):
        execution = InvocationResult.objects.create(
            id=f"{periodic.id}-e{n}", invocation=periodic, instance=instance, status=st.SUCCESS, latest=False,
            created_at=now - age, finished_at=now - age, repeats=n + 1,
        )  # fmt: skip
        reports.result_record_output(instance_id=instance.id, task_id=execution.id, seq=1, data=b"run\n")

    purged = retention.purge_history(batch=1)

    assert (purged.invocations, purged.results) == (0, 2)
    assert Invocation.objects.filter(pk=periodic.pk).exists()
    left = set(InvocationResult.objects.filter(invocation=periodic).values_list("pk", flat=True))
    assert left == {periodic.results.get(latest=True).pk, f"{periodic.id}-e2"}
    assert OutputChunk.objects.filter(result_id=f"{periodic.id}-e2").count() == 1


def test_a_purge_out_of_time_stops_between_batches_and_the_next_one_finishes(root_principal, settings):
    settings.ASSIST_HISTORY_DAYS = 28
    instance = make_instance(root_principal)
    for _ in range(3):
        _run(root_principal, instance, age=35 * DAY)

    stopped = retention.purge_history(time_budget=0)
    assert not stopped.complete and Invocation.objects.count() == 3  # nothing half-deleted

    finished = retention.purge_history(batch=1)
    assert finished.complete and finished.invocations == 3
    assert not OutputChunk.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_embedded_ticker_purges_too(root_principal, settings):
    """`manage.py serve` has no Celery beat: its ticker runs the purge (at start, then hourly)."""
    import threading

    from console.web.embedded import start_ticker
    from tests.live import wait_until

    settings.ASSIST_HISTORY_DAYS = 28
    instance = make_instance(root_principal)
    old = _run(root_principal, instance, age=timedelta(days=40))
    recent = _run(root_principal, instance, age=timedelta(days=1))
    stop = threading.Event()
    thread = start_ticker(0.05, stop)
    try:
        wait_until(lambda: not Invocation.objects.filter(pk=old.pk).exists(), timeout=20, message="purge")
    finally:
        stop.set()
        thread.join(10)
    assert Invocation.objects.filter(pk=recent.pk).exists()
    assert not thread.is_alive()


def test_a_purge_stopped_inside_a_run_leaves_its_instance_count_equal_to_its_results(
    root_principal, settings, monkeypatch
):
    """DescribeInvocationResults' TotalCount adds up ``instance_count``: a run whose results are half
    deleted must not count the deleted ones."""
    settings.ASSIST_HISTORY_DAYS = 28
    instances = [make_instance(root_principal, f"web-{n}") for n in range(3)]
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[i.id for i in instances], command_content="x"
    )
    old = timezone.now() - 35 * DAY
    Invocation.objects.filter(pk=invocation.pk).update(created_at=old)
    invocation.results.update(created_at=old, status=st.SUCCESS, finished_at=old)
    # The clock moves one second per result deleted: the budget runs out after two of the three.
    clock = [0.0]
    monkeypatch.setattr(retention.time, "monotonic", lambda: clock[0])

    def tick(**_):
        clock[0] += 1

    post_delete.connect(tick, sender=InvocationResult, weak=False)
    try:
        stopped = retention.purge_history(batch=1, time_budget=1.5)
    finally:
        post_delete.disconnect(tick, sender=InvocationResult)

    assert not stopped.complete and stopped.results == 2
    invocation.refresh_from_db()
    assert invocation.instance_count == invocation.results.filter(latest=True).count() == 1
