"""The browser stream consumer in-process: who may subscribe, and resuming from cursors."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from console.iam.models import User
from console.invocations import reports, services
from console.web.consumers import InvocationStreamConsumer
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db(transaction=True)


def _communicator(user, invocation_id):
    app = InvocationStreamConsumer.as_asgi()
    communicator = WebsocketCommunicator(app, f"/ws/invocations/{invocation_id}/")
    communicator.scope["user"] = user
    communicator.scope["url_route"] = {"kwargs": {"invocation_id": invocation_id}}
    return communicator


def _invocation_with_output(principal):
    instance = make_instance(principal)
    invocation = services.invocation_run_command(
        principal=principal, instance_ids=[instance.id], command_content="x"
    )
    result = invocation.results.get()
    for seq, text in enumerate([b"one\n", b"two\n", b"three\n"], start=1):
        reports.result_record_output(instance_id=instance.id, task_id=result.id, seq=seq, data=text)
    return invocation, result


def test_resume_sends_only_what_the_browser_has_not_seen(root_principal):
    invocation, result = _invocation_with_output(root_principal)
    owner = User.objects.get(pk=root_principal.user_id)

    async def scenario():
        communicator = _communicator(owner, invocation.id)
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_json_to({"type": "resume", "cursors": {result.id: 1}})
        messages = [await communicator.receive_json_from() for _ in range(4)]
        await communicator.disconnect()
        return messages

    messages = async_to_sync(scenario)()
    outputs = [m for m in messages if m["type"] == "output"]
    assert [(m["seq"], m["text"]) for m in outputs] == [(2, "two\n"), (3, "three\n")]
    assert messages[2]["type"] == "result" and messages[2]["status"] == "Pending"
    assert messages[3] == {"type": "overall", "status": "Pending", "done": 0, "total": 1}


def test_another_account_cannot_subscribe(root_principal, other_principal):
    invocation, _ = _invocation_with_output(root_principal)
    stranger = User.objects.get(pk=other_principal.user_id)

    async def scenario():
        communicator = _communicator(stranger, invocation.id)
        connected, code = await communicator.connect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert not connected and code == 4404


def test_output_reaches_the_page_exactly_whatever_its_characters(root_principal):
    """Non-ASCII output (a character split between two chunks included), control characters, quotes and
    backslashes arrive as the script printed them, each message one JSON text."""
    instance = make_instance(root_principal)
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="x"
    )
    result = invocation.results.get()
    printed = 'ünïcödé 日本語 "quoted" back\\slash \x00\x1b[31m\t\u2028 😀\n'.encode()
    split = printed.index("日".encode()) + 1  # inside the three bytes of 日
    for seq, data in enumerate([printed[:split], printed[split:]], start=1):
        reports.result_record_output(instance_id=instance.id, task_id=result.id, seq=seq, data=data)
    owner = User.objects.get(pk=root_principal.user_id)

    async def scenario():
        communicator = _communicator(owner, invocation.id)
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_json_to({"type": "resume", "cursors": {}})
        frames = [await communicator.receive_output(timeout=5) for _ in range(4)]
        await communicator.disconnect()
        return frames

    frames = async_to_sync(scenario)()
    messages = [json.loads(frame["text"]) for frame in frames]
    outputs = [m for m in messages if m["type"] == "output"]
    assert [m["seq"] for m in outputs] == [1, 2]
    assert "".join(m["text"] for m in outputs).encode() == printed
    assert [m["type"] for m in messages[2:]] == ["result", "overall"]


def test_doorbells_ringing_during_an_update_are_answered_by_one_update(root_principal, monkeypatch):
    """Thirty results change while the page's stream is reading the database: their thirty doorbells
    are answered by one more update naming all of them, not by thirty updates queued one behind the
    other (with hundreds of results printing at once, the queue outgrew what the node could read)."""
    import asyncio
    import threading

    from channels.layers import get_channel_layer

    from console.invocations import events
    from console.web import consumers

    instances = [make_instance(root_principal, name=f"web-{n}") for n in range(30)]
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[i.id for i in instances], command_content="x"
    )
    result_ids = sorted(invocation.results.values_list("id", flat=True))
    owner = User.objects.get(pk=root_principal.user_id)
    reading, release = threading.Event(), threading.Event()
    calls: list[set[str] | None] = []
    armed = False
    real_updates_for = consumers.updates_for

    def updates_for_that_waits(invocation_id, cursors, result_ids=None, *args):
        if armed:
            calls.append(result_ids and set(result_ids))
            if len(calls) == 1:
                reading.set()
                assert release.wait(10)
        return real_updates_for(invocation_id, cursors, result_ids, *args)

    monkeypatch.setattr(consumers, "updates_for", updates_for_that_waits)

    async def drain(communicator) -> list[dict]:
        messages = []
        while not await communicator.receive_nothing(timeout=0.5):
            messages.append(await communicator.receive_json_from())
        return messages

    async def scenario():
        nonlocal armed
        communicator = _communicator(owner, invocation.id)
        assert (await communicator.connect())[0]
        await communicator.send_json_to({"type": "resume", "cursors": {}})
        first = await drain(communicator)
        assert {m["result_id"] for m in first if m["type"] == "result"} == set(result_ids)
        armed = True
        layer = get_channel_layer()
        group = events.invocation_group(invocation.id)
        await layer.group_send(group, {"type": "invocation.changed", "result_ids": result_ids[:1]})
        assert await asyncio.to_thread(reading.wait, 10)
        for result_id in result_ids[1:]:
            await layer.group_send(group, {"type": "invocation.changed", "result_ids": [result_id]})
        await asyncio.sleep(0.2)  # the doorbells are handled while the first update still reads
        release.set()
        later = await drain(communicator)
        await communicator.disconnect()
        return later

    later = async_to_sync(scenario)()
    assert calls[:2] == [set(result_ids[:1]), set(result_ids[1:])]
    assert len(calls) <= 3  # a safety poll may add one update for all
    assert {m["result_id"] for m in later if m["type"] == "result"} == set(result_ids)
    assert later[-1]["type"] == "overall" and later[-1]["total"] == 30
