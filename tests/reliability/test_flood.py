"""A flooding agent is bounded (issue 9): each connection has a frame budget (a token bucket); past it the
gateway closes the connection with 1008 and a log line, and an agent within it is served as usual."""

import logging

import pytest
from asgiref.sync import async_to_sync
from assist_agent import protocol
from channels.testing import WebsocketCommunicator

from console.fleet import services as fleet_services
from console.gateway.consumers import CLOSE_POLICY_VIOLATION, AgentConsumer
from console.gateway.ratelimit import FrameBudget

# (rate, burst, arrival times of frames, which are taken)
BUCKET = [
    (10, 3, [0, 0, 0, 0], [True, True, True, False]),  # a burst of 3, the 4th refused
    (10, 3, [0, 0, 0, 0.1, 0.1], [True, True, True, True, False]),  # 0.1 s earns one frame back
    (10, 3, [0, 0, 0, 10, 10, 10, 10], [True] * 6 + [False]),  # refills to the burst, not beyond
    (1, 1, [0, 0.5, 1.0, 1.9, 2.0], [True, False, True, False, True]),  # a steady 1/s
    (100, 1, [5, 4, 6], [True, False, True]),  # a clock going back earns nothing
]


@pytest.mark.parametrize(("rate", "burst", "times", "taken"), BUCKET)
def test_the_frame_budget(rate, burst, times, taken):
    budget = FrameBudget(rate=rate, burst=burst)
    assert [budget.take(t) for t in times] == taken


@pytest.mark.parametrize(("rate", "burst"), [(0, 10), (-1, 10), (10, 0.5)])
def test_a_budget_that_allows_nothing_is_refused(rate, burst):
    with pytest.raises(ValueError, match="rate > 0 and burst >= 1"):
        FrameBudget(rate=rate, burst=burst)


def _hello(instance_id: str, secret: str) -> str:
    return protocol.encode(
        protocol.Hello(
            instance_id=instance_id, secret=secret, agent_version="0.1.0", os_type="Linux", os_name="test",
            hostname="h", ips=(), boot_id="b", held_tasks=(),
        )
    )  # fmt: skip


def _agent_sends(instance, secret, frames: int) -> int | None:
    """Connect, say hello, send ``frames`` heartbeats at once; the close code, or None if still open."""

    async def scenario():
        communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_to(_hello(instance.id, secret))
        welcome = protocol.decode(await communicator.receive_from(timeout=10), sender="console")
        assert isinstance(welcome, protocol.Welcome)
        heartbeat = protocol.encode(protocol.Heartbeat())
        for _ in range(frames):
            await communicator.send_to(heartbeat)
        code = None
        while not await communicator.receive_nothing(timeout=1):
            event = await communicator.receive_output(timeout=5)
            if event["type"] == "websocket.close":
                code = event.get("code")
                break
        await communicator.disconnect()
        return code

    return async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_flooding_agent_is_closed_and_a_calm_one_is_not(root_principal, settings, caplog):
    settings.ASSIST_AGENT_FRAMES_PER_SECOND = 1
    settings.ASSIST_AGENT_FRAME_BURST = 20  # the hello and 19 frames
    issued = fleet_services.activation_create(principal=root_principal, instance_count=1)
    registration = fleet_services.instance_register(
        activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1", hostname="h"
    )
    instance, secret = registration.instance, registration.secret

    assert _agent_sends(instance, secret, frames=10) is None
    with caplog.at_level(logging.WARNING, logger="console.gateway.consumers"):
        assert _agent_sends(instance, secret, frames=200) == CLOSE_POLICY_VIOLATION
    assert f"agent {instance.id} (" in caplog.text and "sent more than 1 frames/s" in caplog.text
