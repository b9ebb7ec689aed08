"""The agent gateway and protocol 4: welcome says the console's protocol only to agents that know the field,
binary task.output messages are stored exactly as text ones, and a bad binary message gets a clear error."""

import json

import pytest
from asgiref.sync import async_to_sync
from assist_agent import protocol
from channels.testing import WebsocketCommunicator

from console.gateway.consumers import CLOSE_UNAUTHENTICATED, AgentConsumer
from console.invocations import selectors, services
from console.invocations import status as st
from console.invocations.models import InvocationResult
from tests.unit.test_gateway_older_agents import _hello, _register

pytestmark = pytest.mark.django_db(transaction=True)


async def _connect(instance, secret, peer_protocol: int) -> tuple[WebsocketCommunicator, dict]:
    communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_to(_hello(instance.id, secret, peer_protocol))
    welcome = json.loads(await communicator.receive_from(timeout=5))
    assert welcome["type"] == protocol.WELCOME
    return communicator, welcome


async def _next(communicator: WebsocketCommunicator, type_: str) -> dict:
    while True:
        frame = json.loads(await communicator.receive_from(timeout=10))
        if frame["type"] == type_:
            return frame


@pytest.mark.parametrize(("peer_protocol", "said"), [(1, None), (3, None), (4, 4), (9, 4)])
def test_welcome_says_the_console_protocol_only_to_agents_that_know_the_field(
    root_principal, peer_protocol, said
):
    instance, secret = _register(root_principal)

    async def scenario():
        communicator, welcome = await _connect(instance, secret, peer_protocol)
        await communicator.disconnect()
        return welcome

    welcome = async_to_sync(scenario)()
    assert welcome.get("protocol") == said
    if said is None:  # exactly the welcome an agent of protocol 3 or older accepts
        assert set(welcome) == {"type", "instance_id", "heartbeat_interval"}


def test_binary_and_text_output_are_stored_alike_and_the_result_is_acknowledged(root_principal):
    instance, secret = _register(root_principal)
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="echo hi"
    )
    result_id = invocation.results.get().id
    chunks = [b"first \xff\x00 text\n", b'second\n{"type":"x"}\n\n', b"", bytes(range(256)) * 200]

    async def scenario():
        communicator, _ = await _connect(instance, secret, protocol.PROTOCOL_VERSION)
        run = await _next(communicator, protocol.TASK_RUN)
        assert run["task_id"] == result_id
        for seq, data in enumerate(chunks, start=1):
            frame = protocol.TaskOutput(task_id=result_id, seq=seq, data=data)
            if seq % 2:  # an agent may mix both kinds (a resend after reconnecting to an older node)
                await communicator.send_to(bytes_data=protocol.encode_binary(frame))
            else:
                await communicator.send_to(text_data=protocol.encode(frame))
        await communicator.send_to(
            protocol.encode(
                protocol.TaskResult(
                    task_id=result_id,
                    status="Success",
                    exit_code=0,
                    error_code="",
                    error_info="",
                    started_at=1.0,
                    finished_at=2.0,
                    last_seq=len(chunks),
                )
            )  # fmt: skip
        )
        ack = await _next(communicator, protocol.TASK_ACK)
        await communicator.disconnect()
        return ack

    assert async_to_sync(scenario)()["task_id"] == result_id
    stored = InvocationResult.objects.get(pk=result_id)
    assert stored.status == st.SUCCESS
    assert selectors.output_of(result_id) == b"".join(chunks)
    assert stored.output_size == sum(len(c) for c in chunks)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"no header line at all", "MalformedFrame"),
        (b'{"type":"heartbeat"}\n', "UnknownType"),
        (b'{"type":"task.output","task_id":"../x","seq":1}\ndata', "InvalidField"),
    ],
    ids=["no header", "not task.output", "bad task id"],
)
def test_a_bad_binary_message_is_answered_with_its_error_and_the_connection_stays(
    root_principal, message, code
):
    instance, secret = _register(root_principal)

    async def scenario():
        communicator, _ = await _connect(instance, secret, protocol.PROTOCOL_VERSION)
        await communicator.send_to(bytes_data=message)
        error = await _next(communicator, protocol.ERROR)
        # still connected and served: an unexpected frame is answered, not dropped
        await communicator.send_to(protocol.encode(protocol.TaskAck(task_id="t-1")))
        unexpected = await _next(communicator, protocol.ERROR)
        await communicator.disconnect()
        return error, unexpected

    error, unexpected = async_to_sync(scenario)()
    assert error["code"] == code and error["message"]
    assert unexpected["code"] == "UnknownType"


def test_a_binary_message_before_hello_is_refused_and_closes(root_principal):
    async def scenario():
        communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
        connected, _ = await communicator.connect()
        assert connected
        frame = protocol.TaskOutput(task_id="t-1", seq=1, data=b"x")
        await communicator.send_to(bytes_data=protocol.encode_binary(frame))
        error = json.loads(await communicator.receive_from(timeout=5))
        closed = await communicator.receive_output(timeout=5)
        await communicator.disconnect()
        return error, closed

    error, closed = async_to_sync(scenario)()
    assert error["type"] == protocol.ERROR and error["code"] == "MalformedFrame"
    assert "hello" in error["message"]
    assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}
