"""Fan-out by node. Every web process that holds agent connections listens on one channel of its own,
member of the group ``gateway.nodes``; a fan-out is then one channel-layer message per node carrying the
task frames of all its instances, which the node hands to its local connections. With Redis that is a
handful of round trips for a 1,000-instance invocation instead of one per instance.

The per-instance groups (``agent.<id>``) stay for single doorbells (redelivery, stop); anything a node
message misses (an agent that connects a moment later, a message that expired) is still Pending in the
database and goes out on the agent's next connect or the tick's redelivery."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from console.layer_groups import groups_for_this_loop
from console.per_loop import one_per_loop

logger = logging.getLogger(__name__)

NODES_GROUP = "gateway.nodes"
TASK_RUN_PREFIX = '{"type":"task.run",'  # protocol.encode writes ``type`` first, compactly
MESSAGE_TYPE = "gateway.deliver"

Deliver = Callable[[list[str]], Awaitable[None]]


class NodeRouter:
    def __init__(self) -> None:
        self.local: dict[str, Deliver] = {}
        self.listener: asyncio.Task | None = None

    def attach(self, instance_id: str, deliver: Deliver) -> None:
        self.local[instance_id] = deliver
        if self.listener is None or self.listener.done():
            self.listener = asyncio.create_task(self._listen())

    def detach(self, instance_id: str, deliver: Deliver) -> None:
        if self.local.get(instance_id) == deliver:
            del self.local[instance_id]

    async def _listen(self) -> None:
        layer = get_channel_layer()
        # The layer's default prefix: channels_redis serves all of a process's channels from one shared
        # list under one receive lock, and a channel with another prefix would starve behind it.
        channel = await layer.new_channel()
        joined = False
        while True:
            try:
                if not joined:
                    # Kept by the group keeper from then on: it joins again after Redis lost the groups.
                    await groups_for_this_loop().join(NODES_GROUP, channel)
                    joined = True
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer is down: keep trying; Pending tasks are redelivered anyway
                logger.exception("node listener could not receive; retrying")
                await asyncio.sleep(1)
                continue
            if message.get("type") != MESSAGE_TYPE:
                continue
            local = {iid: frames for iid, frames in message["frames"].items() if iid in self.local}
            try:
                local = await self._still_to_send(local)
            except Exception:  # database down: not sent now; still Pending, redelivered by the tick
                logger.exception("could not record the sends of a fan-out; left to redelivery")
                continue
            for instance_id, frames in local.items():
                deliver = self.local.get(instance_id)
                if deliver is not None:
                    try:
                        await deliver(frames)
                    except Exception:  # one broken connection must not stop the others' delivery
                        logger.exception("delivery to %s failed", instance_id)

    @staticmethod
    async def _still_to_send(frames_by_instance: dict[str, list[str]]) -> dict[str, list[str]]:
        """The task.run frames of tasks still Pending, recorded as sent (in one statement for the whole
        node) before they go: a task marked sent is never ended as undelivered while its agent may run it."""
        task_ids = {
            text: json.loads(text).get("task_id", "")
            for frames in frames_by_instance.values()
            for text in frames
            if text.startswith(TASK_RUN_PREFIX)
        }
        if not task_ids:
            return frames_by_instance
        from console.invocations.services import results_mark_sent  # services import this module

        may_go = await database_sync_to_async(results_mark_sent)(list(task_ids.values()))
        kept = {
            instance_id: [text for text in frames if text not in task_ids or task_ids[text] in may_go]
            for instance_id, frames in frames_by_instance.items()
        }
        return {instance_id: frames for instance_id, frames in kept.items() if frames}


router_for_this_loop = one_per_loop(NodeRouter)
