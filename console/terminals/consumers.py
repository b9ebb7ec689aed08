"""The client end of a terminal session: a browser (session cookie) or an API client (security token).

Wire format (docs/terminals.md):
- binary messages are raw terminal bytes: input from the client, output to it;
- text messages are JSON: from the client ``{"type": "resize", "cols", "rows"}``, ``{"type": "ack",
  "bytes": <total output bytes consumed>}``, ``{"type": "close"}``; to the client ``{"type": "opened"}``,
  ``{"type": "closed", "reason", "detail", "exit_code"}``, ``{"type": "error", "message"}``.
- Query parameters at connect: ``cols`` and ``rows`` (default 80x24); API clients add ``token`` (or send
  the ``X-Acs-Security-Token`` header); browsers may add ``watch=1`` to watch read-only.

Refusals accept the socket and close it at once with a code: 4401 (no login or wrong token), 4403 (not
allowed), 4404 (no such session), 4409 (already connected, ended, or the agent is offline). Nothing is
relayed, and each refusal is one audit event (``console.audit.websocket_door``).
"""

import asyncio
import json
import logging
from urllib.parse import parse_qs

from assist_agent import protocol
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from console.audit.collect import RequestAudit
from console.audit.websocket_door import websocket_refusal_record
from console.errors import NotFound, ServiceError
from console.iam.principal import Principal
from console.invocations import events
from console.layer_groups import groups_for_this_loop
from console.terminals import services
from console.terminals import status as st
from console.web.auth import websocket_principal

logger = logging.getLogger(__name__)

OPEN_TIMEOUT = 15.0  # seconds for the agent to answer session.open (DeliveryTimeout)
OPEN_RETRY = 2.0
TOKEN_HEADER = b"x-acs-security-token"
MAX_INPUT_MESSAGE = 1 << 20
# The audit events of refused connections (accepted ones: TerminalSessionConnected, by the services).
CONNECT_EVENT = "ConnectTerminalSession"
WATCH_EVENT = "WatchTerminalSession"


def close_code(error: ServiceError) -> int:
    if error.status == 401:
        return 4401
    if error.status == 403:
        return 4403
    if isinstance(error, NotFound) or error.status == 404:
        return 4404
    return 4409


def _size(query: dict[str, list[str]], name: str, default: int) -> int:
    try:
        return max(1, min(1000, int(query.get(name, [default])[0])))
    except ValueError:
        return default


class TerminalConsumer(AsyncWebsocketConsumer):
    """``by_token=True`` on the API route (no cookie, no origin check), False on the browser route."""

    by_token = False
    connection: services.Connection | None = None
    watching = False
    ended = False

    async def connect(self) -> None:
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        self.client_ip = (self.scope.get("client") or [""])[0] or ""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.cols, self.rows = _size(query, "cols", 80), _size(query, "rows", 24)
        self.acked = 0
        self.opened = asyncio.Event()
        audit = RequestAudit()  # what authorize refuses on the way goes into the one refusal record
        principal: Principal | None = None
        watch = not self.by_token and query.get("watch", [""])[0] == "1"
        try:
            if self.by_token:
                token = query.get("token", [""])[0] or dict(self.scope.get("headers", [])).get(
                    TOKEN_HEADER, b""
                ).decode("latin-1")
                self.connection = await database_sync_to_async(services.session_connect)(
                    session_id=self.session_id, token=token, client_ip=self.client_ip, audit=audit
                )
            else:
                principal = await websocket_principal(self.scope, source_ip=self.client_ip, audit=audit)
                if watch:
                    await database_sync_to_async(services.session_watch)(
                        principal=principal, session_id=self.session_id
                    )
                    self.watching = True
                else:
                    self.connection = await database_sync_to_async(services.session_connect)(
                        session_id=self.session_id, principal=principal, client_ip=self.client_ip, audit=audit
                    )
        except ServiceError as error:
            await database_sync_to_async(websocket_refusal_record)(
                self.scope,
                event_name=WATCH_EVENT if watch else CONNECT_EVENT,
                close_code=close_code(error),
                error_code=error.code,
                error_message=error.message,
                principal=principal,
                user=self.scope.get("user"),
                audit=audit,
                by_token=self.by_token,
                as_opener=self.by_token and error.code != "AuthFailed",  # the token matched
            )
            await self.accept()
            await self.send(
                text_data=json.dumps({"type": "error", "code": error.code, "message": error.message})
            )
            await self.close(code=close_code(error))
            return
        await groups_for_this_loop().join(services.terminal_group(self.session_id), self.channel_name)
        await self.accept()
        if self.connection is None:  # a watcher only listens
            return
        await database_sync_to_async(services.audit_connect)(
            session_id=self.session_id, client_ip=self.client_ip
        )
        frame = protocol.SessionOpen(cols=self.cols, rows=self.rows, **self.connection.open_frame)
        await self._to_agent(frame)
        self.open_timer = asyncio.ensure_future(self._expect_opened(frame))

    async def _expect_opened(self, frame: protocol.SessionOpen) -> None:
        # session.open is sent again until the agent answers: one sent while the agent was reconnecting
        # reached nobody. The agent ignores an open of a session it runs or ran.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OPEN_TIMEOUT
        while not self.opened.is_set() and loop.time() < deadline:
            try:
                await asyncio.wait_for(self.opened.wait(), min(OPEN_RETRY, deadline - loop.time()))
            except TimeoutError:
                if loop.time() < deadline:
                    await self._to_agent(frame)
        if not self.opened.is_set():
            detail = f"the agent did not open the session within {OPEN_TIMEOUT:g} s"
            # A late open must not leave a shell nobody sees.
            late = protocol.SessionClose(session_id=self.session_id, reason=st.DELIVERY_TIMEOUT)
            await self._to_agent(late)
            await database_sync_to_async(services.session_closed)(
                session_id=self.session_id, instance_id=None, closed_reason=st.DELIVERY_TIMEOUT, detail=detail
            )
            await self.terminal_closed({"reason": st.DELIVERY_TIMEOUT, "detail": detail, "exit_code": None})

    async def _to_agent(self, frame: object) -> None:
        assert self.connection is not None
        await self.channel_layer.group_send(
            events.agent_group(self.connection.instance_id),
            {"type": "terminal.to_agent", "frame": protocol.encode(frame)},
        )

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "open_timer"):
            self.open_timer.cancel()
        await groups_for_this_loop().leave(services.terminal_group(self.session_id), self.channel_name)
        if self.connection is None or self.ended:
            return
        self.ended = True
        await self._to_agent(protocol.SessionClose(session_id=self.session_id, reason=st.CLIENT_CLOSED))
        await database_sync_to_async(services.session_closed)(
            session_id=self.session_id, instance_id=None, closed_reason=st.CLIENT_CLOSED
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.connection is None or self.ended:
            return
        if bytes_data is not None:
            data = bytes_data[:MAX_INPUT_MESSAGE]
            for start in range(0, len(data), protocol.SESSION_CHUNK_SIZE):
                chunk = data[start : start + protocol.SESSION_CHUNK_SIZE]
                await self._to_agent(protocol.SessionInput(session_id=self.session_id, data=chunk))
            return
        try:
            message = json.loads(text_data or "")
            kind = message["type"]
            if kind == "resize":
                cols, rows = int(message["cols"]), int(message["rows"])
                await self._to_agent(protocol.SessionResize(session_id=self.session_id, cols=cols, rows=rows))
            elif kind == "ack":
                total = int(message["bytes"])
                if total > self.acked:
                    self.acked = total
                    await self._to_agent(protocol.SessionAck(session_id=self.session_id, bytes=total))
            elif kind == "close":
                await self.close(code=1000)
            else:
                raise ValueError(kind)
        except (ValueError, KeyError, TypeError, protocol.ProtocolError) as error:
            await self.send(
                text_data=json.dumps(
                    {"type": "error", "message": f"bad control message ({error}); see docs/terminals.md"}
                )
            )

    # from the channel layer -------------------------------------------------------------------------

    async def terminal_output(self, event: dict) -> None:
        await self.send(bytes_data=event["data"])

    async def terminal_opened(self, event: dict) -> None:
        self.opened.set()
        await self.send(text_data=json.dumps({"type": "opened"}))

    async def terminal_closed(self, event: dict) -> None:
        self.ended = True
        if hasattr(self, "open_timer"):
            self.opened.set()
        message = {
            "type": "closed",
            "reason": event["reason"],
            "detail": event["detail"],
            "exit_code": event["exit_code"],
        }
        await self.send(text_data=json.dumps(message))
        await self.close(code=1000)


class TokenTerminalConsumer(TerminalConsumer):
    by_token = True
