"""History retention: command runs and file sends older than ASSIST_HISTORY_DAYS (default 28, the original's
4 weeks) are deleted with their results and output, by the periodic ``purge_history`` task.

A run goes once nothing about it is recent: created before the cutoff, and none of its results live
(Pending, Running, Stopping, Scheduled), created or finished since. A periodic task that still runs keeps
its invocation; its executions that finished before the cutoff (history rows, ``latest`` false) go one by one.

Deletes run in small batches, each its own short transaction, children first (output chunks, then results,
then the run), so writers never wait behind one long delete and a purge stopped half-way leaves nothing
inconsistent: the next run carries on. Terminal sessions are not purged here: they are audit records
(docs/terminals.md), and sent files' stored content has its own, shorter retention (console/files).
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from console.files import status as file_status
from console.files.models import FileTransfer, FileTransferResult
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult, OutputChunk
from console.tags.services import tags_forget

logger = logging.getLogger(__name__)

BATCH_ROWS = 1000  # rows per delete statement, each in its own transaction
TIME_BUDGET_SECONDS = 240.0  # one task run stops after this; the next one continues


@dataclass
class Purged:
    invocations: int = 0
    results: int = 0
    chunks: int = 0
    file_transfers: int = 0
    file_results: int = 0
    complete: bool = True  # False: the time budget ran out first


def history_cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=settings.ASSIST_HISTORY_DAYS)


def _delete_in_batches(queryset, batch: int, deadline: float) -> tuple[int, bool]:
    """Delete the rows of ``queryset`` ``batch`` primary keys at a time; returns (rows, finished)."""
    total = 0
    model = queryset.model
    while time.monotonic() < deadline:
        with transaction.atomic():
            keys = list(queryset.values_list("pk", flat=True)[:batch])
            if not keys:
                return total, True
            total += model.objects.filter(pk__in=keys).delete()[1].get(model._meta.label, 0)
    return total, False


def _delete_results_of_runs(invocation_ids: list[str], batch: int, deadline: float) -> tuple[int, bool]:
    """``_delete_in_batches`` for the results of whole runs: each batch also sets its runs'
    ``instance_count`` to the latest results they have left, in the same transaction, so that a purge
    stopped half-way leaves no run counting results that are gone (DescribeInvocationResults' TotalCount
    adds these counts up)."""
    total = 0
    results = InvocationResult.objects.filter(invocation_id__in=invocation_ids)
    while time.monotonic() < deadline:
        with transaction.atomic():
            rows = list(results.values_list("pk", "invocation_id")[:batch])
            if not rows:
                return total, True
            deleted = InvocationResult.objects.filter(pk__in=[pk for pk, _ in rows]).delete()[1]
            total += deleted.get(InvocationResult._meta.label, 0)
            left = (
                InvocationResult.objects.filter(invocation=OuterRef("pk"), latest=True)
                .order_by()
                .values("invocation")
                .annotate(n=Count("pk"))
                .values("n")
            )
            Invocation.objects.filter(pk__in={invocation_id for _, invocation_id in rows}).update(
                instance_count=Coalesce(Subquery(left), 0)
            )
    return total, False


def _old_invocations(cutoff: datetime):
    recent_or_live = InvocationResult.objects.filter(invocation=OuterRef("pk")).filter(
        Q(status__in=st.LIVE) | Q(created_at__gte=cutoff) | Q(finished_at__gte=cutoff)
    )
    return Invocation.objects.filter(created_at__lt=cutoff, next_run_at__isnull=True).filter(
        ~Exists(recent_or_live)
    )


def _old_transfers(cutoff: datetime):
    recent_or_live = FileTransferResult.objects.filter(transfer=OuterRef("pk")).filter(
        Q(status__in=file_status.LIVE) | Q(created_at__gte=cutoff) | Q(finished_at__gte=cutoff)
    )
    return FileTransfer.objects.filter(created_at__lt=cutoff).filter(~Exists(recent_or_live))


def purge_history(
    *, now: datetime | None = None, batch: int = BATCH_ROWS, time_budget: float = TIME_BUDGET_SECONDS
) -> Purged:
    """Delete what is past the history window, in batches; stops after ``time_budget`` seconds."""
    cutoff = history_cutoff(now)
    deadline = time.monotonic() + time_budget
    purged = Purged()

    def step(count_field: str, queryset) -> bool:
        rows, finished = _delete_in_batches(queryset, batch, deadline)
        setattr(purged, count_field, getattr(purged, count_field) + rows)
        return finished

    # Periodic tasks: executions that ended before the cutoff, while the task goes on.
    old_executions = InvocationResult.objects.filter(latest=False, finished_at__lt=cutoff)
    done = step("chunks", OutputChunk.objects.filter(result__in=old_executions.values("pk")))
    done = done and step("results", old_executions)

    # Whole runs, a batch of runs at a time.
    while done:
        ids = list(_old_invocations(cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            break
        done = step("chunks", OutputChunk.objects.filter(result__invocation_id__in=ids))
        if done:
            rows, done = _delete_results_of_runs(ids, batch, deadline)
            purged.results += rows
        if done:
            with transaction.atomic():
                purged.invocations += (
                    Invocation.objects.filter(pk__in=ids).delete()[1].get(Invocation._meta.label, 0)
                )
                tags_forget("invocation", ids)

    while done:
        ids = list(_old_transfers(cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            break
        done = step("file_results", FileTransferResult.objects.filter(transfer_id__in=ids))
        if done:
            with transaction.atomic():
                deleted = FileTransfer.objects.filter(pk__in=ids).delete()[1]
                purged.file_transfers += deleted.get(FileTransfer._meta.label, 0)
                tags_forget(
                    "invocation", ids
                )  # file sends are "invocation" resources too, as in the original

    purged.complete = done
    if purged.invocations or purged.results or purged.file_transfers:
        logger.info("history older than %s purged: %s", cutoff.isoformat(), purged)
    return purged
