"""The sans-I/O WebSocket core: handshake, frames out, frames in; byte-exact against RFC 6455."""

from __future__ import annotations

import os

import pytest
from assist_agent import wsframes as w
from assist_agent.wsframes import Close, Message, Ping, Pong

MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # the mask key of RFC 6455 §5.7
MASKED_HELLO = bytes([0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])  # the key, then "Hello" masked
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # §1.3
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def b(*values: int) -> bytes:
    return bytes(values)


def parse(data: bytes, max_size: int = w.DEFAULT_MAX_SIZE, *, chunk: int = 0) -> list[w.Event]:
    """All events of ``data`` (fed at once, or ``chunk`` bytes at a time)."""
    parser = w.Parser(max_size)
    events: list[w.Event] = []
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
    for piece in pieces:
        parser.feed(piece)
        while (event := parser.next_event()) is not None:
            events.append(event)
    return events


def server_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked frame as a server sends it (written out independently of the encoder)."""
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    if n < 126:
        return b(first, n) + payload
    if n < 65536:
        return b(first, 126) + n.to_bytes(2, "big") + payload
    return b(first, 127) + n.to_bytes(8, "big") + payload


def naive_mask(data: bytes, mask: bytes) -> bytes:
    return bytes(x ^ mask[i % 4] for i, x in enumerate(data))


# --- handshake -----------------------------------------------------------------------------------


def test_rfc_accept_key_and_nonce() -> None:
    assert w.make_key(b"the sample nonce") == RFC_KEY
    assert w.accept_key(RFC_KEY) == RFC_ACCEPT
    with pytest.raises(ValueError):
        w.make_key(b"short")


@pytest.mark.parametrize(
    ("url", "secure", "host", "port", "resource", "host_header"),
    [
        ("ws://example.com", False, "example.com", 80, "/", "example.com"),
        ("ws://example.com/", False, "example.com", 80, "/", "example.com"),
        ("wss://example.com/ws/agent/", True, "example.com", 443, "/ws/agent/", "example.com"),
        ("ws://127.0.0.1:8000/ws/agent/", False, "127.0.0.1", 8000, "/ws/agent/", "127.0.0.1:8000"),
        ("ws://example.com:80/x", False, "example.com", 80, "/x", "example.com"),
        ("wss://example.com:443/x", True, "example.com", 443, "/x", "example.com"),
        ("wss://example.com:80/x", True, "example.com", 80, "/x", "example.com:80"),
        ("ws://h?a=1&b=2", False, "h", 80, "/?a=1&b=2", "h"),
        ("ws://h/p/q?a=1", False, "h", 80, "/p/q?a=1", "h"),
        ("WS://Host:1/", False, "Host", 1, "/", "Host:1"),
        ("ws://[::1]:8000/ws/", False, "::1", 8000, "/ws/", "[::1]:8000"),
        ("wss://[fd00::5]/", True, "fd00::5", 443, "/", "[fd00::5]"),
    ],
)
def test_parse_url(url: str, secure: bool, host: str, port: int, resource: str, host_header: str) -> None:
    target = w.parse_url(url)
    assert (target.secure, target.host, target.port, target.resource) == (secure, host, port, resource)
    assert target.host_header == host_header


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "example.com",
        "ws:/example.com",
        "ws://",
        "ws:///path",
        "ws://:80/",
        "ws://h:0/",
        "ws://h:65536/",
        "ws://h:x/",
        "ws://h:/",
        "ws://h:-1/",
        "ws://user:pw@h/",
        "ws://h/#frag",
        "ws://[::1/",
        "ws://[::1]x/",
        "ws://h /",
        "ws://h/a b",
        "ws://h/\r\nX: y",
    ],
)
def test_parse_url_rejects(url: str) -> None:
    with pytest.raises(w.InvalidURL):
        w.parse_url(url)


def test_build_request_is_byte_exact() -> None:
    target = w.parse_url("ws://server.example.com:8000/chat?x=1")
    assert w.build_request(target, RFC_KEY) == (
        b"GET /chat?x=1 HTTP/1.1\r\n"
        b"Host: server.example.com:8000\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"\r\n"
    )
    with_extra = w.build_request(target, RFC_KEY, {"User-Agent": "assist-agent/0.1.0", "X-A": ""})
    assert with_extra.endswith(
        b"Sec-WebSocket-Version: 13\r\nUser-Agent: assist-agent/0.1.0\r\nX-A: \r\n\r\n"
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil"},
        {"sec-websocket-key": "x"},
        {"Connection": "close"},
        {"X-Bad": "a\r\nInjected: yes"},
        {"X-Bad": "a\nb"},
        {"X-Bad": "nul\0"},
        {"X-Bad": " padded"},
        {"Bad Name": "x"},
        {"Bad:Name": "x"},
        {"": "x"},
        {"X-Utf8": "é"},
    ],
)
def test_build_request_rejects_bad_extra_headers(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        w.build_request(w.parse_url("ws://h/"), RFC_KEY, headers)


RFC_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)


def test_check_response_accepts_the_rfc_example() -> None:
    headers = w.check_response(RFC_RESPONSE, RFC_KEY)
    assert headers == {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-accept": RFC_ACCEPT}


def test_check_response_is_case_insensitive_and_lenient_where_http_is() -> None:
    response = (
        b"HTTP/1.1 101 \r\n"
        b"UPGRADE:WebSocket\r\n"
        b"connection: keep-alive, UPGRADE\r\n"
        b"Server: test\r\n"
        b"sec-websocket-accept:   s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  \r\n"
        b"Set-Cookie: a=1\r\n"
        b"Set-Cookie: b=2\r\n"
        b"\r\n"
    )
    headers = w.check_response(response, RFC_KEY)
    assert headers["set-cookie"] == "a=1, b=2"
    assert w.check_response(RFC_RESPONSE.replace(b" Switching Protocols", b""), RFC_KEY)


def _response(status: bytes = b"HTTP/1.1 101 Switching Protocols", **headers: str | None) -> bytes:
    base: dict[str, str | None] = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": RFC_ACCEPT,
    }
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    lines = [status] + [f"{k}: {v}".encode() for k, v in base.items() if v is not None]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.mark.parametrize(
    ("response", "status", "message"),
    [
        (_response(b"HTTP/1.1 403 Forbidden"), 403, "HTTP 403"),
        (_response(b"HTTP/1.1 200 OK"), 200, "HTTP 200"),
        (_response(b"HTTP/1.1 404"), 404, "HTTP 404"),
        (_response(b"HTTP/1.0 101 Switching Protocols"), None, "HTTP version"),
        (_response(b"HTTP/2 101"), None, "HTTP version"),
        (_response(b"SSH-2.0-OpenSSH_9.2"), None, "not an HTTP response"),
        (_response(b"HTTP/1.1 1010 Nope"), None, "not an HTTP response"),
        (_response(b"HTTP/1.1 abc"), None, "not an HTTP response"),
        (_response(Upgrade=None), None, "Upgrade"),
        (_response(Upgrade="h2c"), None, "Upgrade"),
        (_response(Upgrade="websocket, h2c"), None, "Upgrade"),
        (_response(Connection=None), None, "Connection"),
        (_response(Connection="keep-alive"), None, "Connection"),
        (_response(Sec_WebSocket_Accept=None), None, "Accept"),
        (_response(Sec_WebSocket_Accept="wrong"), None, "Accept"),
        (_response(Sec_WebSocket_Accept=RFC_ACCEPT.lower()), None, "Accept"),
        (_response(Sec_WebSocket_Extensions="permessage-deflate"), None, "not offered"),
        (_response(Sec_WebSocket_Protocol="chat"), None, "not offered"),
        (RFC_RESPONSE.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Accept: x\r\n\r\n"), None, "Accept"),
        (RFC_RESPONSE.replace(b"\r\n\r\n", b"\r\nno colon here\r\n\r\n"), None, "malformed header"),
        (RFC_RESPONSE.replace(b"\r\n\r\n", b"\r\n folded\r\n\r\n"), None, "malformed header"),
        (RFC_RESPONSE.replace(b"\r\n\r\n", b"\r\nBad Name: x\r\n\r\n"), None, "malformed header"),
        (RFC_RESPONSE[:-2], None, "incomplete"),
    ],
)
def test_check_response_rejects(response: bytes, status: int | None, message: str) -> None:
    with pytest.raises(w.HandshakeError, match=message) as info:
        w.check_response(response, RFC_KEY)
    assert info.value.status == status


def test_check_response_needs_the_matching_key() -> None:
    with pytest.raises(w.HandshakeError, match="Accept"):
        w.check_response(RFC_RESPONSE, w.make_key(bytes(16)))


# --- frames out ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        # RFC 6455 §5.7: a single-frame masked text message containing "Hello"
        (
            w.encode_text("Hello", MASK),
            bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]),
        ),
        # §5.7: a masked Pong whose body is "Hello" (the answer to the example's unmasked Ping)
        (w.encode_pong(b"Hello", MASK), b(0x8A, 0x85) + MASKED_HELLO),
        (w.encode_ping(b"Hello", MASK), b(0x89, 0x85) + MASKED_HELLO),
        (w.encode_binary(b"Hello", MASK), b(0x82, 0x85) + MASKED_HELLO),
        (w.encode_ping(b"", MASK), b(0x89, 0x80) + MASK),
        (w.encode_text("", MASK), b(0x81, 0x80) + MASK),
        # close 1000 "bye": 0x03e8 then the reason, masked
        (w.encode_close(1000, "bye", MASK), b(0x88, 0x85) + MASK + naive_mask(b"\x03\xe8bye", MASK)),
        (w.encode_close(4401, "", MASK), b(0x88, 0x82) + MASK + naive_mask(b"\x11\x31", MASK)),
        (w.encode_close(None, "", MASK), b(0x88, 0x80) + MASK),
        # a zero mask key leaves the payload as it is
        (w.encode_text("Hello", bytes(4)), b(0x81, 0x85, 0, 0, 0, 0) + b"Hello"),
        (w.encode_frame(w.OP_TEXT, b"Hel", MASK, fin=False), b(0x01, 0x83) + MASK + naive_mask(b"Hel", MASK)),
        (w.encode_frame(w.OP_CONTINUATION, b"lo", MASK), b(0x80, 0x82) + MASK + naive_mask(b"lo", MASK)),
    ],
)
def test_encode_is_byte_exact(frame: bytes, expected: bytes) -> None:
    assert frame == expected


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b(0x82, 0x80)),
        (125, b(0x82, 0x80 | 125)),
        (126, b(0x82, 0xFE, 0x00, 0x7E)),
        (256, b(0x82, 0xFE, 0x01, 0x00)),  # §5.7: 256 bytes in the 16-bit form
        (65535, b(0x82, 0xFE, 0xFF, 0xFF)),
        (65536, b(0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00)),  # §5.7: 64 KiB in the 64-bit form
        (1 << 20, b(0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0x00, 0x00)),
    ],
)
def test_encode_length_forms(size: int, header: bytes) -> None:
    payload = os.urandom(size)
    frame = w.encode_binary(payload, MASK)
    assert frame[: len(header)] == header
    assert frame[len(header) : len(header) + 4] == MASK
    assert frame[len(header) + 4 :] == naive_mask(payload, MASK)


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 7, 8, 9, 1000, 4097])
def test_mask_bytes_matches_the_definition(size: int) -> None:
    data, mask = os.urandom(size), os.urandom(4)
    assert w.mask_bytes(data, mask) == naive_mask(data, mask)
    assert w.mask_bytes(w.mask_bytes(data, mask), mask) == data
    assert w.mask_bytes(b"\x00" * size, b"\x00\x00\x00\x00") == b"\x00" * size


@pytest.mark.parametrize(
    "call",
    [
        lambda: w.encode_ping(b"x" * 126, MASK),
        lambda: w.encode_pong(b"x" * 126, MASK),
        lambda: w.encode_frame(w.OP_PING, b"", MASK, fin=False),
        lambda: w.encode_frame(3, b"", MASK),
        lambda: w.encode_frame(0xB, b"", MASK),
        lambda: w.encode_text("x", b"abc"),
        lambda: w.encode_text("x", b"abcde"),
        lambda: w.encode_close(1005, "", MASK),
        lambda: w.encode_close(1006, "", MASK),
        lambda: w.encode_close(1015, "", MASK),
        lambda: w.encode_close(999, "", MASK),
        lambda: w.encode_close(2000, "", MASK),
        lambda: w.encode_close(5000, "", MASK),
        lambda: w.encode_close(1000, "x" * 124, MASK),
        lambda: w.encode_close(None, "reason without a code", MASK),
    ],
)
def test_encode_rejects(call) -> None:
    with pytest.raises(ValueError):
        call()


def test_close_reason_fits_exactly() -> None:
    frame = w.encode_close(1000, "x" * 123, MASK)
    assert frame[:2] == b(0x88, 0x80 | 125)


# --- frames in -----------------------------------------------------------------------------------

HELLO = b(0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F)  # §5.7: unmasked "Hello" from the server
HEL_LO = b(0x01, 0x03, 0x48, 0x65, 0x6C) + b(0x80, 0x02, 0x6C, 0x6F)  # §5.7: fragmented
PING_HELLO = b(0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F)  # §5.7: unmasked Ping
PONG_HELLO = b(0x8A, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F)
BLOB_256 = os.urandom(256)
BLOB_64K = os.urandom(65536)

PARSE_CASES = [
    ("text", HELLO, [Message("Hello")]),
    ("fragmented text", HEL_LO, [Message("Hello")]),
    ("ping", PING_HELLO, [Ping(b"Hello")]),
    ("pong", PONG_HELLO, [Pong(b"Hello")]),
    ("empty ping", b(0x89, 0x00), [Ping(b"")]),
    ("empty text", b(0x81, 0x00), [Message("")]),
    ("binary", b(0x82, 0x03, 1, 2, 3), [Message(b"\x01\x02\x03")]),
    ("256 bytes, 16-bit length", b(0x82, 0x7E, 0x01, 0x00) + BLOB_256, [Message(BLOB_256)]),
    ("64 KiB, 64-bit length", b(0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0) + BLOB_64K, [Message(BLOB_64K)]),
    ("126 bytes", server_frame(w.OP_TEXT, b"a" * 126), [Message("a" * 126)]),
    ("65535 bytes", server_frame(w.OP_TEXT, b"a" * 65535), [Message("a" * 65535)]),
    (
        "ping between fragments",
        b(0x01, 0x03, 0x48, 0x65, 0x6C) + PING_HELLO + b(0x80, 0x02, 0x6C, 0x6F),
        [Ping(b"Hello"), Message("Hello")],
    ),
    (
        "three fragments, empty middle",
        server_frame(w.OP_TEXT, b"a", fin=False)
        + server_frame(w.OP_CONTINUATION, b"", fin=False)
        + server_frame(w.OP_CONTINUATION, b"b"),
        [Message("ab")],
    ),
    (
        "fragmented binary",
        server_frame(w.OP_BINARY, b"\x00\xff", fin=False) + server_frame(w.OP_CONTINUATION, b"\xfe"),
        [Message(b"\x00\xff\xfe")],
    ),
    (
        "UTF-8 split across fragments",
        server_frame(w.OP_TEXT, "zé€".encode()[:2], fin=False)
        + server_frame(w.OP_CONTINUATION, "zé€".encode()[2:4], fin=False)
        + server_frame(w.OP_CONTINUATION, "zé€".encode()[4:]),
        [Message("zé€")],
    ),
    ("UTF-8 text", server_frame(w.OP_TEXT, "日本語 🎉".encode()), [Message("日本語 🎉")]),
    ("several messages", HELLO + PING_HELLO + HELLO, [Message("Hello"), Ping(b"Hello"), Message("Hello")]),
    ("close with code", b(0x88, 0x02, 0x03, 0xE8), [Close(1000, "")]),
    ("close with reason", server_frame(w.OP_CLOSE, b"\x11\x31bad secret"), [Close(4401, "bad secret")]),
    ("close without code", b(0x88, 0x00), [Close(1005, "")]),
    ("close, then bytes are ignored", b(0x88, 0x00) + HELLO + b(0xFF, 0xFF), [Close(1005, "")]),
    ("close reason UTF-8", server_frame(w.OP_CLOSE, b"\x03\xe9" + "bye é".encode()), [Close(1001, "bye é")]),
    ("incomplete frame", HELLO[:-1], []),
    ("incomplete header", b(0x82, 0x7F, 0, 0), []),
]


@pytest.mark.parametrize(("stream", "events"), [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_parse(stream: bytes, events: list[w.Event]) -> None:
    assert parse(stream) == events
    assert parse(stream, chunk=1) == events  # any split of the stream gives the same events
    assert parse(stream, chunk=7) == events


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014])
def test_parse_registered_close_codes(code: int) -> None:
    assert parse(server_frame(w.OP_CLOSE, code.to_bytes(2, "big"))) == [Close(code, "")]


@pytest.mark.parametrize("code", [3000, 4000, 4401, 4999])
def test_parse_application_close_codes(code: int) -> None:
    assert parse(server_frame(w.OP_CLOSE, code.to_bytes(2, "big"))) == [Close(code, "")]


def test_max_size_is_inclusive() -> None:
    assert parse(server_frame(w.OP_BINARY, b"x" * 100), max_size=100) == [Message(b"x" * 100)]
    fragments = server_frame(w.OP_TEXT, b"x" * 60, fin=False) + server_frame(w.OP_CONTINUATION, b"x" * 40)
    assert parse(fragments, max_size=100) == [Message("x" * 100)]
    # a control frame does not count towards a message
    with_ping = server_frame(w.OP_TEXT, b"x" * 60, fin=False) + PING_HELLO
    with_ping += server_frame(w.OP_CONTINUATION, b"x" * 40)
    assert parse(with_ping, max_size=100) == [Ping(b"Hello"), Message("x" * 100)]


BAD_CASES = [
    ("masked frame from the server", w.encode_text("Hello", MASK), 1002),
    ("masked empty frame", b(0x81, 0x80, 1, 2, 3, 4), 1002),
    ("RSV1", server_frame(w.OP_TEXT, b"x", rsv=0x40), 1002),
    ("RSV2", server_frame(w.OP_TEXT, b"x", rsv=0x20), 1002),
    ("RSV3", server_frame(w.OP_TEXT, b"x", rsv=0x10), 1002),
    ("RSV on a ping", server_frame(w.OP_PING, b"", rsv=0x40), 1002),
    *[(f"opcode {op:#x}", server_frame(op, b""), 1002) for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)],
    ("fragmented ping", server_frame(w.OP_PING, b"x", fin=False), 1002),
    ("fragmented close", server_frame(w.OP_CLOSE, b"\x03\xe8", fin=False), 1002),
    ("ping of 126 bytes", b(0x89, 0x7E, 0x00, 0x7E) + b"x" * 126, 1002),
    ("pong of 126 bytes", b(0x8A, 0x7E, 0x00, 0x7E) + b"x" * 126, 1002),
    ("close of 126 bytes", b(0x88, 0x7E, 0x00, 0x7E) + b"\x03\xe8" + b"x" * 124, 1002),
    ("continuation first", server_frame(w.OP_CONTINUATION, b"x"), 1002),
    ("final continuation first", b(0x80, 0x00), 1002),
    ("text inside a fragmented text", server_frame(w.OP_TEXT, b"a", fin=False) + HELLO, 1002),
    (
        "binary inside a fragmented text",
        server_frame(w.OP_TEXT, b"a", fin=False) + server_frame(w.OP_BINARY, b"b"),
        1002,
    ),
    ("16-bit length below 126", b(0x82, 0x7E, 0x00, 0x7D) + b"x" * 125, 1002),
    ("64-bit length below 65536", b(0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x01, 0x00) + b"x" * 256, 1002),
    ("64-bit length with its top bit set", b(0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0), 1002),
    ("invalid UTF-8", server_frame(w.OP_TEXT, b"\xff"), 1007),
    ("overlong UTF-8", server_frame(w.OP_TEXT, b"\xc0\xaf"), 1007),
    ("UTF-8 surrogate", server_frame(w.OP_TEXT, b"\xed\xa0\x80"), 1007),
    ("truncated UTF-8", server_frame(w.OP_TEXT, "é".encode()[:1]), 1007),
    (
        "truncated UTF-8 at the end of a fragmented message",
        server_frame(w.OP_TEXT, b"ok", fin=False) + server_frame(w.OP_CONTINUATION, "é".encode()[:1]),
        1007,
    ),
    ("close with a 1-byte body", b(0x88, 0x01, 0x03), 1002),
    *[
        (f"close code {code}", server_frame(w.OP_CLOSE, code.to_bytes(2, "big")), 1002)
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535)
    ],
    ("close reason not UTF-8", server_frame(w.OP_CLOSE, b"\x03\xe8\xff"), 1007),
    ("message over max_size", server_frame(w.OP_BINARY, b"x" * 101), 1009),
    ("text over max_size", server_frame(w.OP_TEXT, b"x" * 200), 1009),
    (
        "fragments over max_size",
        server_frame(w.OP_TEXT, b"x" * 60, fin=False) + server_frame(w.OP_CONTINUATION, b"x" * 41),
        1009,
    ),
    ("announced length over max_size", b(0x82, 0x7F, 0, 0, 0, 1, 0, 0, 0, 0), 1009),
]


@pytest.mark.parametrize(("stream", "code"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_parse_rejects(stream: bytes, code: int) -> None:
    for chunk in (0, 1):
        with pytest.raises(w.ProtocolError) as info:
            parse(stream, max_size=100, chunk=chunk)
        assert info.value.code == code


def test_errors_fail_fast() -> None:
    """A bad header or bad UTF-8 is reported before the rest of the frame or message arrives."""
    parser = w.Parser(max_size=100)
    parser.feed(b(0x82, 0x7F, 0, 0, 0, 1, 0, 0, 0, 0))  # announces 4 GiB, nothing follows
    with pytest.raises(w.ProtocolError, match="larger than 100"):
        parser.next_event()
    parser = w.Parser()
    parser.feed(server_frame(w.OP_TEXT, b"ok \xff", fin=False))  # the message has not ended
    with pytest.raises(w.ProtocolError) as info:
        parser.next_event()
    assert info.value.code == 1007


def test_events_before_an_error_are_delivered_and_the_error_sticks() -> None:
    parser = w.Parser()
    parser.feed(HELLO + PING_HELLO + b(0x83, 0x00) + HELLO)
    assert parser.next_event() == Message("Hello")
    assert parser.next_event() == Ping(b"Hello")
    with pytest.raises(w.ProtocolError):
        parser.next_event()
    parser.feed(HELLO)
    with pytest.raises(w.ProtocolError):
        parser.next_event()


def test_parser_state_after_close() -> None:
    parser = w.Parser()
    parser.feed(HELLO + b(0x88, 0x02, 0x03, 0xE8))
    assert not parser.closed
    assert parser.next_event() == Message("Hello")
    assert parser.next_event() == Close(1000, "")
    assert parser.closed
    parser.feed(HELLO)
    assert parser.next_event() is None


def test_frames_round_trip_through_the_encoder() -> None:
    """What the encoder produces, unmasked, is what the parser reads (the server's view)."""
    for text in ["", "Hello", "é" * 40, "x" * 70000]:
        frame = w.encode_text(text, MASK)
        header = 2 if len(text.encode()) < 126 else 4 if len(text.encode()) < 65536 else 10
        unmasked = bytes([frame[0], frame[1] & 0x7F]) + frame[2:header]
        unmasked += w.mask_bytes(frame[header + 4 :], MASK)
        assert parse(unmasked) == [Message(text)]
