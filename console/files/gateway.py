"""The agent connection's side of file transfers, kept out of the consumer: one ``FileFrames`` per agent
connection answers ``file.read`` (from the content store, read in a worker thread so a 256 KiB read
never stalls the event loop) and ``file.result`` (stored, then ``task.ack``)."""

import asyncio

from assist_agent import protocol
from channels.db import database_sync_to_async

from console.errors import ServiceError
from console.files import services, storage


class FileFrames:
    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self.open: dict[str, services.Content] = {}  # task id -> content, after its first read

    async def handle(self, frame: object) -> protocol.Frame:
        if isinstance(frame, protocol.FileRead):
            return await self._read(frame)
        if isinstance(frame, protocol.FileResult):
            return await self._result(frame)
        raise TypeError(f"not a file frame: {frame!r}")

    async def _read(self, frame: protocol.FileRead) -> protocol.Frame:
        content = self.open.get(frame.task_id)
        if content is None:
            try:
                content = await database_sync_to_async(services.transfer_read_open)(
                    instance_id=self.instance_id, task_id=frame.task_id
                )
            except ServiceError as error:
                return protocol.FileAbort(task_id=frame.task_id, reason=error.message)
            self.open[frame.task_id] = content
        if frame.offset >= content.size:
            return protocol.FileData(task_id=frame.task_id, offset=frame.offset, data=b"")
        try:
            data = await asyncio.get_running_loop().run_in_executor(
                None, storage.read_chunk, content.sha256, frame.offset, frame.length
            )
        except OSError as error:
            return protocol.FileAbort(
                task_id=frame.task_id, reason=f"the server cannot read the file: {error}"
            )
        return protocol.FileData(task_id=frame.task_id, offset=frame.offset, data=data)

    async def _result(self, frame: protocol.FileResult) -> protocol.Frame:
        self.open.pop(frame.task_id, None)
        await database_sync_to_async(services.result_store)(
            instance_id=self.instance_id,
            task_id=frame.task_id,
            status=frame.status,
            error_code=frame.error_code,
            error_info=frame.error_info,
            started_at=frame.started_at,
            finished_at=frame.finished_at,
        )
        # Acked even when the task is unknown here (deleted): the agent may then forget it.
        return protocol.TaskAck(task_id=frame.task_id)


async def pending_frames(instance_id: str) -> list[str]:
    return await database_sync_to_async(services.pending_send_frames)(instance_id)
