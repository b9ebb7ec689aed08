"""Celery tasks. Each takes ids, re-reads the world, and is harmless to run twice."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from console.invocations import events, services
from console.invocations import status as st
from console.invocations.delivery import encoded_task_runs
from console.invocations.models import InvocationResult

REDELIVER_AFTER_SECONDS = 5


@shared_task(acks_late=True)
def dispatch_invocation(invocation_id: str) -> int:
    """Hand each target agent its task: one message per web node carries the frames of all its agents
    (console/gateway/nodes.py); the tick re-rings any task still Pending a few seconds later."""
    pending = list(
        InvocationResult.objects.filter(invocation_id=invocation_id, status=st.PENDING).select_related(
            "invocation"
        )
    )
    events.deliver_tasks(encoded_task_runs(pending))
    return len(pending)


def redeliver_pending() -> int:
    """Ring again the agents of tasks still Pending a few seconds after creation (a lost doorbell, or a
    connection that moved between nodes); their consumers re-read and resend, the agent journal dedups."""
    cutoff = timezone.now() - timedelta(seconds=REDELIVER_AFTER_SECONDS)
    instance_ids = (
        InvocationResult.objects.filter(status=st.PENDING, created_at__lt=cutoff)
        .values_list("instance_id", flat=True)
        .distinct()[:1000]
    )
    events.ring_agents(instance_ids)
    return len(instance_ids)


@shared_task
def tick() -> int:
    aborted = services.results_abort_undelivered()
    redeliver_pending()
    services.results_restop()
    return aborted
