"""The asyncio WebSocket client against the independent ``websockets`` server and hand-written servers."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from assist_agent import wsframes
from assist_agent.runner import ping_interval_after_welcome
from assist_agent.wsclient import ConnectionClosed, HandshakeError, InvalidURL, connect
from websockets.asyncio.server import ServerConnection, serve

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await asyncio.wait_for(coro, 20)

    return asyncio.run(main())


# --- a hand-written server -----------------------------------------------------------------------


async def raw_server(handler: Handler) -> tuple[asyncio.Server, str]:
    async def run_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(run_handler, "127.0.0.1", 0)
    return server, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws/agent/"


async def read_request(reader: asyncio.StreamReader) -> dict[str, str]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    lines = head.split("\r\n")
    headers = {"": lines[0]}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, str]:
    headers = await read_request(reader)
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {wsframes.accept_key(headers['sec-websocket-key'])}\r\n\r\n".encode()
    )
    await writer.drain()
    return headers


async def read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, bytes]:
    """(fin, opcode, payload) of the client's next frame, which must be masked."""
    first, second = await reader.readexactly(2)
    assert second & 0x80, "client frames are masked"
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    mask = await reader.readexactly(4)
    return bool(first & 0x80), first & 0x0F, wsframes.mask_bytes(await reader.readexactly(length), mask)


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """An unmasked server frame (payload < 126 bytes)."""
    return bytes([(0x80 if fin else 0) | opcode, len(payload)]) + payload


# --- against the websockets library's server -----------------------------------------------------


def test_round_trips_with_the_websockets_server() -> None:
    seen: dict[str, Any] = {}

    async def echo(ws: ServerConnection) -> None:
        seen["user_agent"] = ws.request.headers.get("User-Agent") if ws.request else None
        seen["path"] = ws.request.path if ws.request else None
        async for message in ws:
            await ws.send(message)
        seen["close"] = ws.close_code

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, max_size=8 << 20) as server:
            port = server.sockets[0].getsockname()[1]
            ws = await connect(
                f"ws://127.0.0.1:{port}/ws/agent/?x=1", open_timeout=5, extra_headers={"User-Agent": "t/1"}
            )
            async with ws:
                for message in ["hello", "", "é€🎉", b"\x00\xff", "x" * 70000, "y" * (3 << 20)]:
                    await ws.send(message)
                    assert await ws.recv() == message
                # concurrent senders: frames never interleave
                await asyncio.gather(*(ws.send(f"m{i}" * 5000) for i in range(20)))
                got = sorted([await ws.recv() for _ in range(20)])
                assert got == sorted(f"m{i}" * 5000 for i in range(20))
            assert ws.closed
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.code, info.value.received) == (1000, True)
            with pytest.raises(ConnectionClosed):
                await ws.send("after close")
            await asyncio.sleep(0.1)

    run(main())
    assert seen == {"user_agent": "t/1", "path": "/ws/agent/?x=1", "close": 1000}


def test_fragments_pings_and_close_code_from_the_websockets_server() -> None:
    pongs: list[float] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send(["Hel", "lo"])  # a fragmented text message
        waiter = await ws.ping(b"are you there")
        pongs.append(await asyncio.wait_for(waiter, 2))
        await ws.send([b"\x01", b"", b"\x02"])  # a fragmented binary message
        await ws.send("last")
        await ws.close(4401, "bad secret")

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            ws = await connect(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/", open_timeout=5)
            assert await ws.recv() == "Hello"
            assert await ws.recv() == b"\x01\x02"
            assert await ws.recv() == "last"
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason, info.value.received) == (4401, "bad secret", True)
            assert "4401" in str(info.value) and "bad secret" in str(info.value)
            await ws.close()

    run(main())
    assert len(pongs) == 1


def test_keepalive_with_a_live_server_keeps_the_connection() -> None:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, ping_interval=None) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
            async with await connect(url, open_timeout=5, ping_interval=0.05, ping_timeout=0.5) as ws:
                await asyncio.sleep(0.6)  # a dozen pings answered
                await ws.send("still here")
                assert await ws.recv() == "still here"

    run(main())


def test_a_slow_reader_pauses_the_socket_and_loses_nothing() -> None:
    async def flood(ws: ServerConnection) -> None:
        for i in range(60):
            await ws.send(f"{i:03d}" + "x" * 10000)
        await ws.wait_closed()

    async def main() -> None:
        async with serve(flood, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
            async with await connect(url, open_timeout=5, max_queue=4) as ws:
                await asyncio.sleep(0.5)
                assert len(ws._messages) <= 4 + 7  # the queue, plus at most one read's worth
                for i in range(60):
                    message = await ws.recv()
                    assert isinstance(message, str) and message.startswith(f"{i:03d}")

    run(main())


# --- against hand-written servers ----------------------------------------------------------------


def test_interleaved_ping_is_answered_and_close_is_echoed() -> None:
    seen: list[tuple[bool, int, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await handshake(reader, writer)
        assert headers[""] == "GET /ws/agent/ HTTP/1.1"
        assert headers["upgrade"] == "websocket" and headers["sec-websocket-version"] == "13"
        writer.write(frame(wsframes.OP_TEXT, b"Hel", fin=False))
        writer.write(frame(wsframes.OP_PING, b"p1"))
        writer.write(frame(wsframes.OP_CONTINUATION, b"lo"))
        seen.append(await read_frame(reader))  # the pong
        writer.write(frame(wsframes.OP_CLOSE, b"\x03\xe9going away"))
        seen.append(await read_frame(reader))  # the echoed close
        writer.close()  # the server closes TCP first

    async def main() -> None:
        server, url = await raw_server(handler)
        async with server:
            ws = await connect(url, open_timeout=5)
            assert await ws.recv() == "Hello"
            started = time.monotonic()
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert time.monotonic() - started < 1  # no close timeout involved
            assert (info.value.code, info.value.reason, info.value.received) == (1001, "going away", True)
            await ws.close()

    run(main())
    assert seen == [(True, wsframes.OP_PONG, b"p1"), (True, wsframes.OP_CLOSE, b"\x03\xe9")]


def test_keepalive_drops_a_server_that_stops_answering() -> None:
    """A half-open connection (no pongs, no FIN) is detected within ping_interval + ping_timeout."""
    pings: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        while True:  # reads, never answers
            _, opcode, payload = await read_frame(reader)
            if opcode == wsframes.OP_PING:
                pings.append(payload)

    async def main() -> None:
        server, url = await raw_server(handler)
        async with server:
            ws = await connect(url, open_timeout=5, ping_interval=0.2, ping_timeout=0.3)
            started = time.monotonic()
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert 0.4 < time.monotonic() - started < 2
            assert not info.value.received and info.value.code == 1006
            assert "pong" in info.value.reason
            await ws.close()

    run(main())
    assert len(pings) == 1 and len(pings[0]) == 4


def test_keepalive_does_not_ping_a_server_that_is_heard_from() -> None:
    """While frames keep arriving no ping is sent; once the server falls silent, one is."""
    pings: list[float] = []
    silent_since: list[float] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)

        async def chatter() -> None:
            for _ in range(12):  # 0.6 s of frames, each well within the ping interval
                writer.write(frame(wsframes.OP_TEXT, b"tick"))
                await writer.drain()
                await asyncio.sleep(0.05)
            silent_since.append(time.monotonic())

        talking = asyncio.create_task(chatter())
        try:
            while True:
                _, opcode, payload = await read_frame(reader)
                if opcode == wsframes.OP_PING:
                    pings.append(time.monotonic())
                    writer.write(frame(wsframes.OP_PONG, payload))
        finally:
            talking.cancel()

    async def main() -> None:
        server, url = await raw_server(handler)
        async with server:
            async with await connect(url, open_timeout=5, ping_interval=0.2, ping_timeout=1) as ws:
                for _ in range(12):
                    assert await ws.recv() == "tick"
                await asyncio.sleep(0.5)

    run(main())
    assert silent_since, "the server never finished talking"
    assert pings, "a silent server was never pinged"
    assert all(at >= silent_since[0] for at in pings), "a server that was talking got pinged"
    assert pings[0] - silent_since[0] < 0.45


def test_ping_interval_can_be_lengthened_once_connected() -> None:
    """The agent lengthens its keepalive after welcome (two heartbeat intervals): no ping before it."""
    pings: list[float] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        while True:
            _, opcode, payload = await read_frame(reader)
            if opcode == wsframes.OP_PING:
                pings.append(time.monotonic())
                writer.write(frame(wsframes.OP_PONG, payload))

    async def main() -> float:
        server, url = await raw_server(handler)
        async with server:
            async with await connect(url, open_timeout=5, ping_interval=0.1, ping_timeout=1) as ws:
                ws.set_ping_interval(0.6)
                since = time.monotonic()
                await asyncio.sleep(0.9)
                return since

    since = run(main())
    assert pings, "never pinged"
    assert all(at - since >= 0.55 for at in pings), [round(at - since, 2) for at in pings]


@pytest.mark.parametrize(
    ("payload", "max_size", "code"),
    [
        (frame(wsframes.OP_TEXT, b"x", fin=False) + frame(wsframes.OP_TEXT, b"y"), 100, 1002),
        (bytes([0x81, 0x81, 1, 2, 3, 4, 5]), 100, 1002),  # a masked frame
        (frame(wsframes.OP_TEXT, b"\xff\xfe"), 100, 1007),
        (frame(wsframes.OP_BINARY, b"z" * 101), 100, 1009),
    ],
)
def test_protocol_errors_fail_the_connection_with_the_right_code(
    payload: bytes, max_size: int, code: int
) -> None:
    closes: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        writer.write(frame(wsframes.OP_TEXT, b"ok") + payload)
        _, opcode, body = await read_frame(reader)
        assert opcode == wsframes.OP_CLOSE
        closes.append(body)
        writer.close()

    async def main() -> None:
        server, url = await raw_server(handler)
        async with server:
            ws = await connect(url, open_timeout=5, max_size=max_size)
            assert await ws.recv() == "ok"  # what came before the error is delivered
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert not info.value.received and "protocol error" in info.value.reason
            await ws.close()

    run(main())
    assert closes == [code.to_bytes(2, "big")]


def test_eof_without_close_frame() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        writer.write(frame(wsframes.OP_TEXT, b"bye"))
        writer.close()

    async def main() -> None:
        server, url = await raw_server(handler)
        async with server:
            ws = await connect(url, open_timeout=5)
            assert await ws.recv() == "bye"
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.code, info.value.received) == (1006, False)
            with pytest.raises(ConnectionClosed):
                await ws.send("x")
            await ws.close()

    run(main())


def test_close_gives_up_on_a_silent_server() -> None:
    frames: list[tuple[bool, int, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        frames.append(await read_frame(reader))
        await asyncio.sleep(10)  # never answers the close

    async def main() -> None:
        server, url = await raw_server(handler)
        async with server:
            ws = await connect(url, open_timeout=5, close_timeout=0.3)
            started = time.monotonic()
            await ws.close(4000, "done")
            assert time.monotonic() - started < 1.5
            assert ws.closed
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            server.close()

    run(main())
    assert frames == [(True, wsframes.OP_CLOSE, b"\x0f\xa0done")]


def test_send_waits_for_a_server_that_does_not_read() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        await asyncio.sleep(10)

    async def main() -> None:
        server, url = await raw_server(handler)
        async with server:
            ws = await connect(url, open_timeout=5, close_timeout=0.2)
            chunk = "x" * (1 << 20)
            with pytest.raises(TimeoutError):
                for _ in range(512):  # far more than the socket buffers hold
                    await asyncio.wait_for(ws.send(chunk), 0.5)
            assert ws._writer.transport.get_write_buffer_size() < 4 << 20
            await ws.close()
            server.close()

    run(main())


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "HTTP 403"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            "Accept",
        ),
        (b"HTTP/1.1 101 Switching", "closed the connection during the handshake"),
        (b"", "closed the connection during the handshake"),
    ],
)
def test_handshake_failures(response: bytes, match: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response)
        writer.close()

    async def main() -> None:
        server, url = await raw_server(handler)
        async with server:
            with pytest.raises(HandshakeError, match=match):
                await connect(url, open_timeout=5)

    run(main())


def test_open_timeout_refused_and_bad_urls() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        server, url = await raw_server(silent)
        async with server:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await connect(url, open_timeout=0.3)
            assert time.monotonic() - started < 2
            server.close()
        with pytest.raises(OSError):
            await connect(url, open_timeout=5)  # nothing listens there any more
        for bad in ("http://127.0.0.1/", "ws://127.0.0.1:99999/"):
            with pytest.raises(InvalidURL):
                await connect(bad, open_timeout=1)

    run(main())


# --- wss:// ---------------------------------------------------------------------------------------


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    pytest.importorskip("cryptography")
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(san, False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_wss_verifies_the_server(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
            url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws/agent/"
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(url, open_timeout=5)  # the default context trusts only the system CAs
            trusting = ssl.create_default_context(cafile=str(cert))
            async with await connect(url, open_timeout=5, ssl=trusting) as ws:
                await ws.send("over tls")
                assert await ws.recv() == "over tls"

    run(main())


@pytest.mark.parametrize(("heartbeat", "ping"), [(1.0, 30.0), (15.0, 30.0), (30.0, 60.0), (60.0, 120.0)])
def test_after_welcome_the_agent_pings_after_two_heartbeats_of_silence_or_30_s(
    heartbeat: float, ping: float
) -> None:
    assert ping_interval_after_welcome(heartbeat) == ping
