"""The agent websocket endpoint: a thin asyncio wrapper around the sans-I/O protocol module.

Every frame is decoded by ``assist_agent.protocol``; every change of state goes through a service. Task
delivery is driven by the database: a doorbell ("agent.deliver") makes the consumer read the instance's
Pending tasks and send each one, so a doorbell that never arrives is repaired by the next connect.

Database access only ever happens inside ``database_sync_to_async``, which closes stale connections
before and after each call; an extra ``aclose_old_connections`` per frame would cost a thread hop each.
"""

import asyncio
import logging
import time
from contextlib import suppress

from assist_agent import protocol
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from console.errors import ServiceError
from console.files.gateway import FileFrames
from console.files.gateway import pending_frames as pending_file_frames
from console.gateway.admission import DISCONNECTED, agent_admit, connection_record
from console.gateway.ingest import heartbeats_for_this_loop, ingest_for_this_loop
from console.gateway.nodes import router_for_this_loop
from console.gateway.ratelimit import FrameBudget
from console.invocations import events, selectors
from console.invocations.delivery import encoded_task_runs
from console.invocations.services import (
    results_abort_for_old_agent,
    results_mark_sent,
)
from console.layer_groups import groups_for_this_loop
from console.terminals.relay import AgentTerminals

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# A ring (the tick's redelivery) sends a Pending task again on the same connection only after this
# long, and a result still missing chunks is answered with task.resend only once per this long: under load
# (a backlog of agent frames) re-sending every Pending task at every tick made each agent answer with all
# its results and all their chunks again, which grew the backlog further (congestion collapse, bench/soak.py).
SAME_CONNECTION_REDELIVERY_SECONDS = 10.0
RESEND_REQUEST_SECONDS = 10.0
# Task reports of one connection go to the ingest without waiting for the previous one's commit
# (the ingest applies them in arrival order), up to this many at a time. Waiting frame by frame capped an
# agent at one frame per commit: after an outage, one with a hundred spooled results needed minutes.
MAX_REPORTS_IN_FLIGHT = 256
REPORT_FRAMES = (protocol.Heartbeat, protocol.TaskStarted, protocol.TaskOutput, protocol.TaskResult)
CLOSE_INTERNAL_ERROR = 1011
# Frames per second one connection may send on average, and at once. An agent replaying its spool
# after an outage sends a result and its chunks in a burst; a flooding one is closed (it reconnects after
# its back-off). Settings ASSIST_AGENT_FRAMES_PER_SECOND / ASSIST_AGENT_FRAME_BURST override them.
FRAMES_PER_SECOND = 2000.0  # 125 MiB/s of 64 KiB output frames: above any honest agent
FRAME_BURST = 10000.0
CLOSE_POLICY_VIOLATION = 1008


class AgentConsumer(AsyncWebsocketConsumer):
    instance_id: str | None = None
    files: FileFrames | None = None
    terminals: AgentTerminals | None = None

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
        self.budget = FrameBudget(
            rate=float(getattr(settings, "ASSIST_AGENT_FRAMES_PER_SECOND", FRAMES_PER_SECOND)),
            burst=float(getattr(settings, "ASSIST_AGENT_FRAME_BURST", FRAME_BURST)),
        )
        self.flooding = False
        self.reports_failed = False  # a report could not be applied: the connection must end
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for job in list(getattr(self, "reports", ())):  # reports already queued are still applied
            job.cancel()
        if self.terminals is not None:
            await self.terminals.agent_gone()
        if self.instance_id:
            router_for_this_loop().detach(self.instance_id, self._send_texts)
            await groups_for_this_loop().leave(events.agent_group(self.instance_id), self.channel_name)
            await database_sync_to_async(connection_record)(  # heartbeat history
                self.instance_id, DISCONNECTED, getattr(self, "agent_version", "")
            )

    async def _send_frame(self, frame: object) -> None:
        await self.send(text_data=protocol.encode(frame))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.flooding:  # closing; what is still queued is dropped (the agent resends it)
            return
        if self.reports_failed:
            # The close asked for by a failed report (in a task of its own) did not always end the
            # connection; ending the consumer does (1011), and the agent reconnects and sends again what
            # was not acknowledged. The agent's next frame (a heartbeat at the latest) gets here.
            raise ConnectionError(f"agent {self.instance_id}: a report could not be applied")
        if not self.budget.take(time.monotonic()):
            self.flooding = True
            logger.warning(
                "agent %s (%s) sent more than %g frames/s (bursts of %g): closing its connection",
                self.instance_id or "before hello",
                self.peer,
                self.budget.rate,
                self.budget.burst,
            )
            await self.close(code=CLOSE_POLICY_VIOLATION)
            return
        try:
            if text_data is not None:
                frame = protocol.decode(text_data, sender="agent")
            elif self.instance_id is None:  # binary before hello: only a welcomed agent of protocol 4 may
                raise protocol.ProtocolError(protocol.MALFORMED_FRAME, "the first frame must be a text hello")
            else:
                frame = protocol.decode_binary(bytes_data or b"", sender="agent")
        except protocol.ProtocolError as error:
            logger.warning("agent %s sent a malformed frame: %s", self.instance_id or self.peer, error)
            await self._send_frame(protocol.Error(code=error.code, message=error.message, ref=error.ref))
            if self.instance_id is None:
                await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if self.instance_id is None:
            await self._hello(frame)
            return
        if isinstance(frame, REPORT_FRAMES):  # pipelined, see MAX_REPORTS_IN_FLIGHT
            await self.report_slots.acquire()
            job = asyncio.ensure_future(self._report(frame))
            self.reports.add(job)
            job.add_done_callback(self.reports.discard)
            return
        try:
            await self._dispatch(frame)
        except ServiceError as error:
            logger.warning("agent %s: %s rejected: %s", self.instance_id, frame.type, error)
            await self._send_frame(protocol.Error(code=error.code, message=error.message, ref=frame.type))

    async def _report(self, frame: object) -> None:
        """One pipelined task report; a failure to apply it (database down) closes the connection,
        so the agent reconnects and sends again what it has not had acknowledged."""
        try:
            await self._dispatch(frame)
        except ServiceError as error:
            logger.warning("agent %s: %s rejected: %s", self.instance_id, frame.type, error)
            await self._send_frame(protocol.Error(code=error.code, message=error.message, ref=frame.type))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "agent %s: %s could not be applied; closing the connection", self.instance_id, frame.type
            )
            self.reports_failed = True
            with suppress(Exception):  # already closed
                await self.close(code=CLOSE_INTERNAL_ERROR)
        finally:
            self.report_slots.release()

    async def _hello(self, frame: object) -> None:
        if not isinstance(frame, protocol.Hello):
            await self._send_frame(
                protocol.Error(code="HelloRequired", message="The first frame must be hello.", ref=frame.type)
            )
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        instance = await database_sync_to_async(agent_admit)(frame)
        if instance is None:
            logger.warning("agent hello from %s refused for %s", self.peer, frame.instance_id)
            await self._send_frame(
                protocol.Error(code="AuthFailed", message="Unknown instance or wrong secret.", ref="hello")
            )
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.instance_id = instance.id
        self.terminals = AgentTerminals(instance.id, self.channel_layer)
        self.files = FileFrames(instance.id)
        self.agent_version = frame.agent_version
        self.peer_protocol = frame.protocol
        self.sent_at: dict[str, float] = {}  # task id -> when its task.run last went out here
        self.report_slots = asyncio.Semaphore(MAX_REPORTS_IN_FLIGHT)
        self.reports: set[asyncio.Future] = set()
        self.resend_asked_at: dict[str, float] = {}
        await self._send_frame(
            protocol.Welcome(
                instance_id=instance.id,
                heartbeat_interval=float(settings.ASSIST_HEARTBEAT_INTERVAL),
                # said only to an agent that knows the field: an older one refuses the welcome
                protocol=protocol.PROTOCOL_VERSION
                if frame.protocol >= protocol.BINARY_OUTPUT_PROTOCOL
                else 0,
            )
        )
        # Join the delivery routes only after welcome: a task.run before it makes the agent drop
        # the connection ("expected welcome"). Anything dispatched meanwhile is Pending: sent just below.
        await groups_for_this_loop().join(events.agent_group(instance.id), self.channel_name)
        router_for_this_loop().attach(instance.id, self._send_texts)
        await self._deliver_pending()
        await self._offer_update(at_connect=True)

    async def _dispatch(self, frame: object) -> None:
        if isinstance(frame, protocol.Heartbeat):
            heartbeats_for_this_loop().beat(self.instance_id)  # written with the node's others soon
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
                # The chunks of an earlier request may still be on their way (and the result
                # follows them): ask once per RESEND_REQUEST_SECONDS, not at every repeat of the result.
                now = time.monotonic()
                if (
                    now - self.resend_asked_at.get(frame.task_id, -RESEND_REQUEST_SECONDS)
                    >= RESEND_REQUEST_SECONDS
                ):
                    self.resend_asked_at[frame.task_id] = now
                    await self._send_frame(protocol.TaskResend(task_id=frame.task_id, seqs=tuple(missing)))
            else:
                await self._send_frame(protocol.TaskAck(task_id=frame.task_id))
        elif isinstance(frame, (protocol.SessionOpened, protocol.SessionOutput, protocol.SessionClosed)):
            if self.terminals is not None:
                await self.terminals.from_agent(frame)
        elif isinstance(frame, (protocol.FileRead, protocol.FileResult)) and self.files is not None:
            await self._send_frame(await self.files.handle(frame))
        elif isinstance(frame, (protocol.UpdateCheck, protocol.UpdateStatus)):
            await self._update_frame(frame)
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
        if self.peer_protocol < protocol.TASK_RUN_PROTOCOL:
            frames = await self._for_older_agent(frames)
        for frame in frames:
            await self.send(text_data=frame)

    async def _for_older_agent(self, frames: list[str]) -> list[str]:
        """An agent of an older protocol refuses task.run fields it does not know: it gets each task as it
        can run it, and a task it cannot run at all (in a container, with a launcher, a dry run) ends at
        once, saying to upgrade."""
        kept: list[str] = []
        refused: dict[str, list[str]] = {}  # what the agent lacks -> the task ids needing it
        for text in frames:
            frame = protocol.decode(text, sender="console")
            if isinstance(frame, protocol.TaskRun):
                runnable = protocol.task_run_for_peer(frame, self.peer_protocol)
                if runnable is None:
                    feature = protocol.task_run_missing_feature(frame, self.peer_protocol)
                    refused.setdefault(feature, []).append(frame.task_id)
                    continue
                text = protocol.encode(runnable)
            kept.append(text)
        for feature, task_ids in refused.items():
            logger.warning(
                "agent %s speaks protocol %d: %d task(s) need an upgrade for %s",
                self.instance_id,
                self.peer_protocol,
                len(task_ids),
                feature,
            )
            await database_sync_to_async(results_abort_for_old_agent)(
                instance_id=self.instance_id, result_ids=task_ids, feature=feature
            )
        return kept

    async def _deliver_pending(self) -> None:
        # Each Pending task once per SAME_CONNECTION_REDELIVERY_SECONDS on this connection.
        def due_frames() -> list[str]:
            now = time.monotonic()
            recent = {k: t for k, t in self.sent_at.items() if now - t < SAME_CONNECTION_REDELIVERY_SECONDS}
            due = [result for result in selectors.pending_tasks(self.instance_id) if result.id not in recent]
            may_go = results_mark_sent([result.id for result in due])
            due = [result for result in due if result.id in may_go]
            self.sent_at = {**recent, **{result.id: now for result in due}}
            return encoded_task_runs(due).get(self.instance_id, [])

        frames = await database_sync_to_async(due_frames)()
        await self._send_texts(frames)
        await self._send_texts(await pending_file_frames(self.instance_id))

    async def agent_deliver(self, event: dict) -> None:
        if self.instance_id:
            await self._deliver_pending()

    async def agent_disconnect(self, event: dict) -> None:
        """The instance was deregistered: its agent's credentials are gone, so is its connection."""
        await self._send_frame(
            protocol.Error(code="AuthFailed", message="This instance has been deregistered.", ref="")
        )
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def terminal_to_agent(self, event: dict) -> None:
        """A terminal client's frame for this agent (console.terminals.relay)."""
        text = await self.terminals.to_agent(event["frame"]) if self.terminals is not None else None
        if text is not None:
            await self.send(text_data=text)

    async def agent_stop(self, event: dict) -> None:
        await self._send_frame(protocol.TaskStop(task_id=event["task_id"]))

    # --- self-update (console.releases; docs/agent-protocol.md "Self-update") ---

    async def agent_update(self, event: dict) -> None:
        """The instance's target version changed: offer it now."""
        if self.instance_id:
            await self._offer_update()

    async def _offer_update(self, at_connect: bool = False) -> None:
        from console.releases.offers import offer_frame

        frame = await database_sync_to_async(offer_frame)(self.instance_id, self.agent_version, at_connect)
        if frame is not None:
            logger.info(
                "offering agent %s to %s (runs %s)", frame.version, self.instance_id, self.agent_version
            )
            await self._send_frame(frame)

    async def _update_frame(self, frame: object) -> None:
        if isinstance(frame, protocol.UpdateCheck):
            await self._offer_update()
            return
        from console.releases.services import instance_update_report

        await database_sync_to_async(instance_update_report)(
            instance_id=self.instance_id, state=frame.state, version=frame.version, detail=frame.detail
        )
