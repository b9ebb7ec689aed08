"""Rate control (MaxConcurrency, MaxErrors): the queue of a run, releases as results end, cancellation
past the error budget, with the agent's reports going through the same batch path the gateway uses."""

from datetime import timedelta

import pytest
from django.utils import timezone

from console.invocations import reports, services
from console.invocations import status as st
from console.invocations.models import InvocationResult
from console.invocations.selectors import pending_tasks
from tests.conftest import make_instance
from tests.invocations.test_periodic import agent_runs

pytestmark = pytest.mark.django_db


def run(principal, instances, **options):
    return services.invocation_run_command(
        principal=principal, instance_ids=[i.id for i in instances], command_content="echo hi", **options
    )


def rows(invocation):
    """(instance name, status, queued) of each latest result, in instance id order."""
    results = InvocationResult.objects.filter(invocation=invocation, latest=True).order_by("instance_id")
    return [(r.instance_id, r.status, r.queued) for r in results]


def result_of(invocation, instance):
    return InvocationResult.objects.get(invocation=invocation, instance=instance, latest=True)


@pytest.fixture
def three(root_principal):
    return sorted((make_instance(root_principal, name) for name in ("a", "b", "c")), key=lambda i: i.id)


def test_max_concurrency_one_runs_them_one_after_another(root_principal, three):
    a, b, c = three
    invocation = run(root_principal, three, max_concurrency="1")
    assert rows(invocation) == [(a.id, st.PENDING, False), (b.id, st.PENDING, True), (c.id, st.PENDING, True)]
    assert pending_tasks(b.id) == [] and pending_tasks(c.id) == []  # queued ones are not delivered

    agent_runs(result_of(invocation, a))
    assert rows(invocation) == [
        (a.id, st.SUCCESS, False),
        (b.id, st.PENDING, False),
        (c.id, st.PENDING, True),
    ]
    assert [t.id for t in pending_tasks(b.id)] == [result_of(invocation, b).id]
    agent_runs(result_of(invocation, b), status=st.FAILED, exit_code=1)
    assert rows(invocation)[2] == (c.id, st.PENDING, False)
    agent_runs(result_of(invocation, c))
    assert [status for _, status, _ in rows(invocation)] == [st.SUCCESS, st.FAILED, st.SUCCESS]


def test_the_first_slots_go_in_instance_id_order_whatever_the_request_order(root_principal, three):
    invocation = run(root_principal, list(reversed(three)), max_concurrency="1")
    assert [queued for _, _, queued in rows(invocation)] == [False, True, True]


def test_a_percentage_of_the_targets_rounds_up(root_principal, three):
    invocation = run(root_principal, three, max_concurrency="50%")
    assert [queued for _, _, queued in rows(invocation)] == [False, False, True]


def test_max_errors_zero_cancels_the_rest_after_one_failure(root_principal, three):
    a, b, c = three
    invocation = run(root_principal, three, max_concurrency="1", max_errors="0")
    agent_runs(result_of(invocation, a), status=st.FAILED, exit_code=3)
    assert [status for _, status, _ in rows(invocation)] == [st.FAILED, st.CANCELLED, st.CANCELLED]
    cancelled = result_of(invocation, b)
    assert cancelled.error_code == "MaxErrorsExceeded"
    assert "MaxErrors=0" in cancelled.error_info and cancelled.finished_at is not None
    assert pending_tasks(c.id) == []


def test_max_errors_counts_failed_error_and_timeout_only(root_principal, three):
    a, b, c = three
    invocation = run(root_principal, three, max_concurrency="1", max_errors="1")
    agent_runs(result_of(invocation, a), status=st.TIMEOUT, exit_code=None)
    assert rows(invocation)[1] == (b.id, st.PENDING, False)  # one failure is within the budget
    agent_runs(result_of(invocation, b), status=st.ERROR, exit_code=None)
    assert rows(invocation)[2][1] == st.CANCELLED


def test_max_errors_without_concurrency_cancels_the_not_started(root_principal, three):
    a, b, c = three
    invocation = run(root_principal, three, max_errors="0")
    reports.result_record_started(instance_id=b.id, task_id=result_of(invocation, b).id, started_at=1.0)
    agent_runs(result_of(invocation, a), status=st.FAILED, exit_code=1)
    # b had started: it runs on; c had not: cancelled.
    assert [status for _, status, _ in rows(invocation)] == [st.FAILED, st.RUNNING, st.CANCELLED]


def test_queued_results_are_not_timed_out_and_an_aborted_one_frees_its_slot(root_principal, three, settings):
    a, b, c = three
    invocation = run(root_principal, three, max_concurrency="1")
    later = timezone.now() + timedelta(seconds=settings.ASSIST_DELIVERY_TIMEOUT + 5)
    assert services.results_abort_undelivered(now=later) == 1
    assert rows(invocation) == [
        (a.id, st.ABORTED, False),
        (b.id, st.PENDING, False),
        (c.id, st.PENDING, True),
    ]
    assert result_of(invocation, b).created_at >= later - timedelta(seconds=1)  # its delivery clock restarts


def test_a_stop_cancels_the_queued_ones(root_principal, three):
    invocation = run(root_principal, three, max_concurrency="1")
    services.invocation_stop(principal=root_principal, invocation_id=invocation.id)
    assert {status for _, status, _ in rows(invocation)} == {st.CANCELLED}


def test_a_periodic_task_applies_the_limits_to_each_run(root_principal, three):
    a, b, c = three
    invocation = run(root_principal, three, frequency="rate(5m)", max_concurrency="1", max_errors="0")
    assert {(status, queued) for _, status, queued in rows(invocation)} == {(st.SCHEDULED, False)}
    first_run = invocation.created_at + timedelta(minutes=5)
    assert services.executions_start_due(now=first_run) == 3
    assert rows(invocation) == [(a.id, st.PENDING, False), (b.id, st.PENDING, True), (c.id, st.PENDING, True)]
    agent_runs(result_of(invocation, a))
    agent_runs(result_of(invocation, b), status=st.FAILED, exit_code=1)
    # c is cancelled for this run and, like the others, waits for the next one.
    assert {status for _, status, _ in rows(invocation)} == {st.SCHEDULED}
    history = InvocationResult.objects.filter(invocation=invocation, latest=False)
    assert sorted(r.status for r in history) == sorted([st.SUCCESS, st.FAILED, st.CANCELLED])
    # The next run starts with a clean error budget.
    assert services.executions_start_due(now=first_run + timedelta(minutes=5)) == 3
    assert rows(invocation) == [(a.id, st.PENDING, False), (b.id, st.PENDING, True), (c.id, st.PENDING, True)]
    agent_runs(result_of(invocation, a))
    assert rows(invocation)[1] == (b.id, st.PENDING, False)


def test_ingest_cost_does_not_grow_with_the_batch(root_principal, django_assert_max_num_queries):
    """One batch finishing results of many rate-controlled invocations costs a fixed number of statements."""
    instances = [make_instance(root_principal, f"h{n}") for n in range(4)]

    def batch(count):
        items = []
        for _ in range(count):
            invocation = run(root_principal, instances, max_concurrency="2", max_errors="3")
            for result in InvocationResult.objects.filter(invocation=invocation, queued=False):
                items.append(
                    (result.instance_id, "result", {
                        "task_id": result.id, "status": st.FAILED, "exit_code": 1, "error_code": "",
                        "error_info": "", "started_at": 1.0, "finished_at": 2.0, "last_seq": 0,
                    })
                )  # fmt: skip
        return items

    small, large = batch(1), batch(8)
    with django_assert_max_num_queries(20) as small_queries:
        reports.agent_frames_ingest(small)
    with django_assert_max_num_queries(len(small_queries.captured_queries)) as _:
        reports.agent_frames_ingest(large)
    assert InvocationResult.objects.filter(status=st.PENDING, queued=False).count() == 18


def test_the_tick_sweep_fills_a_slot_freed_outside_the_report_path(root_principal, three):
    from console.invocations.rate import rate_control_sweep

    a, b, c = three
    invocation = run(root_principal, three, max_concurrency="1")
    InvocationResult.objects.filter(invocation=invocation, instance=a).update(status=st.SUCCESS)
    assert rate_control_sweep() == []
    assert rows(invocation) == [
        (a.id, st.SUCCESS, False),
        (b.id, st.PENDING, False),
        (c.id, st.PENDING, True),
    ]
    rate_control_sweep()  # nothing more is free
    assert rows(invocation)[2] == (c.id, st.PENDING, True)


@pytest.mark.django_db(transaction=True)
def test_two_batches_ending_results_at_once_release_two_slots(root_principal):
    """Two gateway batches each end one result of the same run at the same moment: the invocation's row
    lock makes the second see the first's release, so both freed slots are used (PostgreSQL: row locks;
    SQLite serialises the writers)."""
    import threading

    from django.db import connection

    instances = sorted((make_instance(root_principal, f"h{n}") for n in range(6)), key=lambda i: i.id)
    invocation = run(root_principal, instances, max_concurrency="2")
    first, second = (result_of(invocation, instance) for instance in instances[:2])
    barrier = threading.Barrier(2)

    def finish(result):
        try:
            barrier.wait(timeout=30)
            agent_runs(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=finish, args=(result,)) for result in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [(status, queued) for _, status, queued in rows(invocation)] == [
        (st.SUCCESS, False), (st.SUCCESS, False), (st.PENDING, False), (st.PENDING, False),
        (st.PENDING, True), (st.PENDING, True),
    ]  # fmt: skip
