"""Doorbells on the channel layer. They say only "look again": the data is already in the database, so a
dropped or late message costs a little latency and never loses anything (STYLE rule 8)."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def invocation_group(invocation_id: str) -> str:
    return f"invocation.{invocation_id}"


def agent_group(instance_id: str) -> str:
    return f"agent.{instance_id}"


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, message)


def ring_browsers_on_commit(invocation_id: str, result_id: str) -> None:
    transaction.on_commit(
        lambda: _send(invocation_group(invocation_id), {"type": "invocation.changed", "result_id": result_id})
    )


def ring_agent(instance_id: str) -> None:
    _send(agent_group(instance_id), {"type": "agent.deliver"})


def ring_agent_stop(instance_id: str, task_id: str) -> None:
    _send(agent_group(instance_id), {"type": "agent.stop", "task_id": task_id})
