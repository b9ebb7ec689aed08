"""Rate control, beyond the original: MaxConcurrency and MaxErrors of a run (run_options.py checks the
values; docs/api.md, "Rate control").

A run's results beyond MaxConcurrency are made Pending with ``queued`` set: not delivered, not timed out.
Whenever results of a rate-controlled invocation end (agent reports, delivery timeouts, released
instances), ``rate_control_after`` looks at each such invocation's current run once: more failed instances
than MaxErrors allows ends every result not yet started Cancelled; otherwise queued results are released
into the slots that freed up, in instance id order, and delivered. A handful of statements per batch,
whatever the number of results or invocations in it.

A Once task's run is all its results; a Period task's run is the executions of its latest run number
(``repeats``); reboot tasks start per instance at boot, so rate control does not apply to them."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from console.invocations import events, run_options
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult

FAILED_FOR_MAX_ERRORS = frozenset({st.FAILED, st.ERROR, st.TIMEOUT})
IN_FLIGHT = frozenset({st.RUNNING, st.STOPPING})
RATE_CONTROLLED_MODES = (run_options.ONCE, run_options.PERIOD)


def first_slots(count: int, max_concurrency: str, targets: int) -> list[bool]:
    """For a run starting ``count`` results (in delivery order) of ``targets`` instances: whether each one
    waits for a slot (``queued``)."""
    limit = run_options.concurrency_limit(max_concurrency, targets)
    return [limit is not None and index >= limit for index in range(count)]


def _run_counts(invocation: dict, rows: list[dict]) -> dict[str, int]:
    """Counts of the invocation's current run: failed, in flight (delivered and not ended) and queued."""
    if invocation["repeat_mode"] == run_options.PERIOD:
        live = [row["repeats"] for row in rows if row["status"] in (st.PENDING, *IN_FLIGHT)]
        run = max(live, default=None)
        rows = [row for row in rows if row["repeats"] == run]
    counts = {"failed": 0, "in_flight": 0, "queued": 0}
    for row in rows:
        if row["status"] in FAILED_FOR_MAX_ERRORS:
            counts["failed"] += row["n"]
        elif row["status"] == st.PENDING:
            counts["queued" if row["queued"] else "in_flight"] += row["n"]
        elif row["status"] in IN_FLIGHT:
            counts["in_flight"] += row["n"]
    return counts


def rate_control_after(invocation_ids: Iterable[str], *, now: datetime | None = None) -> list[str]:
    """Apply MaxErrors and MaxConcurrency to the current run of each given invocation after some of its
    results ended. Runs in the caller's transaction (or its own); deliveries go out on commit. Returns
    the ids of the results it cancelled (a periodic task's roll over to the next run like any ended one)."""
    ids = set(invocation_ids)
    if not ids:
        return []
    now = now or timezone.now()
    with transaction.atomic():
        # Locked so that two batches ending results of one invocation never release the same slot twice.
        invocations = list(
            Invocation.objects.select_for_update()
            .filter(pk__in=ids, repeat_mode__in=RATE_CONTROLLED_MODES)
            .exclude(max_concurrency="", max_errors="")
            .order_by("pk")
            .values("pk", "repeat_mode", "max_concurrency", "max_errors")
        )
        if not invocations:
            return []
        wanted = [invocation["pk"] for invocation in invocations]
        grouped: dict[str, list[dict]] = defaultdict(list)
        targets: dict[str, int] = defaultdict(int)
        rows = (
            InvocationResult.objects.filter(invocation_id__in=wanted)
            .values("invocation_id", "repeats", "status", "queued", "latest")
            .annotate(n=Count("id"))
        )
        for row in rows:
            grouped[row["invocation_id"]].append(row)
            if row["latest"]:
                targets[row["invocation_id"]] += row["n"]

        over_budget: dict[str, str] = {}  # invocation id -> why its not-started results end
        free_slots: dict[str, int] = {}
        for invocation in invocations:
            pk = invocation["pk"]
            counts = _run_counts(invocation, grouped[pk])
            allowed = run_options.errors_allowed(invocation["max_errors"], targets[pk])
            if allowed is not None and counts["failed"] > allowed:
                over_budget[pk] = (
                    f"not started: {counts['failed']} instances failed, more than MaxErrors="
                    f"{invocation['max_errors']} allows"
                )
                continue
            limit = run_options.concurrency_limit(invocation["max_concurrency"], targets[pk])
            if limit is not None and counts["queued"]:
                free_slots[pk] = max(0, limit - counts["in_flight"])
        cancelled = _cancel_not_started(over_budget, now) if over_budget else []
        if any(free_slots.values()):
            _release(free_slots, now)
    return cancelled


def _cancel_not_started(over_budget: dict[str, str], now: datetime) -> list[str]:
    pending = list(
        InvocationResult.objects.select_for_update()
        .filter(invocation_id__in=list(over_budget), status__in=st.sources(st.MAX_ERRORS))
        .values_list("pk", "invocation_id", "instance_id", "queued")
    )
    by_reason: dict[str, list[str]] = defaultdict(list)
    for pk, invocation_id, _, _ in pending:
        by_reason[over_budget[invocation_id]].append(pk)
    for reason, pks in by_reason.items():
        InvocationResult.objects.filter(pk__in=pks, status__in=st.sources(st.MAX_ERRORS)).update(
            status=st.transition(st.PENDING, st.MAX_ERRORS),
            queued=False,
            error_code="MaxErrorsExceeded",
            error_info=reason[:512],
            finished_at=now,
            updated_at=now,
        )
    for pk, invocation_id, _, _ in pending:
        events.ring_browsers_on_commit(invocation_id, pk)
    # A delivered one may have reached its agent: it is told to drop it (ignored when it does not run it).
    delivered = [(instance_id, pk) for pk, _, instance_id, queued in pending if not queued]
    if delivered:
        transaction.on_commit(lambda: [events.ring_agent_stop(i, pk) for i, pk in delivered])
    return [pk for pk, _, _, _ in pending]


def _release(free_slots: dict[str, int], now: datetime) -> None:
    queued = InvocationResult.objects.filter(
        invocation_id__in=[pk for pk, free in free_slots.items() if free], status=st.PENDING, queued=True
    ).order_by("invocation_id", "instance_id", "pk")
    chosen: list[str] = []
    taken: dict[str, int] = defaultdict(int)
    for pk, invocation_id in queued.values_list("pk", "invocation_id"):
        if taken[invocation_id] < free_slots[invocation_id]:
            taken[invocation_id] += 1
            chosen.append(pk)
            events.ring_browsers_on_commit(invocation_id, pk)
    if not chosen:
        return
    # Its delivery timeout counts from now, when it may first be delivered.
    InvocationResult.objects.filter(pk__in=chosen).update(queued=False, created_at=now, updated_at=now)
    from console.invocations.tasks import dispatch_invocation

    for invocation_id in sorted(taken):
        transaction.on_commit(lambda task=invocation_id: dispatch_invocation.delay(task))


def rate_control_sweep(*, now: datetime | None = None) -> list[str]:
    """The tick's safety net: look again at every invocation that still has queued results, so a slot
    freed by a path that did not call ``rate_control_after`` (or whose delivery was lost) is used."""
    waiting = (
        InvocationResult.objects.filter(status=st.PENDING, queued=True)
        .values_list("invocation_id", flat=True)
        .distinct()[:500]
    )
    return rate_control_after(list(waiting), now=now)
