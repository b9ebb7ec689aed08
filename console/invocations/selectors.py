from django.db.models import Case, CharField, Count, F, Max, Q, QuerySet, Value, When

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

    def having(statuses) -> Count:
        return Count("results", filter=Q(results__status__in=list(statuses)))

    counts = {
        "n_all": Count("results"),
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


def results_visible(principal: Principal) -> QuerySet[InvocationResult]:
    """Per-instance results of the account; for a RAM user, only on instances it may read results of."""
    results = InvocationResult.objects.filter(invocation__account_id=principal.account_id)
    allowed = instance_ids_allowed(principal, "ecs:DescribeInvocationResults")
    return results if allowed is None else results.filter(instance_id__in=allowed)


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
    for result_id, data in OutputChunk.objects.filter(result_id__in=result_ids).values_list(
        "result_id", "data"
    ):
        joined[result_id].append(bytes(data))
    return {result_id: b"".join(parts) for result_id, parts in joined.items()}


def chunks_after(result_id: str, after_seq: int, limit: int = 500) -> list[tuple[int, bytes]]:
    rows = OutputChunk.objects.filter(result_id=result_id, seq__gt=after_seq).values_list("seq", "data")[
        :limit
    ]
    return [(seq, bytes(data)) for seq, data in rows]


def pending_tasks(instance_id: str) -> list[InvocationResult]:
    """Tasks of an instance still waiting to be taken by its agent, oldest first."""
    return list(
        InvocationResult.objects.filter(instance_id=instance_id, status=st.PENDING)
        .select_related("invocation")
        .order_by("created_at")[:200]
    )


def last_seqs(result_ids: list[str]) -> dict[str, int]:
    rows = OutputChunk.objects.filter(result_id__in=result_ids).values("result_id").annotate(last=Max("seq"))
    return {row["result_id"]: row["last"] for row in rows}
