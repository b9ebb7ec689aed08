from collections.abc import Set

from django.db import connection
from django.db.models import Case, CharField, Count, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

from console import pg_binary
from console.errors import NotFound
from console.fleet.selectors import instance_ids_allowed
from console.iam.principal import Principal
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult, OutputChunk


def invocations_visible(principal: Principal) -> QuerySet[Invocation]:
    """The account's invocations; for a RAM user, those touching an instance it may describe them on."""
    invocations = Invocation.objects.filter(account_id=principal.account_id)
    allowed = instance_ids_allowed(principal, "ecs:DescribeInvocations")
    if allowed is None:
        return invocations
    return invocations.filter(
        pk__in=InvocationResult.objects.filter(instance_id__in=allowed).values("invocation_id")
    )


def invocation_ids_on_instance(instance_id: str) -> list[str] | QuerySet[InvocationResult]:
    """The ids of the invocations that ran on an instance, for ``pk__in`` (each has one ``latest`` result
    there). On PostgreSQL a list, which the invocations' queries take as one array (console/lookups.py): as
    a subquery the planner hashes every invocation of the account to join the instance's, 10-13 ms per
    query at 20,000 invocations, against 1-3 ms (docs/performance.md, section 4). Elsewhere a subquery:
    SQLite caps the parameters of a query."""
    on_instance = InvocationResult.objects.filter(instance_id=instance_id, latest=True)
    if connection.vendor != "postgresql":
        return on_instance.values("invocation_id")
    return list(on_instance.values_list("invocation_id", flat=True))


def invocation_get(principal: Principal, invocation_id: str) -> Invocation:
    invocation = invocations_visible(principal).filter(pk=invocation_id).first()
    if invocation is None:
        raise NotFound("InvalidInvokeId.NotFound", f"The invocation {invocation_id} does not exist.")
    return invocation


def invocation_of_account(principal: Principal, invocation_id: str, region: str = "") -> Invocation:
    """An invocation of the principal's account (in ``region`` when given), for a service that then
    authorizes its own action on the instances involved."""
    invocations = Invocation.objects.filter(account_id=principal.account_id)
    if region:
        invocations = invocations.filter(region=region)
    invocation = invocations.filter(pk=invocation_id).first()
    if invocation is None:
        raise NotFound("InvalidInvokeId.NotFound", f"The invocation {invocation_id} does not exist.")
    return invocation


def with_overall_status(invocations: QuerySet[Invocation]) -> QuerySet[Invocation]:
    """Annotate ``overall``: ``status.overall_status`` of each invocation's results, computed by the
    database so that it can be filtered and paged on (DescribeInvocations' InvokeStatus)."""

    # Only each instance's latest execution counts (earlier runs of a periodic task are history).
    def having(statuses) -> Count:
        return Count("results", filter=Q(results__latest=True, results__status__in=list(statuses)))

    counts = {
        "n_all": Count("results", filter=Q(results__latest=True)),
        "n_pending": having([st.PENDING]),
        "n_running": having([st.RUNNING]),
        "n_stopping": having([st.STOPPING]),
        "n_scheduled": having([st.SCHEDULED]),
        "n_stopped": having(st.STOPPED_LIKE),
        "n_success": having([st.SUCCESS]),
        "n_failed": having(st.FAILED_LIKE),
    }
    overall = Case(
        When(n_all=0, then=Value(st.PENDING)),
        When(n_pending__gt=0, then=Value(st.PENDING)),
        When(n_running__gt=0, then=Value(st.RUNNING)),
        When(n_stopping__gt=0, then=Value(st.STOPPING)),
        When(n_scheduled__gt=0, then=Value(st.SCHEDULED)),
        When(n_stopped=F("n_all"), then=Value("Stopped")),
        When(n_failed=0, then=Value(st.SUCCESS)),
        When(n_success=0, then=Value(st.FAILED)),
        default=Value("PartialFailed"),
        output_field=CharField(),
    )
    return invocations.annotate(**counts).annotate(overall=overall)


def overall_of(invocation_ids: list[str]) -> dict[str, str]:
    """``with_overall_status``'s ``overall`` of each of these invocations (one query over their results
    only), for a page already cut: annotating the page, not every invocation of the account before paging,
    keeps DescribeInvocations' cost to the page's results (docs/performance.md, section 4)."""
    if not invocation_ids:
        return {}
    rows = with_overall_status(Invocation.objects.filter(pk__in=invocation_ids)).values_list("id", "overall")
    return dict(rows)


def results_visible(principal: Principal, *, history: bool = False) -> QuerySet[InvocationResult]:
    """Per-instance results of the account; for a RAM user, only on instances it may read results of.
    Each instance's latest execution only, unless ``history`` (every execution of periodic tasks)."""
    results = InvocationResult.objects.filter(invocation__account_id=principal.account_id)
    if not history:
        results = results.filter(latest=True)
    allowed = instance_ids_allowed(principal, "ecs:DescribeInvocationResults")
    return results if allowed is None else results.filter(instance_id__in=allowed)


def results_visible_count(principal: Principal, invocations: QuerySet[Invocation]) -> int | None:
    """How many of ``results_visible(principal)`` belong to ``invocations``, added up from their stored
    ``instance_count`` (a sum over invocation rows, not a count of every result: docs/performance.md
    section 4); None when the principal sees the results of some instances only, where only counting the
    results is exact."""
    if not principal.is_root:  # as instance_ids_allowed: a RAM user sees what its policies allow
        return None
    total: int = invocations.aggregate(total=Coalesce(Sum("instance_count"), 0))["total"]
    return total


def overall_statuses(principal: Principal, invocation_ids: list[str]) -> dict[str, tuple[str, int]]:
    """Overall status and instance count of each invocation over the results the principal may see,
    from one query."""
    statuses: dict[str, set[str]] = {invocation_id: set() for invocation_id in invocation_ids}
    counts: dict[str, int] = dict.fromkeys(invocation_ids, 0)
    rows = (
        results_visible(principal)
        .filter(invocation_id__in=invocation_ids)
        .values("invocation_id", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        statuses[row["invocation_id"]].add(row["status"])
        counts[row["invocation_id"]] += row["n"]
    return {i: (st.overall_status(statuses[i]), counts[i]) for i in invocation_ids}


def outputs_for(result_ids: list[str]) -> dict[str, bytes]:
    joined: dict[str, list[bytes]] = {result_id: [] for result_id in result_ids}
    chunks = OutputChunk.objects.filter(result_id__in=result_ids).values_list("result_id", "data")
    for result_id, data in pg_binary.rows(chunks):
        joined[result_id].append(bytes(data))
    return {result_id: b"".join(parts) for result_id, parts in joined.items()}


def chunks_after(result_id: str, after_seq: int, limit: int = 500) -> list[tuple[int, bytes]]:
    chunks = OutputChunk.objects.filter(result_id=result_id, seq__gt=after_seq).values_list("seq", "data")
    return [(seq, bytes(data)) for seq, data in pg_binary.rows(chunks[:limit])]


def pending_tasks(instance_id: str) -> list[InvocationResult]:
    """Tasks of an instance still waiting to be taken by its agent, oldest first (not those waiting for a
    MaxConcurrency slot: console/invocations/rate.py)."""
    return list(
        InvocationResult.objects.filter(instance_id=instance_id, status=st.PENDING, queued=False)
        .select_related("invocation")
        .order_by("created_at")[:200]
    )


# --- Console pages (invocation page, history, dashboard): read helpers ---------------------------


def output_of(result_id: str) -> bytes:
    """The whole stored output of one result, in chunk order, followed by a line saying how much was not
    kept when the execution passed the output cap (ASSIST_MAX_OUTPUT_BYTES)."""
    output = outputs_for([result_id])[result_id]
    dropped = InvocationResult.objects.filter(pk=result_id).values_list("output_dropped", flat=True).first()
    return output + cut_notice(len(output), dropped or 0)


def cut_notice(kept: int, dropped: int) -> bytes:
    """The line that ends a cut output: how much was kept and how much more the script printed."""
    if not dropped:
        return b""
    return (
        f"\n[output cut: the first {kept} bytes were kept; {dropped} more bytes were not stored "
        "(ASSIST_MAX_OUTPUT_BYTES)]\n"
    ).encode()


def invocations_filtered(
    principal: Principal,
    *,
    status: str = "",
    name: str = "",
    instance_id: str = "",
    since=None,
    until=None,
) -> QuerySet[Invocation]:
    """The visible invocations, newest first, annotated with ``overall``, narrowed by overall status,
    command name (substring), an instance they ran on (id or name, exact) and a creation time range."""
    invocations = with_overall_status(invocations_visible(principal)).order_by("-created_at", "-id")
    if status:
        invocations = invocations.filter(overall=status)
    if name:
        invocations = invocations.filter(command_name__icontains=name)
    if instance_id:
        on = InvocationResult.objects.filter(
            Q(instance_id=instance_id) | Q(instance__name=instance_id)
        ).values("invocation_id")
        invocations = invocations.filter(pk__in=on)
    if since is not None:
        invocations = invocations.filter(created_at__gte=since)
    if until is not None:
        invocations = invocations.filter(created_at__lt=until)
    return invocations


def status_counts(principal: Principal, invocation_ids: list[str]) -> dict[str, dict[str, int]]:
    """Per invocation, how many of the results the principal may see are in each status (one query)."""
    counts: dict[str, dict[str, int]] = {invocation_id: {} for invocation_id in invocation_ids}
    rows = (
        results_visible(principal)
        .filter(invocation_id__in=invocation_ids)
        .values("invocation_id", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts[row["invocation_id"]][row["status"]] = row["n"]
    return counts


def results_failed_recently(principal: Principal, since, limit: int = 10) -> list[InvocationResult]:
    """The latest visible results that ended failed-like (Failed, Timeout, Error, Aborted, Invalid)."""
    return list(
        results_visible(principal)
        .filter(status__in=st.FAILED_LIKE, created_at__gte=since)
        .select_related("invocation", "instance")
        .order_by(F("finished_at").desc(nulls_last=True), "-created_at")[:limit]
    )


def output_tails(
    sizes: dict[str, int],
    limit: int,
    running: Set[str] = frozenset(),
) -> dict[str, tuple[int, bytes, int]]:
    """The last ``limit`` bytes (or a little more: whole chunks) of each result's output, the offset they
    start at and the number of the last chunk they hold, given each result's ``output_size``; never reads
    more than needed of a large output. Text and chunk number come from the same rows, so that a page
    resuming its live stream from that number neither skips a chunk stored meanwhile nor shows one twice;
    a ``running`` result's small output stops before a missing chunk (it comes back from the agent's
    spool, and the stream sends it in its place)."""
    small = [result_id for result_id, size in sizes.items() if size <= limit]
    tails: dict[str, tuple[int, bytes, int]] = {}
    held_small: dict[str, list[tuple[int, bytes]]] = {result_id: [] for result_id in small}
    rows = OutputChunk.objects.filter(result_id__in=small).values_list("result_id", "seq", "data")
    for result_id, seq, data in rows.order_by("result_id", "seq"):
        held_small[result_id].append((seq, bytes(data)))
    for result_id, chunks in held_small.items():
        parts: list[bytes] = []
        last = 0
        for seq, data in chunks:
            if result_id in running and seq != last + 1:
                break
            parts.append(data)
            last = seq
        tails[result_id] = (0, b"".join(parts), last)
    for result_id in sizes.keys() - set(small):
        parts = []
        held = 0
        last = 0
        newest_first = (
            OutputChunk.objects.filter(result_id=result_id).order_by("-seq").values_list("seq", "data")
        )
        for seq, data in newest_first.iterator(chunk_size=64):
            last = max(last, seq)
            parts.append(bytes(data))
            held += len(data)
            if held >= limit:
                break
        tail = b"".join(reversed(parts))
        tails[result_id] = (max(0, sizes[result_id] - len(tail)), tail, last)
    return tails
