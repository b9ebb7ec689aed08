"""The agent websocket endpoint: a thin asyncio wrapper around the sans-I/O protocol module.

Every frame is decoded by ``assist_agent.protocol``; every change of state goes through a service. Task
delivery is driven by the database: a doorbell ("agent.deliver") makes the consumer read the instance's
Pending tasks and send each one, so a doorbell that never arrives is repaired by the next connect.

Database access only ever happens inside ``database_sync_to_async``, which closes stale connections
before and after each call; an extra ``aclose_old_connections`` per frame would cost a thread hop each.
"""

import logging

from assist_agent import protocol
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from console.errors import ServiceError
from console.fleet import services as fleet_services
from console.gateway.ingest import ingest_for_this_loop
from console.gateway.nodes import router_for_this_loop
from console.invocations import events, selectors
from console.invocations.delivery import encoded_task_runs

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401


class AgentConsumer(AsyncWebsocketConsumer):
    instance_id: str | None = None

    async def dispatch(self, message: dict) -> None:
        # Channels' default dispatch hops to the shared sync thread (aclose_old_connections) before every
        # message; at hundreds of agent frames per second that hop queue delays page views and API calls.
        # Our database work runs in database_sync_to_async, which closes stale connections itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.peer = (self.scope.get("client") or ["?"])[0]
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.instance_id:
            router_for_this_loop().detach(self.instance_id, self._send_texts)
            await self.channel_layer.group_discard(events.agent_group(self.instance_id), self.channel_name)

    async def _send_frame(self, frame: object) -> None:
        await self.send(text_data=protocol.encode(frame))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = protocol.decode(text_data if text_data is not None else bytes_data or b"", sender="agent")
        except protocol.ProtocolError as error:
            logger.warning("agent %s sent a malformed frame: %s", self.instance_id or self.peer, error)
            await self._send_frame(protocol.Error(code=error.code, message=error.message, ref=error.ref))
            if self.instance_id is None:
                await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if self.instance_id is None:
            await self._hello(frame)
            return
        try:
            await self._dispatch(frame)
        except ServiceError as error:
            logger.warning("agent %s: %s rejected: %s", self.instance_id, frame.type, error)
            await self._send_frame(protocol.Error(code=error.code, message=error.message, ref=frame.type))

    async def _hello(self, frame: object) -> None:
        if not isinstance(frame, protocol.Hello):
            await self._send_frame(
                protocol.Error(code="HelloRequired", message="The first frame must be hello.", ref=frame.type)
            )
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        instance = await database_sync_to_async(fleet_services.instance_authenticate)(
            instance_id=frame.instance_id, secret=frame.secret
        )
        if instance is None:
            logger.warning("agent hello from %s refused for %s", self.peer, frame.instance_id)
            await self._send_frame(
                protocol.Error(code="AuthFailed", message="Unknown instance or wrong secret.", ref="hello")
            )
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await database_sync_to_async(fleet_services.instance_hello)(
            instance=instance,
            agent_version=frame.agent_version,
            os_type=frame.os_type,
            os_name=frame.os_name,
            hostname=frame.hostname,
            ips=list(frame.ips),
            boot_id=frame.boot_id,
        )
        self.instance_id = instance.id
        await self.channel_layer.group_add(events.agent_group(instance.id), self.channel_name)
        router_for_this_loop().attach(instance.id, self._send_texts)
        await self._send_frame(
            protocol.Welcome(
                instance_id=instance.id, heartbeat_interval=float(settings.ASSIST_HEARTBEAT_INTERVAL)
            )
        )
        await self._deliver_pending()

    async def _dispatch(self, frame: object) -> None:
        if isinstance(frame, protocol.Heartbeat):
            await self._ingest("heartbeat", {})
        elif isinstance(frame, protocol.TaskStarted):
            await self._ingest("started", {"task_id": frame.task_id, "started_at": frame.started_at})
        elif isinstance(frame, protocol.TaskOutput):
            await self._ingest("output", {"task_id": frame.task_id, "seq": frame.seq, "data": frame.data})
        elif isinstance(frame, protocol.TaskResult):
            missing = await self._ingest(
                "result",
                {
                    "task_id": frame.task_id,
                    "status": frame.status,
                    "exit_code": frame.exit_code,
                    "error_code": frame.error_code,
                    "error_info": frame.error_info,
                    "started_at": frame.started_at,
                    "finished_at": frame.finished_at,
                    "last_seq": frame.last_seq,
                },
            )
            if missing:
                await self._send_frame(protocol.TaskResend(task_id=frame.task_id, seqs=tuple(missing)))
            else:
                await self._send_frame(protocol.TaskAck(task_id=frame.task_id))
        else:
            await self._send_frame(
                protocol.Error(
                    code="UnexpectedFrame", message=f"{frame.type} is not sent by agents.", ref=frame.type
                )
            )

    async def _ingest(self, kind: str, fields: dict) -> object:
        outcome = await ingest_for_this_loop().submit(self.instance_id, kind, fields)
        if isinstance(outcome, ServiceError):
            raise outcome
        return outcome

    async def _send_texts(self, frames: list[str]) -> None:
        for frame in frames:
            await self.send(text_data=frame)

    async def _deliver_pending(self) -> None:
        frames = await database_sync_to_async(
            lambda: encoded_task_runs(selectors.pending_tasks(self.instance_id)).get(self.instance_id, [])
        )()
        await self._send_texts(frames)

    async def agent_deliver(self, event: dict) -> None:
        if self.instance_id:
            await self._deliver_pending()

    async def agent_disconnect(self, event: dict) -> None:
        """The instance was deregistered: its agent's credentials are gone, so is its connection."""
        await self._send_frame(
            protocol.Error(code="AuthFailed", message="This instance has been deregistered.", ref="")
        )
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def agent_stop(self, event: dict) -> None:
        await self._send_frame(protocol.TaskStop(task_id=event["task_id"]))
