"""Celery tasks. Each takes ids, re-reads the world, and is harmless to run twice."""

from celery import shared_task

from console.invocations import events, services
from console.invocations.models import InvocationResult
from console.invocations import status as st


@shared_task(acks_late=True)
def dispatch_invocation(invocation_id: str) -> int:
    instance_ids = list(
        InvocationResult.objects.filter(invocation_id=invocation_id, status=st.PENDING).values_list(
            "instance_id", flat=True
        )
    )
    for instance_id in instance_ids:
        events.ring_agent(instance_id)
    return len(instance_ids)


@shared_task
def tick() -> int:
    return services.results_abort_undelivered()
