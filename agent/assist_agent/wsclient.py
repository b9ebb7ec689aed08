"""A small asyncio WebSocket client over ``assist_agent.wsframes`` (the agent needs nothing more).

    ws = await connect("ws://host/ws/agent/", open_timeout=15, extra_headers={"User-Agent": "..."})
    async with ws:
        await ws.send("text")
        message = await ws.recv()   # str (text) or bytes (binary); raises ConnectionClosed at the end

- A background task reads frames: it queues messages for ``recv()`` (at most ``max_queue``; then it
  stops reading, so TCP pushes back on the server), answers pings, and echoes the server's close.
- Keepalive: after ``ping_interval`` seconds in which nothing was received, a ping; no pong within
  ``ping_timeout`` and the connection is dropped (a half-open TCP connection never answers), so
  ``recv()`` raises. A server that is heard from is alive: it is not pinged (thousands of agents'
  pings would otherwise cost the server more than their heartbeats).
- ``send()`` waits for ``writer.drain()``: a slow server slows the sender instead of growing a buffer.
- ``close()`` runs the close handshake, bounded by ``close_timeout``, then closes the socket.
- ``ssl`` is imported only for ``wss://`` URLs.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from . import wsframes
from .wsframes import HandshakeError, InvalidURL, ProtocolError, WebSocketError

__all__ = [
    "Connection",
    "ConnectionClosed",
    "HandshakeError",
    "InvalidURL",
    "ProtocolError",
    "WebSocketError",
    "connect",
]

log = logging.getLogger("assist_agent.ws")

READ_SIZE = 64 * 1024
# What a timeout raises: asyncio.wait_for raises asyncio.TimeoutError, the built-in TimeoutError only
# from Python 3.11 on (the agent runs on 3.8 and newer).
TIMEOUT_ERRORS = (TimeoutError, asyncio.TimeoutError)


class ConnectionClosed(WebSocketError):
    """The connection is closed (or closing): ``send()`` and ``recv()`` raise it.

    ``received`` tells whether the server sent a close frame; then ``code`` and ``reason`` are its
    (``code`` 1005 if it had none). Otherwise ``code`` is 1006 and ``reason`` says what happened.
    """

    def __init__(self, code: int, reason: str, *, received: bool) -> None:
        self.code = code
        self.reason = reason
        self.received = received
        if received:
            text = f"closed by the server with code {code}" + (f" ({reason})" if reason else "")
        else:
            text = f"connection closed abnormally: {reason or 'no close frame'}"
        super().__init__(text)


def _mask() -> bytes:
    return os.urandom(4)


def _ssl_context() -> Any:
    import ssl  # only for wss://: it maps OpenSSL, megabytes of memory
    from asyncio import sslproto

    if getattr(sslproto, "ssl", None) is None:
        raise WebSocketError("wss:// is not available: asyncio was imported without ssl")
    return ssl.create_default_context()


async def connect(
    url: str,
    *,
    open_timeout: float = 10.0,
    extra_headers: Mapping[str, str] | None = None,
    max_size: int = wsframes.DEFAULT_MAX_SIZE,
    max_queue: int = 16,
    ping_interval: float | None = 20.0,
    ping_timeout: float = 20.0,
    close_timeout: float = 5.0,
    ssl: Any = None,
) -> Connection:
    """Open a WebSocket; raises ``OSError``, ``TimeoutError``, ``InvalidURL`` or ``HandshakeError``.

    ``ssl``: an ``ssl.SSLContext`` for ``wss://`` (default: a verifying ``create_default_context()``).
    """
    target = wsframes.parse_url(url)
    context = (ssl or _ssl_context()) if target.secure else None
    key = wsframes.make_key(os.urandom(16))
    request = wsframes.build_request(target, key, extra_headers)

    async def handshake() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # The reader's limit (64 KiB) also bounds the response head readuntil() accepts.
        reader, writer = await asyncio.open_connection(target.host, target.port, ssl=context)
        try:
            writer.write(request)
            await writer.drain()
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                raise HandshakeError("the server closed the connection during the handshake") from None
            except asyncio.LimitOverrunError:
                raise HandshakeError("the handshake response headers are too large") from None
            wsframes.check_response(head, key)
        except BaseException:
            writer.transport.abort()
            raise
        return reader, writer

    # asyncio.wait_for, not asyncio.timeout (3.11+): the agent runs on Python 3.8 too, where
    # asyncio.TimeoutError is not the built-in TimeoutError that callers catch.
    try:
        reader, writer = await asyncio.wait_for(handshake(), open_timeout)
    except TIMEOUT_ERRORS:
        raise TimeoutError(f"no WebSocket handshake within {open_timeout:g} s") from None
    return Connection(
        reader,
        writer,
        max_size=max_size,
        max_queue=max_queue,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        close_timeout=close_timeout,
    )


class Connection:
    """An open client WebSocket (made by ``connect()``)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_size: int = wsframes.DEFAULT_MAX_SIZE,
        max_queue: int = 16,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 20.0,
        close_timeout: float = 5.0,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = wsframes.Parser(max_size)
        self._max_queue = max(1, max_queue)
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._close_timeout = close_timeout
        self._messages: deque[str | bytes] = deque()
        self._readable = asyncio.Event()  # set: a message is queued, or the connection is closed
        self._resume = asyncio.Event()  # cleared while the queue is full: the reader pauses
        self._resume.set()
        self._send_lock = asyncio.Lock()
        self._close_sent = False
        self._close_received: wsframes.Close | None = None
        self._closed: ConnectionClosed | None = None  # set once the connection is over
        self._pong: asyncio.Future[None] | None = None
        self._last_received = asyncio.get_running_loop().time()
        self._reader_task = asyncio.create_task(self._read_loop())
        self._keepalive_task = asyncio.create_task(self._keepalive()) if ping_interval else None

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def set_ping_interval(self, seconds: float) -> None:
        """Ping after ``seconds`` without hearing from the server from now on (keepalive must be on)."""
        self._ping_interval = seconds

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # sending --------------------------------------------------------------------------------------

    async def send(self, message: str | bytes) -> None:
        """Send a text (``str``) or binary message; waits while the socket's buffer is full."""
        if isinstance(message, str):
            frame = wsframes.encode_text(message, _mask())
        else:
            frame = wsframes.encode_binary(message, _mask())
        async with self._send_lock:  # drain() is not meant for concurrent callers
            self._check_open()
            self._writer.write(frame)
            try:
                await self._writer.drain()
            except (ConnectionError, OSError) as exc:
                self._abort(f"write failed: {exc or type(exc).__name__}")
                raise self._closing_error() from exc

    def _check_open(self) -> None:
        if self._close_sent or self._close_received is not None or self._closed is not None:
            raise self._closing_error()
        if self._writer.transport.is_closing():
            self._abort("the transport is closed")
            raise self._closing_error()

    def _closing_error(self) -> ConnectionClosed:
        if self._closed is not None:
            return self._closed
        received = self._close_received
        if received is not None:
            return ConnectionClosed(received.code, received.reason, received=True)
        return ConnectionClosed(wsframes.CLOSE_ABNORMAL, "closing", received=False)

    def _write_control(self, frame: bytes) -> None:
        """Queue a small control frame without waiting for the buffer (never blocks the reader)."""
        if not self._writer.transport.is_closing():
            self._writer.write(frame)

    # receiving ------------------------------------------------------------------------------------

    async def recv(self) -> str | bytes:
        """The next message; raises ``ConnectionClosed`` once the queue is empty and the connection over."""
        while not self._messages:
            if self._closed is not None:
                raise self._closed
            self._readable.clear()
            await self._readable.wait()
        message = self._messages.popleft()
        if len(self._messages) < self._max_queue:
            self._resume.set()
        return message

    async def _read_loop(self) -> None:
        code, reason, received = wsframes.CLOSE_ABNORMAL, "", False
        try:
            while True:
                data = await self._reader.read(READ_SIZE)
                if not data:
                    reason = "the server closed the TCP connection without a close frame"
                    return
                self._last_received = asyncio.get_running_loop().time()
                self._parser.feed(data)
                while (event := self._parser.next_event()) is not None:
                    if isinstance(event, wsframes.Message):
                        self._messages.append(event.data)
                        self._readable.set()
                    elif isinstance(event, wsframes.Ping):
                        if not self._close_sent:
                            self._write_control(wsframes.encode_pong(event.data, _mask()))
                    elif isinstance(event, wsframes.Pong):
                        if self._pong is not None and not self._pong.done():
                            self._pong.set_result(None)
                    else:
                        code, reason, received = event.code, event.reason, True
                        self._close_received = event
                        if not self._close_sent:  # echo it (RFC 6455 §5.5.1)
                            self._close_sent = True
                            echo = None if event.code == wsframes.CLOSE_NO_STATUS else event.code
                            self._write_control(wsframes.encode_close(echo, "", _mask()))
                        await self._wait_for_eof()  # the server closes TCP first (§7.1.1)
                        return
                if len(self._messages) >= self._max_queue:
                    self._resume.clear()
                    await self._resume.wait()
        except wsframes.ProtocolError as exc:
            reason = f"protocol error: {exc}"
            if not self._close_sent:
                self._close_sent = True
                self._write_control(wsframes.encode_close(exc.code, "", _mask()))
        except (ConnectionError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
        finally:
            self._finish(ConnectionClosed(code, reason, received=received))

    async def _wait_for_eof(self) -> None:
        try:
            await asyncio.wait_for(self._read_to_eof(), self._close_timeout)
        except (*TIMEOUT_ERRORS, ConnectionError, OSError):
            pass

    async def _read_to_eof(self) -> None:
        while await self._reader.read(READ_SIZE):
            pass

    # keepalive ------------------------------------------------------------------------------------

    async def _keepalive(self) -> None:
        assert self._ping_interval is not None
        loop = asyncio.get_running_loop()
        while True:
            silent_for = loop.time() - self._last_received
            if silent_for < self._ping_interval:
                await asyncio.sleep(self._ping_interval - silent_for)
                continue
            if self._close_sent or self._closed is not None:
                return
            self._pong = pong = loop.create_future()
            self._write_control(wsframes.encode_ping(os.urandom(4), _mask()))
            try:
                await asyncio.wait_for(pong, self._ping_timeout)
            except TIMEOUT_ERRORS:
                log.debug("no pong within %g s: dropping the connection", self._ping_timeout)
                self._abort(f"no pong within {self._ping_timeout:g} s (keepalive)")
                return

    # closing --------------------------------------------------------------------------------------

    async def close(self, code: int = wsframes.CLOSE_NORMAL, reason: str = "") -> None:
        """Close handshake (at most ``close_timeout`` seconds), then the socket is closed."""
        try:
            if self._closed is None and not self._close_sent:
                self._close_sent = True
                self._write_control(wsframes.encode_close(code, reason, _mask()))
            self._resume.set()  # a paused reader must go on to read the server's close
            done, _ = await asyncio.wait({self._reader_task}, timeout=self._close_timeout)
            if not done:
                self._abort("the close handshake timed out")
        finally:
            if self._closed is None:  # cancelled: do not leave the socket behind
                self._abort("closed before the close handshake finished")
            if not self._reader_task.done():
                self._reader_task.cancel()

    def _abort(self, reason: str) -> None:
        """Drop the connection now (no close handshake)."""
        self._finish(ConnectionClosed(wsframes.CLOSE_ABNORMAL, reason, received=False), abort=True)

    def _finish(self, closed: ConnectionClosed, *, abort: bool = False) -> None:
        if self._closed is None:
            self._closed = closed
            log.debug("websocket %s", closed)
        self._readable.set()
        self._resume.set()
        if self._pong is not None and not self._pong.done():
            self._pong.cancel()
        if self._keepalive_task is not None and self._keepalive_task is not asyncio.current_task():
            self._keepalive_task.cancel()
        transport = self._writer.transport
        if abort:
            transport.abort()
        elif not transport.is_closing():
            transport.close()  # flushes a queued close frame first; abort if that takes too long
            asyncio.get_running_loop().call_later(self._close_timeout, transport.abort)
