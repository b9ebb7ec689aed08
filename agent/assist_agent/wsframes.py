"""A sans-I/O WebSocket client core (RFC 6455): URL, opening handshake, frames out, frames in.

No sockets, no asyncio, no randomness of its own (nonces and mask keys are passed in), so every byte
can be tested; ``assist_agent.wsclient`` wraps it in asyncio streams. Client side only, without
extensions or subprotocols:

- ``parse_url(url)`` -> ``Target``; ``build_request(target, key, extra_headers)`` -> the GET request;
  ``check_response(head, key)`` validates the server's ``101 Switching Protocols`` (``HandshakeError``).
- ``encode_text/encode_binary/encode_ping/encode_pong/encode_close(..., mask)`` -> one masked frame.
- ``Parser``: ``feed(bytes)``, then ``next_event()`` until it returns None; events are ``Message``
  (text as ``str``, continuation frames reassembled, UTF-8 checked; binary as ``bytes``), ``Ping``,
  ``Pong``, ``Close``. A malformed stream raises ``ProtocolError``, whose ``code`` is the close code to
  send (1002 protocol error, 1007 invalid UTF-8, 1009 message too big).

Deliberately avoids ``hashlib`` (which loads OpenSSL's libcrypto) and ``base64``/``email``/``http``:
the agent's idle memory is a product target.
"""

from __future__ import annotations

import binascii
import codecs
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

try:  # the interpreter's own SHA-1: importing hashlib would map OpenSSL's libcrypto (megabytes of RSS)
    from _sha1 import sha1 as _sha1  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - a Python built without _sha1
    from hashlib import sha1 as _sha1

__all__ = [
    "ACCEPT_GUID", "DEFAULT_MAX_SIZE", "OP_BINARY", "OP_CLOSE", "OP_CONTINUATION", "OP_PING", "OP_PONG",
    "OP_TEXT", "CLOSE_NORMAL", "CLOSE_GOING_AWAY", "CLOSE_PROTOCOL_ERROR", "CLOSE_NO_STATUS",
    "CLOSE_ABNORMAL", "CLOSE_INVALID_DATA", "CLOSE_TOO_BIG", "CLOSE_INTERNAL_ERROR",
    "Close", "Event", "HandshakeError", "Message", "Parser", "Ping", "Pong", "ProtocolError", "Target",
    "WebSocketError", "accept_key", "build_request", "check_response", "encode_binary", "encode_close",
    "encode_frame", "encode_ping", "encode_pong", "encode_text", "is_valid_close_code", "make_key",
    "mask_bytes", "parse_url",
]  # fmt: skip

ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
DEFAULT_MAX_SIZE = 4 << 20  # bytes per received message (all its fragments together)

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA_OPCODES = frozenset({OP_CONTINUATION, OP_TEXT, OP_BINARY})
_CONTROL_OPCODES = frozenset({OP_CLOSE, OP_PING, OP_PONG})
MAX_CONTROL_PAYLOAD = 125

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_NO_STATUS = 1005  # never on the wire: a close frame without a code
CLOSE_ABNORMAL = 1006  # never on the wire: the connection ended without a close frame
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011

# Codes a close frame may carry (RFC 6455 §7.4 and the IANA registry); 1004-1006 and 1015 never may.
_WIRE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_OWN_HEADERS = frozenset({"host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version"})


class WebSocketError(Exception):
    """Base class of this module's (and ``wsclient``'s) errors."""


class InvalidURL(WebSocketError, ValueError):
    """Not a ``ws://`` or ``wss://`` URL this client can use."""


class HandshakeError(WebSocketError):
    """The server did not accept the opening handshake; ``status`` is its HTTP status if it sent one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProtocolError(WebSocketError):
    """The server broke RFC 6455; ``code`` is the close code to fail the connection with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{reason} (close code {code})")
        self.code = code
        self.reason = reason


# --- the opening handshake ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a WebSocket URL points: ``host`` without IPv6 brackets, ``resource`` = path + query."""

    secure: bool
    host: str
    port: int
    resource: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == (443 if self.secure else 80) else f"{host}:{self.port}"


def parse_url(url: str) -> Target:
    """``ws[s]://host[:port][/path][?query]`` -> ``Target``; raises ``InvalidURL``."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("ws", "wss"):
        raise InvalidURL(f"not a ws:// or wss:// URL: {url!r}")
    if "#" in rest:
        raise InvalidURL(f"a WebSocket URL has no fragment: {url!r}")
    if any(c <= " " or c == "\x7f" for c in rest):
        raise InvalidURL(f"whitespace or control characters in {url!r}")
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, resource = rest[:cut], rest[cut:]
    if resource.startswith("?"):
        resource = "/" + resource
    resource = resource or "/"
    if "@" in authority:
        raise InvalidURL(f"user info in a WebSocket URL is not supported: {url!r}")
    secure = scheme == "wss"
    port_text = ""
    if authority.startswith("["):
        host, bracket, after = authority[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise InvalidURL(f"bad IPv6 address in {url!r}")
        port_text = after[1:]
        has_port = bool(after)
    else:
        host, colon, port_text = authority.partition(":")
        has_port = bool(colon)
    if not host:
        raise InvalidURL(f"no host in {url!r}")
    port = 443 if secure else 80
    if has_port:
        if not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536):
            raise InvalidURL(f"bad port in {url!r}")
        port = int(port_text)
    return Target(secure, host, port, resource)


def make_key(nonce: bytes) -> str:
    """``Sec-WebSocket-Key``: the Base64 of 16 random bytes (pass ``os.urandom(16)``)."""
    if len(nonce) != 16:
        raise ValueError("the nonce must be 16 bytes")
    return binascii.b2a_base64(nonce, newline=False).decode("ascii")


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server answers to ``key``."""
    digest: bytes = _sha1((key + ACCEPT_GUID).encode("ascii")).digest()  # noqa: S324 - RFC 6455
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def build_request(target: Target, key: str, extra_headers: Mapping[str, str] | None = None) -> bytes:
    """The opening handshake request. Extra headers may not repeat the handshake's own headers."""
    lines = [
        f"GET {target.resource} HTTP/1.1",
        f"Host: {target.host_header}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    for name, value in (extra_headers or {}).items():
        if not name or not set(name) <= _TOKEN_CHARS:
            raise ValueError(f"invalid header name {name!r}")
        if name.lower() in _OWN_HEADERS:
            raise ValueError(f"the {name} header is set by the handshake itself")
        if any(c in value for c in "\r\n\0") or value != value.strip(" \t"):
            raise ValueError(f"invalid value for header {name}: {value!r}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def check_response(head: bytes, key: str) -> dict[str, str]:
    """Validate the server's response head (status line to the blank line, inclusive).

    Returns the headers (lower-case names; repeated headers joined with ", "). Raises
    ``HandshakeError`` unless it is ``HTTP/1.1 101`` with ``Upgrade: websocket``, a ``Connection``
    naming ``upgrade``, the right ``Sec-WebSocket-Accept``, and no extension or subprotocol.
    """
    if not head.endswith(b"\r\n\r\n"):
        raise HandshakeError("incomplete handshake response")
    status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/") or not (code.isascii() and code.isdigit() and rest[3:4] in ("", " ")):
        raise HandshakeError(f"not an HTTP response: {status_line[:80]!r}")
    if code != "101":
        raise HandshakeError(f"the server rejected the WebSocket connection: HTTP {code}", int(code))
    if version != "HTTP/1.1":
        raise HandshakeError(f"unsupported HTTP version {version[:20]!r}")
    headers: dict[str, str] = {}
    counts: dict[str, int] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or not set(name) <= _TOKEN_CHARS:
            raise HandshakeError(f"malformed header line {line[:80]!r}")
        name, value = name.lower(), value.strip(" \t")
        counts[name] = counts.get(name, 0) + 1
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if _tokens(headers.get("upgrade", "")) != ["websocket"]:
        raise HandshakeError(f"bad Upgrade header: {headers.get('upgrade')!r}")
    if "upgrade" not in _tokens(headers.get("connection", "")):
        raise HandshakeError(f"bad Connection header: {headers.get('connection')!r}")
    if counts.get("sec-websocket-accept") != 1 or headers["sec-websocket-accept"] != accept_key(key):
        raise HandshakeError(f"bad Sec-WebSocket-Accept header: {headers.get('sec-websocket-accept')!r}")
    for name in ("sec-websocket-extensions", "sec-websocket-protocol"):
        if name in headers:
            raise HandshakeError(f"the server chose {name} {headers[name]!r}, which was not offered")
    return headers


def _tokens(value: str) -> list[str]:
    return [t.strip(" \t").lower() for t in value.split(",") if t.strip(" \t")]


# --- frames out (client frames are always masked) ------------------------------------------------


def mask_bytes(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (masking and unmasking are the same)."""
    if len(mask) != 4:
        raise ValueError("the mask key must be 4 bytes")
    n = len(data)
    if n == 0:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    # One big-integer XOR runs in C: fast for megabytes, without a Python-level loop per byte.
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, mask: bytes, *, fin: bool = True) -> bytes:
    """One masked frame; the length takes the 7-, 16- or 64-bit form as RFC 6455 §5.2 requires."""
    if opcode not in _DATA_OPCODES and opcode not in _CONTROL_OPCODES:
        raise ValueError(f"unknown opcode {opcode:#x}")
    n = len(payload)
    if opcode in _CONTROL_OPCODES and (n > MAX_CONTROL_PAYLOAD or not fin):
        raise ValueError("a control frame has at most 125 bytes of payload and is never fragmented")
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        header = bytes((first, 0x80 | n))
    elif n < 1 << 16:
        header = bytes((first, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((first, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + mask + mask_bytes(payload, mask)


def encode_text(text: str, mask: bytes) -> bytes:
    return encode_frame(OP_TEXT, text.encode("utf-8"), mask)


def encode_binary(data: bytes, mask: bytes) -> bytes:
    return encode_frame(OP_BINARY, data, mask)


def encode_ping(payload: bytes, mask: bytes) -> bytes:
    return encode_frame(OP_PING, payload, mask)


def encode_pong(payload: bytes, mask: bytes) -> bytes:
    return encode_frame(OP_PONG, payload, mask)


def is_valid_close_code(code: int) -> bool:
    """A code a close frame may carry: the registered 1000-1003, 1007-1014, or 3000-4999."""
    return code in _WIRE_CLOSE_CODES or 3000 <= code <= 4999


def encode_close(code: int | None, reason: str, mask: bytes) -> bytes:
    """A close frame; ``code`` None sends an empty body (then ``reason`` must be empty)."""
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return encode_frame(OP_CLOSE, b"", mask)
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    payload = code.to_bytes(2, "big") + reason.encode("utf-8")
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise ValueError("the close reason is longer than 123 bytes")
    return encode_frame(OP_CLOSE, payload, mask)


# --- frames in -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A complete data message: ``str`` for text, ``bytes`` for binary."""

    data: str | bytes


@dataclass(frozen=True)
class Ping:
    data: bytes


@dataclass(frozen=True)
class Pong:
    data: bytes


@dataclass(frozen=True)
class Close:
    """A close frame; ``code`` is 1005 (``CLOSE_NO_STATUS``) when the frame had no body."""

    code: int
    reason: str


Event = Union[Message, Ping, Pong, Close]  # typing.Union: evaluated at import, on Python 3.8


class Parser:
    """Incremental parser of the frames a server sends.

    ``feed()`` bytes as they arrive, then call ``next_event()`` until it returns None. After a
    ``Close`` event it returns None forever (and ignores later bytes); after a ``ProtocolError`` it
    raises that error again.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._pos = 0  # start of the first unparsed frame in _buf
        self._closed = False
        self._error: ProtocolError | None = None
        # the fragmented message in progress (opcode 0: none)
        self._opcode = 0
        self._text: list[str] = []
        self._data: list[bytes] = []
        self._size = 0
        self._decoder: codecs.IncrementalDecoder | None = None

    @property
    def closed(self) -> bool:
        """A close frame was parsed."""
        return self._closed

    def feed(self, data: bytes) -> None:
        if self._closed or self._error is not None:
            return
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_event(self) -> Event | None:
        if self._error is not None:
            raise self._error
        try:
            while not self._closed:
                frame = self._next_frame()
                if frame is None:
                    return None
                event = self._process(*frame)
                if event is not None:
                    return event
            return None
        except ProtocolError as exc:
            self._error = exc
            self._buf.clear()
            self._pos = 0
            raise

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        """(fin, opcode, payload) of the next complete frame, checked as far as its header goes."""
        buf, pos = self._buf, self._pos
        available = len(buf) - pos
        if available < 2:
            return None
        first, second = buf[pos], buf[pos + 1]
        fin, opcode, length = bool(first & 0x80), first & 0x0F, second & 0x7F
        if first & 0x70:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set (no extension was negotiated)")
        if second & 0x80:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "masked frame from the server")
        if opcode in _CONTROL_OPCODES:
            if not fin:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
            if length > MAX_CONTROL_PAYLOAD:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "control frame with more than 125 bytes")
        elif opcode not in _DATA_OPCODES:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        elif opcode == OP_CONTINUATION and not self._opcode:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation frame without a message to continue")
        elif opcode != OP_CONTINUATION and self._opcode:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new data frame inside a fragmented message")
        header = 2
        if length == 126:
            if available < 4:
                return None
            length, header = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            if length < 126:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "payload length not in its shortest form")
        elif length == 127:
            if available < 10:
                return None
            length, header = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if length >> 63:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "64-bit payload length with its top bit set")
            if length < 1 << 16:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "payload length not in its shortest form")
        if opcode in _DATA_OPCODES and self._size + length > self.max_size:
            raise ProtocolError(CLOSE_TOO_BIG, f"message larger than {self.max_size} bytes")
        if available < header + length:
            return None
        start = pos + header
        self._pos = start + length
        return fin, opcode, bytes(buf[start : start + length])

    def _process(self, fin: bool, opcode: int, payload: bytes) -> Event | None:
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        if opcode == OP_CLOSE:
            event = _parse_close(payload)
            self._closed = True
            self._buf.clear()
            self._pos = 0
            return event
        if opcode != OP_CONTINUATION:  # the first frame of a message
            if fin:  # the common case: a whole message in one frame
                return Message(_utf8(payload) if opcode == OP_TEXT else payload)
            self._opcode, self._size = opcode, 0
            self._decoder = codecs.getincrementaldecoder("utf-8")() if opcode == OP_TEXT else None
        self._size += len(payload)
        if self._decoder is not None:
            try:
                self._text.append(self._decoder.decode(payload, final=fin))  # fails fast, mid-message
            except UnicodeDecodeError:
                raise ProtocolError(CLOSE_INVALID_DATA, "text message is not valid UTF-8") from None
        else:
            self._data.append(payload)
        if not fin:
            return None
        message = Message("".join(self._text) if self._opcode == OP_TEXT else b"".join(self._data))
        self._opcode, self._size, self._decoder, self._text, self._data = 0, 0, None, [], []
        return message


def _utf8(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(CLOSE_INVALID_DATA, "text message is not valid UTF-8") from None


def _parse_close(payload: bytes) -> Close:
    if not payload:
        return Close(CLOSE_NO_STATUS, "")
    if len(payload) == 1:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte body")
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_close_code(code):
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(CLOSE_INVALID_DATA, "close reason is not valid UTF-8") from None
    return Close(code, reason)
