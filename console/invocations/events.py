"""Doorbells on the channel layer. They say only "look again" (or carry a copy of what is already stored):
the data is in the database first, so a dropped or late message costs a little latency and never loses
anything (STYLE rule 8)."""

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from console.gateway.nodes import MESSAGE_TYPE as DELIVER_MESSAGE
from console.gateway.nodes import NODES_GROUP


def invocation_group(invocation_id: str) -> str:
    return f"invocation.{invocation_id}"


def agent_group(instance_id: str) -> str:
    return f"agent.{instance_id}"


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, message)


class _BrowserRings:
    """The doorbells one transaction owes browsers: one per invocation (naming the results that changed),
    all sent on commit in one hop to the event loop."""

    def __init__(self) -> None:
        self.changed: dict[str, set[str]] = {}

    def add(self, invocation_id: str, result_id: str) -> None:
        self.changed.setdefault(invocation_id, set()).add(result_id)

    def __call__(self) -> None:
        layer = get_channel_layer()
        if layer is None:
            return

        async def ring_all() -> None:
            for invocation_id, result_ids in self.changed.items():
                message = {"type": "invocation.changed", "result_ids": sorted(result_ids)}
                await layer.group_send(invocation_group(invocation_id), message)

        async_to_sync(ring_all)()


def ring_browsers_on_commit(invocation_id: str, result_id: str) -> None:
    """Ring the invocation's watchers once the transaction commits, once per invocation per transaction."""
    connection = transaction.get_connection()
    rings = None
    if connection.in_atomic_block:
        rings = next((cb for _, cb, _ in connection.run_on_commit if isinstance(cb, _BrowserRings)), None)
    if rings is not None:
        rings.add(invocation_id, result_id)
        return
    rings = _BrowserRings()
    rings.add(invocation_id, result_id)
    transaction.on_commit(rings)


def deliver_tasks(frames_by_instance: dict[str, list[str]]) -> None:
    """Hand encoded task.run frames to the agents' connections: one message per web node (see
    console/gateway/nodes.py), whatever the number of instances."""
    if frames_by_instance:
        _send(NODES_GROUP, {"type": DELIVER_MESSAGE, "frames": frames_by_instance})


def ring_agents(instance_ids: list[str]) -> None:
    """Tell agents' connections to read their Pending tasks again (a redelivery), in one hop to the
    event loop, the sends overlapping (bounded) when the layer is Redis."""
    layer = get_channel_layer()
    if layer is None or not instance_ids:
        return

    async def ring(instance_id: str, gate: asyncio.Semaphore) -> None:
        async with gate:
            await layer.group_send(agent_group(instance_id), {"type": "agent.deliver"})

    async def ring_all() -> None:
        gate = asyncio.Semaphore(64)
        await asyncio.gather(*(ring(instance_id, gate) for instance_id in instance_ids))

    async_to_sync(ring_all)()


def disconnect_agent(instance_id: str) -> None:
    _send(agent_group(instance_id), {"type": "agent.disconnect"})


def ring_agent_stop(instance_id: str, task_id: str) -> None:
    _send(agent_group(instance_id), {"type": "agent.stop", "task_id": task_id})
