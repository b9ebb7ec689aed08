"""Reads behind the console's overview pages (dashboard, instance list), built on the scoped selectors of
each app, so a user sees only what the account wall and its policies allow."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from console.fleet.models import Instance
from console.fleet.selectors import instances_visible, online_cutoff
from console.iam.principal import Principal
from console.invocations import selectors as inv_selectors
from console.invocations import status as st
from console.tags.selectors import filter_by_tags

INSTANCE_STATUSES = ("online", "offline")


def parse_tag_filter(text: str) -> dict[str, str | None] | None:
    """``key=value`` (exact) or ``key`` (any value); None when the text names no key."""
    key, sep, value = text.strip().partition("=")
    key = key.strip()
    if not key:
        return None
    return {key: value.strip() if sep else None}


def instances_filtered(
    principal: Principal, *, query: str = "", status: str = "", os_type: str = "", tag: str = ""
) -> QuerySet[Instance]:
    """Visible instances matching a search (name, id, hostname or IP, substring), an online state, an OS
    type and a tag (``key=value`` or ``key``)."""
    instances = instances_visible(principal)
    if query:
        instances = instances.annotate(ips_text=Cast("ips", output_field=TextField())).filter(
            Q(name__icontains=query)
            | Q(id__icontains=query)
            | Q(hostname__icontains=query)
            | Q(ips_text__icontains=query)
        )
    cutoff = online_cutoff()
    if status == "online":
        instances = instances.filter(last_heartbeat_at__gte=cutoff)
    elif status == "offline":
        instances = instances.filter(Q(last_heartbeat_at__lt=cutoff) | Q(last_heartbeat_at__isnull=True))
    if os_type:
        instances = instances.filter(os_type=os_type)
    wanted = parse_tag_filter(tag)
    if wanted:
        instances = filter_by_tags(
            instances, account_id=principal.account_id, resource_type="managedinstance", wanted=wanted
        )
    return instances.order_by("name", "id")


def os_types(principal: Principal) -> list[str]:
    return sorted(
        {
            value
            for value in instances_visible(principal).values_list("os_type", flat=True).distinct()
            if value
        }
    )


@dataclass(frozen=True)
class OsRow:
    os: str
    online: int
    offline: int


@dataclass(frozen=True)
class ChartBar:
    """One hour of the invocations chart: its label and one stacked segment per status group."""

    label: str
    x: int
    total: int
    segments: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Dashboard:
    online: int
    offline: int
    by_os: list[OsRow]
    versions: list[tuple[str, int]]
    day_counts: list[tuple[str, int]]
    day_total: int
    bars: list[ChartBar]
    chart_max: int
    running: list[dict]
    failures: list


# The chart groups the overall statuses in four colours; the legend shows the exact statuses' counts.
CHART_GROUPS = (
    ("Success", frozenset({st.SUCCESS})),
    ("Failed", frozenset({st.FAILED, "PartialFailed"})),
    ("Stopped", frozenset({"Stopped"})),
    ("In progress", frozenset({st.PENDING, st.RUNNING, st.STOPPING, st.SCHEDULED})),
)
CHART_HEIGHT = 120


def css_of(group: str) -> str:
    return group.lower().replace(" ", "-")


BAR_WIDTH = 22
CHART_SCAN_LIMIT = 20000


def _chart(created: list[tuple[datetime, str]], now: datetime) -> tuple[list[ChartBar], int]:
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hours: list[Counter] = [Counter() for _ in range(24)]
    for created_at, overall in created:
        slot = int((created_at - start).total_seconds() // 3600)
        if 0 <= slot < 24:
            group = next((name for name, members in CHART_GROUPS if overall in members), "Failed")
            hours[slot][group] += 1
    peak = max([sum(c.values()) for c in hours] + [1])
    bars = []
    for slot, counts in enumerate(hours):
        y = CHART_HEIGHT
        segments = []
        for name, _ in CHART_GROUPS:
            n = counts.get(name, 0)
            if not n:
                continue
            height = max(2, round(n * CHART_HEIGHT / peak))
            y -= height
            segments.append({"group": name, "css": css_of(name), "n": n, "y": y, "h": height})
        label = (start + timedelta(hours=slot)).strftime("%H:00")
        bars.append(
            ChartBar(label=label, x=slot * (BAR_WIDTH + 4), total=sum(counts.values()), segments=segments)
        )
    return bars, peak


def dashboard(principal: Principal, now: datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    cutoff = online_cutoff()
    instances = instances_visible(principal)
    os_rows = (
        instances.values("os_type", "os_name")
        .annotate(total=Count("id"), online=Count("id", filter=Q(last_heartbeat_at__gte=cutoff)))
        .order_by("os_type", "os_name")
    )
    by_os = [
        OsRow(os=" ".join(p for p in (r["os_type"], r["os_name"]) if p) or "unknown", online=r["online"],
              offline=r["total"] - r["online"])
        for r in os_rows
    ]  # fmt: skip
    versions = [
        (row["agent_version"] or "unknown", row["n"])
        for row in instances.values("agent_version").annotate(n=Count("id")).order_by("-n", "agent_version")
    ]
    since = now - timedelta(hours=24)
    recent = inv_selectors.with_overall_status(
        inv_selectors.invocations_visible(principal).filter(created_at__gte=since)
    )
    created = list(recent.values_list("created_at", "overall")[:CHART_SCAN_LIMIT])
    day = Counter(overall for _, overall in created)
    bars, peak = _chart(created, now)
    running_rows = list(
        inv_selectors.with_overall_status(inv_selectors.invocations_visible(principal))
        .filter(overall__in=[st.PENDING, st.RUNNING, st.STOPPING, st.SCHEDULED])
        .order_by("-created_at")[:10]
    )
    counts = inv_selectors.status_counts(principal, [i.id for i in running_rows])
    running = []
    for invocation in running_rows:
        by_status = counts[invocation.id]
        total = sum(by_status.values())
        done = sum(n for status, n in by_status.items() if status in st.FINAL)
        running.append({"invocation": invocation, "done": done, "total": total})
    return Dashboard(
        online=sum(r.online for r in by_os),
        offline=sum(r.offline for r in by_os),
        by_os=by_os,
        versions=versions,
        day_counts=sorted(day.items(), key=lambda item: st.OVERALL_STATUSES.index(item[0])),
        day_total=len(created),
        bars=bars,
        chart_max=peak,
        running=running,
        failures=inv_selectors.results_failed_recently(principal, since=now - timedelta(days=7)),
    )
