"""Channel-layer group memberships that outlive the layer forgetting them.

channels_redis keeps its groups in Redis. A Redis restart (or a flush) empties them while this process's
websockets stay open: an agent that kept its connection would then get no fan-out, redelivery doorbell,
stop or terminal frame until it reconnected, and a browser no live-output doorbell. A membership also
drops out of its group by itself once it is older than the layer's ``group_expiry`` (a day).

So consumers join and leave their groups here. Per event loop, a keeper sends itself a probe through a
group of its own every ``ASSIST_GROUP_PROBE_SECONDS``; when a probe has not come back one period later,
the layer has lost the groups, and the keeper joins every membership again. It also renews them all every
``RENEW_SECONDS``, well inside the expiry. What was sent to a group while it was empty is lost, as with
any doorbell: the database still holds it, and the tick re-rings Pending tasks."""

import asyncio
import logging
import uuid

from channels.layers import get_channel_layer
from django.conf import settings

from console.per_loop import one_per_loop

logger = logging.getLogger(__name__)

PROBE_TYPE = "layer.probe"
RENEW_SECONDS = 3600.0


def probe_seconds() -> float:
    return float(settings.ASSIST_GROUP_PROBE_SECONDS)


class GroupKeeper:
    def __init__(self) -> None:
        self.memberships: set[tuple[str, str]] = set()
        self.watcher: asyncio.Task | None = None
        self.rejoins = 0  # times the layer was found to have lost the groups

    async def join(self, group: str, channel: str) -> None:
        layer = get_channel_layer()
        await layer.group_add(group, channel)
        self.memberships.add((group, channel))
        if self.watcher is None or self.watcher.done():
            self.watcher = asyncio.create_task(self._watch(layer))

    async def leave(self, group: str, channel: str) -> None:
        self.memberships.discard((group, channel))
        if not self.memberships and self.watcher is not None:
            self.watcher.cancel()  # nothing left to keep; the next join starts a new one
            self.watcher = None
        await get_channel_layer().group_discard(group, channel)

    async def _rejoin_all(self, layer, probe_group: str, probe_channel: str) -> None:
        await layer.group_add(probe_group, probe_channel)
        for group, channel in list(self.memberships):
            await layer.group_add(group, channel)

    async def _watch(self, layer) -> None:
        loop = asyncio.get_running_loop()
        probe_channel = await layer.new_channel()
        probe_group = f"layer.probe.{uuid.uuid4().hex}"
        received = [0]  # the highest probe number back so far
        receiver = asyncio.create_task(self._receive_probes(layer, probe_channel, received))
        try:
            sent = 0
            first_after_join = 1  # probes sent before the last (re)join may have gone to an empty group
            join_due = True
            renewed_at = loop.time()
            while True:
                try:
                    if join_due or loop.time() - renewed_at > RENEW_SECONDS:
                        first_after_join = sent + 1
                        await self._rejoin_all(layer, probe_group, probe_channel)
                        renewed_at = loop.time()
                        join_due = False
                    sent += 1
                    await layer.group_send(probe_group, {"type": PROBE_TYPE, "number": sent})
                except Exception:  # the layer is down: try again; once it is back it may have lost all
                    logger.warning("channel layer unreachable; will join this process's groups again")
                    join_due = True
                    await asyncio.sleep(1)
                    continue
                await asyncio.sleep(probe_seconds())
                # The previous probe, not the one just sent: a busy loop may read a probe a period late.
                if sent - 1 >= first_after_join and received[0] < sent - 1:
                    self.rejoins += 1
                    lost = len(self.memberships)
                    logger.warning("the channel layer lost this process's groups; joining %d again", lost)
                    join_due = True
        finally:
            receiver.cancel()

    @staticmethod
    async def _receive_probes(layer, channel: str, received: list[int]) -> None:
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer is down; the watcher notices and rejoins
                await asyncio.sleep(1)
                continue
            if message.get("type") == PROBE_TYPE:
                received[0] = max(received[0], int(message.get("number", 0)))


groups_for_this_loop = one_per_loop(GroupKeeper)
