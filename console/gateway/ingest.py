"""Group commit for agent reports. Every agent connection of this process queues its frames here; one
writer drains whatever has queued up and applies it in a single transaction. Under a burst (hundreds of
agents finishing at once) that turns hundreds of commits into a handful, and the reply to each frame (ack,
resend, error) still goes back to its own connection."""

import asyncio
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

from console.fleet.services import instances_heartbeat
from console.invocations.reports import agent_frames_ingest
from console.per_loop import one_per_loop

logger = logging.getLogger(__name__)

MAX_BATCH = 500

# The writer gets a thread of its own: on the shared thread-sensitive thread it would queue behind page
# views and API calls (and they behind it), so a burst of agent reports would delay every response.
_writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="assist-ingest")


class Ingest:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, str, dict, asyncio.Future]] = asyncio.Queue()
        self.writer: asyncio.Task | None = None

    async def submit(self, instance_id: str, kind: str, fields: dict) -> object:
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((instance_id, kind, fields, future))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while not self.queue.empty():
            batch = [self.queue.get_nowait()]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                apply = database_sync_to_async(
                    agent_frames_ingest, thread_sensitive=False, executor=_writer_thread
                )
                outcomes = await apply(
                    [(instance_id, kind, fields) for instance_id, kind, fields, _ in batch]
                )
            except Exception as error:  # the whole batch failed (database down): every sender hears of it
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (*_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)


# Gathering beats for at most this long, and at most a quarter of the agents' interval, keeps
# last_heartbeat_at within a few seconds of the truth (the offline limit is minutes).
HEARTBEAT_FLUSH_SECONDS = 2.0


def heartbeat_flush_seconds() -> float:
    return min(HEARTBEAT_FLUSH_SECONDS, settings.ASSIST_HEARTBEAT_INTERVAL / 4)


def _heartbeats_write(beats: dict[str, int]) -> None:
    with transaction.atomic():
        instances_heartbeat(beats=beats)


class Heartbeats:
    """A heartbeat only says "still here", and nobody waits for its write: each process gathers the beats
    of all its agents for a moment and writes them in one transaction on the report writer's thread. At
    10,000 agents beating every 30 s that is one transaction every two seconds instead of 333 a second."""

    def __init__(self) -> None:
        self.beats: Counter[str] = Counter()
        self.flusher: asyncio.Task | None = None

    def beat(self, instance_id: str) -> None:
        self.beats[instance_id] += 1
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(heartbeat_flush_seconds())
        beats, self.beats = dict(self.beats), Counter()
        try:
            write = database_sync_to_async(_heartbeats_write, thread_sensitive=False, executor=_writer_thread)
            await write(beats)
        except Exception:  # noqa: BLE001 - the database is down: these beats are lost, the next ones count
            logger.exception("could not record the heartbeats of %d instance(s)", len(beats))
        if self.beats:  # beats that came in while writing wait for the next flush
            self.flusher = asyncio.create_task(self._flush_soon())


ingest_for_this_loop = one_per_loop(Ingest)
heartbeats_for_this_loop = one_per_loop(Heartbeats)
