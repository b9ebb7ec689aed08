"""Reads for the instance detail page (console/terminals/views.py renders it): the instance's tags, its
recent runs and file transfers, each limited to what the principal may see, and its heartbeat history."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from console.files import selectors as file_selectors
from console.files.models import FileTransferResult
from console.fleet.models import Instance, InstanceConnectionEvent, InstanceHeartbeatHour
from console.fleet.selectors import instance_ids_allowed
from console.iam.principal import Principal
from console.invocations import selectors as inv_selectors
from console.invocations.models import InvocationResult
from console.tags.selectors import tags_of

RECENT = 10
TAG_RESOURCE_TYPE = "managedinstance"


def instance_tags(principal: Principal, instance: Instance) -> dict[str, str]:
    return tags_of(principal.account_id, TAG_RESOURCE_TYPE, [instance.id]).get(instance.id, {})


def recent_runs(principal: Principal, instance: Instance) -> list[InvocationResult]:
    """The newest results on this instance the principal may read (DescribeInvocationResults)."""
    return list(
        inv_selectors.results_visible(principal)
        .filter(instance_id=instance.id)
        .select_related("invocation")
        .order_by("-created_at")[:RECENT]
    )


def recent_transfers(principal: Principal, instance: Instance) -> list[FileTransferResult]:
    """The newest file sends to this instance the principal may read (DescribeSendFileResults)."""
    allowed = instance_ids_allowed(principal, file_selectors.READ_ACTION)
    if allowed is not None and instance.id not in allowed:
        return []
    return list(
        FileTransferResult.objects.filter(instance_id=instance.id, transfer__account_id=principal.account_id)
        .select_related("transfer")
        .order_by("-created_at")[:RECENT]
    )


def parse_tag(text: str) -> tuple[str, str]:
    """``key=value`` (or ``key`` for an empty value) as typed in the tag form."""
    key, _, value = text.partition("=")
    return key.strip(), value.strip()


# Heartbeat history: the last 24 clock hours of beats, and the newest connection events.
HISTORY_HOURS = 24
HISTORY_EVENTS = 20


@dataclass(frozen=True)
class HeartbeatHour:
    start: datetime
    count: int
    expected: int  # beats the agent's interval gives in the part of the hour that has passed

    @property
    def level(self) -> str:
        """void (nothing expected: before registration), none, low (fewer than 90% of the expected
        beats) or ok: the strip's colour."""
        if self.count == 0:
            return "none" if self.expected else "void"
        return "ok" if self.count >= 0.9 * self.expected else "low"

    @property
    def tenth(self) -> int:
        """The bar's height in tenths of the expected count (0-10), for a CSS class."""
        if not self.expected:
            return 10 if self.count else 0
        return max(1 if self.count else 0, min(10, round(10 * self.count / self.expected)))


@dataclass(frozen=True)
class HeartbeatHistory:
    hours: list[HeartbeatHour]
    events: list[InstanceConnectionEvent]
    interval: int

    @property
    def total(self) -> int:
        return sum(hour.count for hour in self.hours)

    @property
    def expected(self) -> int:
        return sum(hour.expected for hour in self.hours)

    @property
    def silent_hours(self) -> int:
        return sum(1 for hour in self.hours if hour.level == "none")


def heartbeat_history(instance: Instance, now: datetime | None = None) -> HeartbeatHistory:
    """Beats per hour for the last HISTORY_HOURS hours (oldest first; the current hour counts what has
    passed of it, and hours before registration expect nothing) and the newest connection events."""
    now = now or timezone.now()
    interval = max(1, settings.ASSIST_HEARTBEAT_INTERVAL)
    current = now.replace(minute=0, second=0, microsecond=0)
    starts = [current - timedelta(hours=n) for n in range(HISTORY_HOURS - 1, -1, -1)]
    rows = InstanceHeartbeatHour.objects.filter(instance=instance, hour__gte=starts[0])
    counts = dict(rows.values_list("hour", "count"))
    hours = []
    for start in starts:
        end = min(start + timedelta(hours=1), now)
        begin = max(start, instance.registered_at)
        seconds = max(0.0, (end - begin).total_seconds())
        expected = int(seconds // interval)
        hours.append(HeartbeatHour(start=start, count=counts.get(start, 0), expected=expected))
    events = list(InstanceConnectionEvent.objects.filter(instance=instance)[:HISTORY_EVENTS])
    return HeartbeatHistory(hours=hours, events=events, interval=interval)
