"""Reads of file transfers: what a principal may see, and the overall status computed by the database."""

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When

from console.errors import NotFound
from console.files import status as st
from console.files.models import FileTransfer, FileTransferResult
from console.fleet.selectors import instance_ids_allowed
from console.iam.principal import Principal

READ_ACTION = "ecs:DescribeSendFileResults"


def transfers_visible(principal: Principal) -> QuerySet[FileTransfer]:
    """The account's transfers; for a RAM user, those touching an instance it may describe them on."""
    transfers = FileTransfer.objects.filter(account_id=principal.account_id)
    allowed = instance_ids_allowed(principal, READ_ACTION)
    if allowed is None:
        return transfers
    return transfers.filter(
        pk__in=FileTransferResult.objects.filter(instance_id__in=allowed).values("transfer_id")
    )


def results_visible(principal: Principal, transfer_ids: list[str]) -> QuerySet[FileTransferResult]:
    results = FileTransferResult.objects.filter(
        transfer_id__in=transfer_ids, transfer__account_id=principal.account_id
    )
    allowed = instance_ids_allowed(principal, READ_ACTION)
    return results if allowed is None else results.filter(instance_id__in=allowed)


def transfer_get(principal: Principal, transfer_id: str) -> FileTransfer:
    transfer = with_overall_status(transfers_visible(principal).filter(pk=transfer_id)).first()
    if transfer is None:
        raise NotFound("InvalidInvokeId.NotFound", f"The file transfer {transfer_id} does not exist.")
    return transfer


def with_overall_status(transfers: QuerySet[FileTransfer]) -> QuerySet[FileTransfer]:
    """Annotate ``overall`` (``status.overall_status`` of the results) and ``vm_count``, in the database,
    so DescribeSendFileResults can filter and page on it."""

    def having(status: str) -> Count:
        return Count("results", filter=Q(results__status=status))

    overall = Case(
        When(vm_count=0, then=Value(st.PENDING)),
        When(n_pending__gt=0, then=Value(st.PENDING)),
        When(n_running__gt=0, then=Value(st.RUNNING)),
        When(n_success=F("vm_count"), then=Value(st.SUCCESS)),
        When(n_success=0, then=Value(st.FAILED)),
        default=Value(st.PARTIAL_FAILED),
        output_field=CharField(),
    )
    return transfers.annotate(
        vm_count=Count("results"),
        n_pending=having(st.PENDING),
        n_running=having(st.RUNNING),
        n_success=having(st.SUCCESS),
    ).annotate(overall=overall)
