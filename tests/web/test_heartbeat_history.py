"""Heartbeat history of an instance (issue 7): connection events recorded by the agent gateway, beats
counted per instance and hour (never one row per beat), kept bounded, and shown on the instance page as a
strip with text for screen readers and a table of events."""

import asyncio
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from assist_agent import protocol
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.fleet import services as fleet_services
from console.fleet.models import Instance, InstanceConnectionEvent, InstanceHeartbeatHour
from console.gateway.consumers import AgentConsumer
from console.iam.models import User
from console.web import instance_page
from tests.conftest import make_instance

HOUR = timedelta(hours=1)


def _hour(moment):
    return moment.replace(minute=0, second=0, microsecond=0)


def _counts(instance):
    return dict(InstanceHeartbeatHour.objects.filter(instance=instance).values_list("hour", "count"))


@pytest.mark.django_db
def test_beats_are_counted_per_hour_in_one_row(root_principal):
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    now = timezone.now().replace(minute=10)
    for n in range(3):
        fleet_services.instances_heartbeat(instance_ids={a.id, b.id}, now=now + timedelta(seconds=30 * n))
    fleet_services.instances_heartbeat(instance_ids={a.id}, now=now + timedelta(seconds=100))
    fleet_services.instances_heartbeat(instance_ids={a.id}, now=now + HOUR)  # the next hour: a new row
    assert _counts(a) == {_hour(now): 4, _hour(now) + HOUR: 1}
    assert _counts(b) == {_hour(now): 3}
    assert InstanceHeartbeatHour.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        ([{"a": 2, "b": 1}], {"a": 2, "b": 1}),  # gathered beats count as many as arrived
        ([{"a": 2, "b": 1}, {"a": 3}], {"a": 5, "b": 1}),  # existing row: added to
        ([{"a": 1, "b": 1, "c": 4}, {"b": 2, "c": 4}], {"a": 1, "b": 3, "c": 8}),  # mixed numbers
    ],
)
def test_gathered_beats_are_counted_as_many(root_principal, batches, expected):
    instances = {name: make_instance(root_principal, name) for name in "abc"}
    now = timezone.now().replace(minute=10)
    for n, batch in enumerate(batches):
        beats = {instances[name].id: number for name, number in batch.items()}
        fleet_services.instances_heartbeat(beats=beats, now=now + timedelta(seconds=30 * n))
    assert {name: sum(_counts(i).values()) for name, i in instances.items() if _counts(i)} == expected


@pytest.mark.django_db
def test_old_hours_are_pruned_when_a_new_hour_starts(root_principal):
    instance = make_instance(root_principal)
    start = timezone.now().replace(minute=5) - timedelta(hours=60)
    for n in range(61):
        fleet_services.instances_heartbeat(instance_ids={instance.id}, now=start + n * HOUR)
    hours = sorted(_counts(instance))
    assert len(hours) == 49  # the current hour and the 48 before it
    assert hours[0] == _hour(start + 60 * HOUR) - fleet_services.HEARTBEAT_HOURS_KEPT


@pytest.mark.django_db
def test_a_silence_on_an_open_connection_is_a_gap_event(root_principal, settings):
    instance = make_instance(root_principal)
    now = timezone.now()
    fleet_services.instances_heartbeat(instance_ids={instance.id}, now=now)
    fleet_services.instances_heartbeat(instance_ids={instance.id}, now=now + timedelta(seconds=30))
    assert not InstanceConnectionEvent.objects.exists()  # a regular beat is no event
    later = now + timedelta(seconds=30 + settings.ASSIST_OFFLINE_AFTER + 50)
    fleet_services.instances_heartbeat(instance_ids={instance.id}, now=later)
    (gap,) = InstanceConnectionEvent.objects.all()
    assert (gap.kind, gap.gap_seconds, gap.at) == ("heartbeat_gap", settings.ASSIST_OFFLINE_AFTER + 50, later)


@pytest.mark.django_db
def test_connection_events_stay_bounded_by_count_and_age(root_principal):
    instance = make_instance(root_principal)
    now = timezone.now()
    old = now - fleet_services.CONNECTION_EVENTS_MAX_AGE - HOUR
    fleet_services.instance_connection_record(instance_id=instance.id, kind="connected", at=old)
    kept = fleet_services.CONNECTION_EVENTS_KEPT
    for n in range(kept + 5):
        fleet_services.instance_connection_record(
            instance_id=instance.id, kind="disconnected", at=now - timedelta(minutes=kept + 5 - n)
        )
    events = InstanceConnectionEvent.objects.filter(instance=instance)
    assert events.count() == kept
    assert events.filter(at__lte=now - timedelta(days=1)).count() == 0
    fleet_services.instance_connection_record(instance_id="mi-gone", kind="connected")  # no error, no row
    assert not InstanceConnectionEvent.objects.filter(instance_id="mi-gone").exists()


def _hello(instance_id: str, secret: str) -> str:
    return protocol.encode(
        protocol.Hello(
            instance_id=instance_id, secret=secret, agent_version="9.8.7", os_type="Linux", os_name="test",
            hostname="h", ips=(), boot_id="boot-42", held_tasks=(),
        )
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_gateway_records_connect_heartbeats_and_disconnect(root_principal, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    issued = fleet_services.activation_create(principal=root_principal, instance_count=1)
    registration = fleet_services.instance_register(
        activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1", hostname="h"
    )
    instance, secret = registration.instance, registration.secret

    async def scenario():
        communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_to(_hello(instance.id, secret))
        welcome = protocol.decode(await communicator.receive_from(timeout=10), sender="console")
        assert isinstance(welcome, protocol.Welcome)
        await communicator.send_to(protocol.encode(protocol.Heartbeat()))
        await communicator.send_to(protocol.encode(protocol.Heartbeat()))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the ingest batches frames; wait for both beats
            if sum(await sync_to_async(lambda: list(_counts(instance).values()))()) >= 2:
                break
            await asyncio.sleep(0.1)
        await communicator.disconnect()

    async_to_sync(scenario)()
    assert sum(_counts(instance).values()) == 2
    kinds = list(InstanceConnectionEvent.objects.filter(instance=instance).order_by("at", "id"))
    assert [(e.kind, e.agent_version) for e in kinds] == [("connected", "9.8.7"), ("disconnected", "9.8.7")]
    assert kinds[0].boot_id == "boot-42"


@pytest.mark.django_db(transaction=True)
def test_the_gateway_writes_the_beats_of_all_its_agents_together(root_principal, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.ASSIST_HEARTBEAT_INTERVAL = 30  # beats gathered for 2 s (gateway/ingest.py)
    issued = fleet_services.activation_create(principal=root_principal, instance_count=3)
    agents = []
    for n in range(3):
        registration = fleet_services.instance_register(
            activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1",
            hostname=f"h{n}",
        )  # fmt: skip
        agents.append((registration.instance, registration.secret))

    def beats_and_times():
        ids = [instance.id for instance, _ in agents]
        counts = dict(
            InstanceHeartbeatHour.objects.filter(instance_id__in=ids).values_list("instance_id", "count")
        )
        times = {i.id: i.last_heartbeat_at for i in Instance.objects.filter(pk__in=ids)}
        return counts, times

    async def scenario():
        communicators = []
        for instance, secret in agents:
            communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
            assert (await communicator.connect())[0]
            await communicator.send_to(_hello(instance.id, secret))
            welcome = protocol.decode(await communicator.receive_from(timeout=10), sender="console")
            assert isinstance(welcome, protocol.Welcome)
            communicators.append(communicator)
        for communicator in communicators:
            for _ in range(2):
                await communicator.send_to(protocol.encode(protocol.Heartbeat()))
                await asyncio.sleep(0.1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            counts, _ = await sync_to_async(beats_and_times)()
            if sum(counts.values()) >= 6:
                break
            await asyncio.sleep(0.1)
        for communicator in communicators:
            await communicator.disconnect()

    async_to_sync(scenario)()
    counts, times = beats_and_times()
    assert sorted(counts.values()) == [2, 2, 2]  # every beat counted
    assert len(set(times.values())) == 1  # one write for the six beats of the three agents


@pytest.mark.django_db
def test_history_expects_beats_only_since_registration_and_in_the_passed_part_of_the_hour(root_principal):
    instance = make_instance(root_principal)
    now = _hour(timezone.now()) + timedelta(minutes=30)
    instance.registered_at = now - timedelta(hours=2)  # 1.5 hours before the current hour began
    instance.save()
    fleet_services.instances_heartbeat(instance_ids={instance.id}, now=now)
    history = instance_page.heartbeat_history(instance, now=now)
    assert len(history.hours) == instance_page.HISTORY_HOURS
    per_hour = 3600 // history.interval
    assert [h.expected for h in history.hours[-3:]] == [per_hour // 2, per_hour, per_hour // 2]
    assert all(h.expected == 0 for h in history.hours[:-3])
    assert (history.hours[-1].count, history.hours[-1].level, history.hours[-1].tenth) == (1, "low", 1)
    assert history.hours[-2].level == "none" and history.hours[0].level == "void"
    assert history.silent_hours == 2  # the two registered hours without a beat; earlier ones expected none


@pytest.mark.django_db
def test_instance_page_shows_the_strip_with_text_and_the_events(root_principal):
    instance = make_instance(root_principal, "web-hb")
    fleet_services.instances_heartbeat(instance_ids={instance.id})
    fleet_services.instance_connection_record(
        instance_id=instance.id, kind="connected", agent_version="1.2.3", boot_id="b-1"
    )
    fleet_services.instance_connection_record(instance_id=instance.id, kind="heartbeat_gap", gap_seconds=300)
    client = Client()
    client.force_login(User.objects.get(pk=root_principal.user_id))
    html = client.get(reverse("instance", args=[instance.id])).content.decode()
    assert 'aria-label="Heartbeats per hour, last 24 hours (UTC)"' in html
    assert html.count('<li class="hb ') == 24
    assert "1 heartbeat of" in html and "Last 24 hours: 1 heartbeat of about" in html
    assert "Connected" in html and "1.2.3" in html and "<code>b-1</code>" in html
    assert "No heartbeat for 300 s (connection still open)" in html
