"""A browser that does not read its invocation stream is bounded (issue 9): past the unread-bytes limit the
stream closes (4008), and the page, reconnecting with the cursors of what it received, gets the rest with no
gap and no duplicate. A browser that acknowledges what it reads is not closed while it keeps up."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from console.iam.models import User
from console.invocations import reports, services
from console.web.consumers import CLOSE_TOO_FAR_BEHIND, InvocationStreamConsumer
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db(transaction=True)

CHUNKS = 20
CHUNK = 10_000  # bytes of output per chunk
LIMIT = 35_000  # unread bytes: three chunks and a bit


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.ASSIST_BROWSER_UNREAD_BYTES = LIMIT


def _chatty_invocation(principal):
    instance = make_instance(principal)
    invocation = services.invocation_run_command(
        principal=principal, instance_ids=[instance.id], command_content="yes"
    )
    result = invocation.results.get()
    for seq in range(1, CHUNKS + 1):
        line = f"{seq:04d}".encode() * (CHUNK // 4)
        reports.result_record_output(instance_id=instance.id, task_id=result.id, seq=seq, data=line)
    return invocation, result


async def _connection(user, invocation_id: str, cursors: dict, *, ack: bool) -> tuple[list[dict], int | None]:
    """One page connection: resume from ``cursors``, read until the stream is quiet or closed; the
    messages and the close code (None when it stayed open)."""
    communicator = WebsocketCommunicator(
        InvocationStreamConsumer.as_asgi(), f"/ws/invocations/{invocation_id}/"
    )
    communicator.scope["user"] = user
    communicator.scope["url_route"] = {"kwargs": {"invocation_id": invocation_id}}
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "resume", "cursors": cursors})
    messages: list[dict] = []
    while not await communicator.receive_nothing(timeout=2):
        event = await communicator.receive_output(timeout=5)
        if event["type"] == "websocket.close":
            return messages, event.get("code")
        messages.append(json.loads(event["text"]))
        if ack:
            await communicator.send_json_to({"type": "ack", "received": len(messages)})
    await communicator.disconnect()
    return messages, None


def _seqs(messages: list[dict]) -> list[int]:
    return [m["seq"] for m in messages if m["type"] == "output"]


def test_a_browser_that_does_not_read_is_closed_and_resumes_without_gap(root_principal):
    invocation, result = _chatty_invocation(root_principal)
    owner = User.objects.get(pk=root_principal.user_id)

    received: list[int] = []
    text = ""
    closes = 0
    for _ in range(CHUNKS + 2):  # each connection brings at least one chunk
        cursors = {result.id: received[-1]} if received else {}
        messages, code = async_to_sync(_connection)(owner, invocation.id, cursors, ack=False)
        sent = sum(len(json.dumps(m).encode()) for m in messages)
        assert sent <= LIMIT + CHUNK * 2  # never far past the limit (one message may cross it)
        received += _seqs(messages)
        text += "".join(m["text"] for m in messages if m["type"] == "output")
        if code is None:
            break
        assert code == CLOSE_TOO_FAR_BEHIND
        closes += 1
    assert closes >= CHUNKS * CHUNK // LIMIT - 1  # it was closed, again and again
    assert received == list(range(1, CHUNKS + 1))  # no gap, no duplicate across the reconnects
    assert text == "".join(f"{seq:04d}" * (CHUNK // 4) for seq in range(1, CHUNKS + 1))


def test_a_browser_that_acknowledges_live_output_is_never_closed(root_principal, settings):
    """Output arriving while the page watches, three times the limit in all, each message acknowledged (the
    limit leaves room for the acknowledgements' round trip, as the real 8 MiB does)."""
    settings.ASSIST_BROWSER_UNREAD_BYTES = CHUNKS * CHUNK // 3
    instance = make_instance(root_principal)
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="yes"
    )
    result = invocation.results.get()
    owner = User.objects.get(pk=root_principal.user_id)
    record = database_sync_to_async(reports.result_record_output)

    async def scenario() -> list[int]:
        communicator = WebsocketCommunicator(
            InvocationStreamConsumer.as_asgi(), f"/ws/invocations/{invocation.id}/"
        )
        communicator.scope["user"] = owner
        communicator.scope["url_route"] = {"kwargs": {"invocation_id": invocation.id}}
        assert (await communicator.connect())[0]
        await communicator.send_json_to({"type": "resume", "cursors": {}})
        received, seqs = 0, []
        for seq in range(1, CHUNKS + 1):
            await record(instance_id=instance.id, task_id=result.id, seq=seq, data=b"x" * CHUNK)
            while seq not in seqs or not await communicator.receive_nothing(timeout=0.2):  # read it all
                event = await communicator.receive_output(timeout=10)
                assert event["type"] == "websocket.send", event  # never closed
                received += 1
                message = json.loads(event["text"])
                if message["type"] == "output":
                    seqs.append(message["seq"])
                await communicator.send_json_to({"type": "ack", "received": received})
        await communicator.disconnect()
        return seqs

    assert async_to_sync(scenario)() == list(range(1, CHUNKS + 1))


@pytest.mark.parametrize("ack", [{"type": "ack", "received": 99}, {"type": "ack", "received": "1"}])
def test_a_wrong_ack_gets_an_error(root_principal, ack):
    invocation, _ = _chatty_invocation(root_principal)
    owner = User.objects.get(pk=root_principal.user_id)

    async def scenario():
        communicator = WebsocketCommunicator(
            InvocationStreamConsumer.as_asgi(), f"/ws/invocations/{invocation.id}/"
        )
        communicator.scope["user"] = owner
        communicator.scope["url_route"] = {"kwargs": {"invocation_id": invocation.id}}
        await communicator.connect()
        await communicator.send_json_to(ack)
        answer = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return answer

    answer = async_to_sync(scenario)()
    assert answer["type"] == "error" and "ack" in answer["message"]


def test_many_results_printing_at_once_reach_an_acknowledging_page_without_a_close(root_principal, settings):
    """Forty results with 100 kB each waiting at once (some of it control bytes, six times longer once
    escaped for JSON): far more than the unread limit in one go. The page that acknowledges gets it all,
    each result in order, without being closed: updates are bounded in all, and an update that would
    still cross the limit is held back in the database until the page has read."""
    settings.ASSIST_BROWSER_UNREAD_BYTES = 2 << 20
    issued_for = [make_instance(root_principal, name=f"web-{n}") for n in range(40)]
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[i.id for i in issued_for], command_content="yes"
    )
    results = {r.instance_id: r for r in invocation.results.all()}
    expected: dict[str, str] = {}
    for n, instance in enumerate(issued_for):
        result = results[instance.id]
        byte = b"\x01" if n % 2 else b"x"
        for seq in range(1, 6):
            reports.result_record_output(
                instance_id=instance.id, task_id=result.id, seq=seq, data=byte * 20_000
            )
        expected[result.id] = byte.decode() * 100_000
    owner = User.objects.get(pk=root_principal.user_id)

    async def scenario() -> tuple[dict[str, list[int]], dict[str, str]]:
        communicator = WebsocketCommunicator(
            InvocationStreamConsumer.as_asgi(), f"/ws/invocations/{invocation.id}/"
        )
        communicator.scope["user"] = owner
        communicator.scope["url_route"] = {"kwargs": {"invocation_id": invocation.id}}
        assert (await communicator.connect())[0]
        await communicator.send_json_to({"type": "resume", "cursors": {}, "acks": True})
        received = 0
        seqs: dict[str, list[int]] = {}
        texts: dict[str, str] = {}
        while not await communicator.receive_nothing(timeout=1):
            event = await communicator.receive_output(timeout=10)
            assert event["type"] == "websocket.send", event  # never closed
            received += 1
            message = json.loads(event["text"])
            if message["type"] == "output":
                seqs.setdefault(message["result_id"], []).append(message["seq"])
                texts[message["result_id"]] = texts.get(message["result_id"], "") + message["text"]
            await communicator.send_json_to({"type": "ack", "received": received})
        await communicator.disconnect()
        return seqs, texts

    seqs, texts = async_to_sync(scenario)()
    assert seqs == {result_id: [1, 2, 3, 4, 5] for result_id in expected}
    assert texts == expected
