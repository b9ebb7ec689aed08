"""Fan-out by node. Every web process that holds agent connections listens on one channel of its own,
member of the group ``gateway.nodes``; a fan-out is then one channel-layer message per node carrying the
task frames of all its instances, which the node hands to its local connections. With Redis that is a
handful of round trips for a 1,000-instance invocation instead of one per instance.

The per-instance groups (``agent.<id>``) stay for single doorbells (redelivery, stop); anything a node
message misses (an agent that connects a moment later, a message that expired) is still Pending in the
database and goes out on the agent's next connect or the tick's redelivery."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

NODES_GROUP = "gateway.nodes"
MESSAGE_TYPE = "gateway.deliver"
REJOIN_SECONDS = 3600.0  # well inside the layer's group expiry (a day by default)

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
        while True:
            await layer.group_add(NODES_GROUP, channel)
            try:
                message = await asyncio.wait_for(layer.receive(channel), REJOIN_SECONDS)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer is down: keep trying; Pending tasks are redelivered anyway
                logger.exception("node listener could not receive; retrying")
                await asyncio.sleep(1)
                continue
            if message.get("type") != MESSAGE_TYPE:
                continue
            for instance_id, frames in message["frames"].items():
                deliver = self.local.get(instance_id)
                if deliver is not None:
                    try:
                        await deliver(frames)
                    except Exception:  # one broken connection must not stop the others' delivery
                        logger.exception("delivery to %s failed", instance_id)


_by_loop: dict[int, NodeRouter] = {}


def router_for_this_loop() -> NodeRouter:
    loop_id = id(asyncio.get_running_loop())
    if loop_id not in _by_loop:
        _by_loop[loop_id] = NodeRouter()
    return _by_loop[loop_id]
