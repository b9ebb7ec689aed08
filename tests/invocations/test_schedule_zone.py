"""A cron Frequency without a time zone runs in each target instance's zone (reference section 4.3), the
zone its agent reported in the hello; UTC while it is unknown. The scheduler is driven with an explicit
clock; the agent's reports go through the same services the gateway uses."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from console.fleet import services as fleet_services
from console.iam.models import User
from console.invocations import schedule, services
from console.invocations import status as st
from console.invocations.models import InvocationResult
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
DAILY_9AM = "0 0 9 * * ?"  # 09:00:00 every day, no zone


@pytest.mark.parametrize(
    ("frequency", "instance_zone", "first_run"),
    [
        (DAILY_9AM, "Asia/Shanghai", datetime(2026, 12, 3, 1, 0, tzinfo=UTC)),  # 09:00 at UTC+8
        (DAILY_9AM, "America/Lima", datetime(2026, 12, 2, 14, 0, tzinfo=UTC)),  # 09:00 at UTC-5
        (DAILY_9AM, "GMT+5:30", datetime(2026, 12, 3, 3, 30, tzinfo=UTC)),
        (DAILY_9AM, "GMT-3:30", datetime(2026, 12, 2, 12, 30, tzinfo=UTC)),
        (DAILY_9AM, "UTC", datetime(2026, 12, 3, 9, 0, tzinfo=UTC)),
        (DAILY_9AM, "", datetime(2026, 12, 3, 9, 0, tzinfo=UTC)),  # unknown: UTC
        (DAILY_9AM, "Mars/Olympus", datetime(2026, 12, 3, 9, 0, tzinfo=UTC)),  # unreadable: UTC
        (
            "0 0 9 * * ? * Asia/Tokyo",
            "America/Lima",
            datetime(2026, 12, 3, 0, 0, tzinfo=UTC),
        ),  # given zone wins
        ("0 0 9 * * ? 2026", "Asia/Shanghai", datetime(2026, 12, 3, 1, 0, tzinfo=UTC)),  # a year, no zone
        ("rate(5m)", "Asia/Shanghai", NOW + timedelta(minutes=5)),  # rate has no zone
        ("at(2026-12-05 10:00:00)", "Asia/Shanghai", datetime(2026, 12, 5, 10, 0, tzinfo=UTC)),  # at: UTC
    ],
)
def test_the_next_run_on_an_instance(frequency, instance_zone, first_run):
    parsed = schedule.parse(frequency, now=NOW)
    assert parsed.in_zone(instance_zone).next_after(NOW, created=NOW) == first_run


def test_only_a_zone_less_cron_follows_the_instance():
    assert schedule.parse(DAILY_9AM, now=NOW).follows_instance_zone
    for frequency in (
        "0 0 9 * * ? * UTC",
        "0 0 9 * * ? 2026 GMT+8:00",
        "rate(1h)",
        "at(2026-12-05 10:00:00)",
    ):
        assert not schedule.parse(frequency, now=NOW).follows_instance_zone


def zoned_instance(principal, name, zone):
    """An instance whose agent said hello reporting ``zone``, as the gateway records it."""
    instance = make_instance(principal, name)
    return fleet_services.instance_hello(
        instance=instance, agent_version="1.0", os_type="Linux", os_name="Debian", hostname=name,
        ips=[], boot_id="boot-1", time_zone=zone,
    )  # fmt: skip


def latest_status(invocation, instance):
    return InvocationResult.objects.get(invocation=invocation, instance=instance, latest=True).status


def local_9am_after(moment, offset_hours):
    """The first 09:00 local time strictly after ``moment`` at a fixed UTC offset, in UTC."""
    local = moment + timedelta(hours=offset_hours)
    run = local.replace(hour=9, minute=0, second=0, microsecond=0)
    if run <= local:
        run += timedelta(days=1)
    return run - timedelta(hours=offset_hours)


def test_the_hello_records_the_zone(root_principal):
    instance = zoned_instance(root_principal, "sh", "Asia/Shanghai")
    instance.refresh_from_db()
    assert instance.time_zone == "Asia/Shanghai"
    fleet_services.instance_hello(
        instance=instance, agent_version="0.9", os_type="Linux", os_name="Debian", hostname="sh",
        ips=[], boot_id="boot-1",
    )  # fmt: skip  # an agent that predates the report: unknown again
    instance.refresh_from_db()
    assert instance.time_zone == ""


def test_instances_in_two_zones_run_at_their_own_local_time(root_principal):
    shanghai = zoned_instance(root_principal, "sh", "Asia/Shanghai")  # UTC+8, no daylight saving
    lima = zoned_instance(root_principal, "lima", "America/Lima")  # UTC-5, no daylight saving
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[shanghai.id, lima.id], command_content="date",
        frequency=DAILY_9AM, timeout=30,
    )  # fmt: skip
    created = invocation.created_at
    at_shanghai, at_lima = local_9am_after(created, 8), local_9am_after(created, -5)
    assert at_shanghai != at_lima
    assert invocation.next_run_at == min(at_shanghai, at_lima)  # the earliest of the two

    first, first_instance, second, second_instance = (
        (at_shanghai, shanghai, at_lima, lima)
        if at_shanghai < at_lima
        else (at_lima, lima, at_shanghai, shanghai)
    )
    assert services.executions_start_due(now=first - timedelta(seconds=1)) == 0
    assert services.executions_start_due(now=first) == 1  # only the instance whose 09:00 it is
    assert latest_status(invocation, first_instance) == st.PENDING
    assert latest_status(invocation, second_instance) == st.SCHEDULED
    invocation.refresh_from_db()
    assert invocation.next_run_at == second

    assert services.executions_start_due(now=second) == 1
    assert latest_status(invocation, second_instance) == st.PENDING
    invocation.refresh_from_db()
    assert invocation.next_run_at == first + timedelta(days=1)


def test_a_zone_less_cron_on_a_shanghai_instance_runs_at_9_local(root_principal):
    shanghai = zoned_instance(root_principal, "sh", "Asia/Shanghai")
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[shanghai.id], command_content="date", frequency=DAILY_9AM,
        timeout=30,
    )  # fmt: skip
    assert invocation.next_run_at.hour == 1 and invocation.next_run_at.minute == 0  # 09:00 CST is 01:00 UTC
    assert services.executions_start_due(now=invocation.next_run_at) == 1


def offset_with_9am_in(moment, hours):
    """A whole-hour UTC offset whose 09:00 local falls ``hours`` (1-23) full hours after ``moment``'s hour,
    so the test means the same at any time of day."""
    at_utc_hour = (moment.hour + hours) % 24
    offset = (9 - at_utc_hour) % 24
    return offset - 24 if offset > 14 else offset


def gmt(offset):
    return f"GMT{'+' if offset >= 0 else '-'}{abs(offset)}:00"


def test_an_instance_added_in_an_earlier_zone_brings_the_next_run_forward(root_principal):
    now = datetime.now(UTC)
    late_offset, early_offset = offset_with_9am_in(now, 14), offset_with_9am_in(now, 3)
    late = zoned_instance(root_principal, "late", gmt(late_offset))
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[late.id], command_content="date", frequency=DAILY_9AM,
        timeout=30,
    )  # fmt: skip
    at_late = local_9am_after(invocation.created_at, late_offset)
    assert invocation.next_run_at == at_late
    early = zoned_instance(root_principal, "early", gmt(early_offset))
    changed = services.invocation_modify(
        principal=root_principal, invocation_id=invocation.id, instance_ids=[early.id]
    )
    at_early = local_9am_after(changed.created_at, early_offset)
    assert at_early < at_late
    assert changed.next_run_at == at_early
    assert services.executions_start_due(now=at_early) == 1
    assert latest_status(invocation, early) == st.PENDING
    assert latest_status(invocation, late) == st.SCHEDULED


@pytest.mark.parametrize("hour", range(24))
def test_the_test_zones_are_valid_and_ordered_at_every_hour(hour):
    moment = datetime(2026, 12, 3, hour, 59, 59, tzinfo=UTC)
    late, early = offset_with_9am_in(moment, 14), offset_with_9am_in(moment, 3)
    assert schedule.parse(f"0 0 9 * * ? * {gmt(late)}", now=moment)  # a zone the parser accepts
    assert local_9am_after(moment, early) < local_9am_after(moment, late)


def test_a_frequency_change_counts_each_instance_zone(root_principal):
    shanghai = zoned_instance(root_principal, "sh", "Asia/Shanghai")
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[shanghai.id], command_content="date", frequency="rate(1h)",
        timeout=30,
    )  # fmt: skip
    changed = services.invocation_modify(
        principal=root_principal, invocation_id=invocation.id, frequency=DAILY_9AM
    )
    assert changed.next_run_at.hour == 1 and changed.next_run_at.minute == 0


def test_the_instance_page_shows_the_zone(root_principal):
    shanghai = zoned_instance(root_principal, "sh", "Asia/Shanghai")
    silent = make_instance(root_principal, "silent")
    client = Client()
    client.force_login(User.objects.get(pk=root_principal.user_id))
    html = client.get(reverse("instance", args=[shanghai.id])).content.decode()
    assert '<th scope="row">Time zone</th><td>Asia/Shanghai</td>' in html
    assert "unknown (UTC)" in client.get(reverse("instance", args=[silent.id])).content.decode()
