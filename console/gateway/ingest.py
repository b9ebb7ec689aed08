"""Group commit for agent reports. Every agent connection of this process queues its frames here; one
writer drains whatever has queued up and applies it in a single transaction. Under a burst (hundreds of
agents finishing at once) that turns hundreds of commits into a handful, and the reply to each frame (ack,
resend, error) still goes back to its own connection."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async

from console.invocations.reports import agent_frames_ingest

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


_by_loop: dict[int, Ingest] = {}


def ingest_for_this_loop() -> Ingest:
    loop_id = id(asyncio.get_running_loop())
    if loop_id not in _by_loop:
        _by_loop[loop_id] = Ingest()
    return _by_loop[loop_id]
