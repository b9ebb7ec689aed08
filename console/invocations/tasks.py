"""Celery tasks. Each takes ids, re-reads the world, and is harmless to run twice."""

from dataclasses import asdict
from datetime import timedelta

from celery import shared_task
from django.db.models import CharField, Value
from django.utils import timezone

from console.files import services as file_services
from console.invocations import events, retention, services
from console.invocations import status as st
from console.invocations.delivery import invocation_task_runs
from console.invocations.models import Invocation, InvocationResult
from console.invocations.rate import rate_control_sweep

REDELIVER_AFTER_SECONDS = 5


@shared_task(acks_late=True)
def dispatch_invocation(invocation_id: str) -> int:
    """Hand each target agent its task: one message per web node carries the frames of all its agents
    (console/gateway/nodes.py); the tick re-rings any task still Pending a few seconds later."""
    invocation = Invocation.objects.filter(pk=invocation_id).first()
    if invocation is None:
        return 0
    # Rows, not model objects: the invocation is read once, not joined onto each of thousands of results.
    content = "content" if invocation.enable_parameter else Value("", output_field=CharField())
    pending = list(
        # A result queued for a MaxConcurrency slot waits (console/invocations/rate.py).
        InvocationResult.objects.filter(
            invocation_id=invocation_id, status=st.PENDING, queued=False
        ).values_list("id", "instance_id", content)
    )
    events.deliver_tasks(invocation_task_runs(invocation, pending))
    return len(pending)


def redeliver_pending() -> int:
    """Ring again the agents of tasks still Pending a few seconds after creation (a lost doorbell, or a
    connection that moved between nodes); their consumers re-read and resend, the agent journal dedups."""
    cutoff = timezone.now() - timedelta(seconds=REDELIVER_AFTER_SECONDS)
    instance_ids = (
        InvocationResult.objects.filter(status=st.PENDING, queued=False, created_at__lt=cutoff)
        .values_list("instance_id", flat=True)
        .distinct()[:1000]
    )
    events.ring_agents(instance_ids)
    return len(instance_ids)


@shared_task
def tick() -> int:
    aborted = services.results_abort_undelivered()
    services.executions_roll_over_finished()  # periodic tasks: Aborted executions wait for the next run
    services.executions_start_due()
    rate_control_sweep()  # queued results of rate-controlled runs take any free slot
    redeliver_pending()
    services.results_restop()
    services.results_end_for_silent_agents()  # a Running result whose agent never comes back ends
    services.results_end_unconfirmed()  # a task sent to an agent that never said a word about it ends
    file_services.results_tick()  # file transfers (console/files): redelivery and timeouts
    return aborted


@shared_task
def purge_history() -> dict:
    """Delete runs, results and output past ASSIST_HISTORY_DAYS, in small batches (retention.py)."""
    return asdict(retention.purge_history())
