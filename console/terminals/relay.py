"""The agent side of the terminal relay, held by each agent connection (``AgentConsumer``).

Browser/API client  <->  TerminalConsumer  --channel layer-->  AgentConsumer + AgentTerminals  <->  agent

- Client to agent: the client's consumer sends ``{"type": "terminal.to_agent", "frame": <encoded frame>}``
  to the instance's group (``agent.<id>``); the agent's consumer passes it here (``to_agent``), which
  learns the sessions it relays from their ``session.open`` and records resizes.
- Agent to client: ``session.opened/output/closed`` come here (``from_agent``): output is recorded
  (asciicast v2) and sent to the session's group (``terminal.<id>``) as it passes; nothing is buffered.
  The agent never has more than the session's window unacknowledged, so the channel layer never holds
  more than that per session either.

An agent may only speak for sessions that were opened on its own connection: frames naming any other
session are dropped.
"""

import logging
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from assist_agent import protocol
from channels.db import database_sync_to_async
from django.conf import settings

from console.terminals import services
from console.terminals import status as st
from console.terminals.models import TerminalSession
from console.terminals.recording import AsciicastWriter

logger = logging.getLogger(__name__)


@dataclass
class _Relayed:
    session_id: str
    recorder: AsciicastWriter | None = None
    file: BinaryIO | None = None
    opened: bool = False
    output_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _open_recording(session_id: str, cols: int, rows: int) -> tuple[BinaryIO, AsciicastWriter] | None:
    session = TerminalSession.objects.filter(id=session_id).first()
    if session is None:
        return None
    path = session.recording_path
    path.parent.mkdir(parents=True, exist_ok=True)
    out = open(path, "wb")  # noqa: SIM115 - closed when the session ends
    title = f"{session.username}@{session.instance_id} ({session.id})"
    writer = AsciicastWriter(
        out, cols=cols, rows=rows, max_bytes=settings.ASSIST_TERMINAL_RECORDING_MAX_BYTES, title=title
    )
    return out, writer


class AgentTerminals:
    def __init__(self, instance_id: str, channel_layer: Any) -> None:
        self.instance_id = instance_id
        self.layer = channel_layer
        self.sessions: dict[str, _Relayed] = {}

    # client -> agent ------------------------------------------------------------------------------

    async def to_agent(self, text: str) -> str | None:
        """The frame to send to the agent, or None to drop it."""
        try:
            frame = protocol.decode(text, sender="console")
        except protocol.ProtocolError as error:
            logger.error("terminal relay: refusing a bad frame for the agent: %s", error)
            return None
        if isinstance(frame, protocol.SessionOpen):
            if frame.session_id not in self.sessions:
                relayed = self.sessions[frame.session_id] = _Relayed(frame.session_id)
                opened = await database_sync_to_async(_open_recording)(
                    frame.session_id, frame.cols, frame.rows
                )
                if opened is not None:
                    relayed.file, relayed.recorder = opened
        elif isinstance(frame, protocol.SessionResize):
            relayed = self.sessions.get(frame.session_id)
            if relayed is not None and relayed.recorder is not None:
                relayed.recorder.resize(frame.cols, frame.rows)
        return text

    # agent -> client ------------------------------------------------------------------------------

    async def from_agent(self, frame: object) -> None:
        session_id = getattr(frame, "session_id", "")
        relayed = self.sessions.get(session_id)
        if relayed is None:
            logger.warning("agent %s sent %s for session %s, not opened here: dropped",
                           self.instance_id, getattr(frame, "type", "?"), session_id)  # fmt: skip
            return
        group = services.terminal_group(session_id)
        if isinstance(frame, protocol.SessionOutput):
            relayed.output_bytes += len(frame.data)
            if relayed.recorder is not None:
                relayed.recorder.output(frame.data)
            await self.layer.group_send(
                group, {"type": "terminal.output", "seq": frame.seq, "data": frame.data}
            )
        elif isinstance(frame, protocol.SessionOpened):
            relayed.opened = True
            await database_sync_to_async(services.session_opened)(
                session_id=session_id, instance_id=self.instance_id
            )
            await self.layer.group_send(group, {"type": "terminal.opened"})
        elif isinstance(frame, protocol.SessionClosed):
            reason = st.closed_reason_of_agent(frame.reason)
            await self._finish(relayed, reason, frame.detail, frame.exit_code)

    async def _finish(self, relayed: _Relayed, reason: str, detail: str, exit_code: int | None) -> None:
        self.sessions.pop(relayed.session_id, None)
        if relayed.recorder is not None and relayed.file is not None:
            relayed.recorder.close()
            relayed.file.close()
            await database_sync_to_async(services.recording_measured)(
                session_id=relayed.session_id,
                size=relayed.recorder.size,
                truncated=relayed.recorder.truncated,
            )
        await database_sync_to_async(services.session_closed)(
            session_id=relayed.session_id,
            instance_id=self.instance_id,
            closed_reason=reason,
            detail=detail,
            exit_code=exit_code,
        )
        await self.layer.group_send(
            services.terminal_group(relayed.session_id),
            {"type": "terminal.closed", "reason": reason, "detail": detail, "exit_code": exit_code},
        )

    async def agent_gone(self) -> None:
        """The agent's connection closed: it ends its shells itself; tell the clients and the database."""
        for relayed in list(self.sessions.values()):
            await self._finish(relayed, st.AGENT_SOCKET_CLOSED, "the agent's connection closed", None)
