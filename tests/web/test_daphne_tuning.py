"""Daphne's per-second sweep looks only at connections that changed, with daphne's own rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("daphne.server")

from daphne.server import Server  # noqa: E402

from console.web import daphne_tuning  # noqa: E402


class Protocol:
    def __init__(self) -> None:
        self.exceptions: list[BaseException] = []

    def handle_exception(self, exception: BaseException) -> None:
        self.exceptions.append(exception)


class CountingConnections(dict):
    """The server's connection table, counting the walks over all of it."""

    walks = 0

    def items(self) -> Any:
        self.walks += 1
        return super().items()

    def keys(self) -> Any:
        self.walks += 1
        return super().keys()

    def __iter__(self) -> Iterator[Any]:
        self.walks += 1
        return super().__iter__()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def server(loop: asyncio.AbstractEventLoop) -> Any:
    daphne_tuning.install()
    server = Server(application=None, endpoints=["tcp:port=0"], application_close_timeout=10)
    server.connections = CountingConnections()
    return server


def connect(server: Any, loop: asyncio.AbstractEventLoop, application: Any) -> Protocol:
    protocol = Protocol()
    server.protocol_connected(protocol)
    server.application = application
    server.create_application(protocol, {"type": "websocket"})
    return protocol


def settle(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0.01))


async def runs_forever(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.Event().wait()


async def ends_at_once(scope: Any, receive: Any, send: Any) -> None:
    return None


async def fails(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("boom in the consumer")


def test_idle_connections_are_not_walked(server: Any, loop: asyncio.AbstractEventLoop) -> None:
    for _ in range(500):
        connect(server, loop, runs_forever)
    settle(loop)
    server.connections.walks = 0
    for _ in range(5):
        daphne_tuning.sweep(server)
    assert server.connections.walks == 0
    assert len(server.connections) == 500
    for details in server.connections.values():
        details["application_instance"].cancel()
    settle(loop)


def test_finished_application_is_reaped_and_disconnected_connection_dropped(
    server: Any, loop: asyncio.AbstractEventLoop
) -> None:
    still_open = connect(server, loop, ends_at_once)
    gone = connect(server, loop, ends_at_once)
    settle(loop)
    server.protocol_disconnected(gone)
    daphne_tuning.sweep(server)
    assert gone not in server.connections
    assert "application_instance" not in server.connections[still_open]
    server.protocol_disconnected(still_open)
    daphne_tuning.sweep(server)
    assert still_open not in server.connections


def test_application_that_outlives_its_connection_is_cancelled_after_the_close_timeout(
    server: Any, loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    protocol = connect(server, loop, runs_forever)
    settle(loop)
    server.protocol_disconnected(protocol)
    daphne_tuning.sweep(server)  # within the timeout: kept, looked at again next time
    instance = server.connections[protocol]["application_instance"]
    assert not instance.done()
    server.connections[protocol]["disconnected"] -= 11
    with caplog.at_level(logging.WARNING, logger="daphne.server"):
        daphne_tuning.sweep(server)
    assert "took too long to shut down" in caplog.text
    settle(loop)
    assert instance.cancelled()
    daphne_tuning.sweep(server)
    assert protocol not in server.connections


def test_exception_is_logged_and_answered_on_a_live_connection(
    server: Any, loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    protocol = connect(server, loop, fails)
    settle(loop)
    with caplog.at_level(logging.ERROR, logger="daphne.server"):
        daphne_tuning.sweep(server)
    assert "boom in the consumer" in caplog.text
    assert [str(e) for e in protocol.exceptions] == ["boom in the consumer"]
    assert protocol in server.connections  # the connection itself is still open


def test_the_checker_reschedules_itself(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from twisted.internet import reactor

    scheduled: list[tuple[float, Any]] = []
    monkeypatch.setattr(reactor, "callLater", lambda delay, fn, *a: scheduled.append((delay, fn)))
    server.application_checker()
    assert scheduled == [(1, server.application_checker)]


@pytest.mark.parametrize(
    ("path", "silent_for", "heartbeat", "pinged"),
    [
        ("/ws/invocations/t-1/", 25, 30, True),  # a browser: daphne's 20 s
        ("/ws/invocations/t-1/", 15, 30, False),
        ("/ws/agent/", 25, 30, False),  # an agent that beats every 30 s is not pinged
        ("/ws/agent/", 55, 30, False),  # ... not even after one missed beat's worth of silence
        ("/ws/agent/", 65, 30, True),  # two intervals of silence: pinged
        ("/ws/agent/", 25, 5, True),  # never less than daphne's own interval
        ("/ws/agent/", 15, 5, False),
    ],
)
def test_agents_are_pinged_only_after_two_heartbeat_intervals_of_silence(
    loop: asyncio.AbstractEventLoop, settings: Any, path: str, silent_for: float, heartbeat: int, pinged: bool
) -> None:
    import time
    from types import SimpleNamespace

    from daphne.ws_protocol import WebSocketProtocol

    daphne_tuning.install()
    settings.ASSIST_HEARTBEAT_INTERVAL = heartbeat
    protocol = WebSocketProtocol()
    protocol.state = protocol.STATE_OPEN
    protocol.request = SimpleNamespace(path=path)
    protocol.server = SimpleNamespace(websocket_timeout=86400, ping_interval=20, websocket_connect_timeout=20)
    protocol.socket_opened = time.time() - 1000
    protocol.last_ping = time.time() - silent_for
    pings: list[float] = []
    protocol._sendAutoPing = lambda: pings.append(time.time())
    protocol.check_timeouts()
    assert bool(pings) is pinged
    if pinged:
        assert time.time() - protocol.last_ping < 1  # the next one counts from this ping
