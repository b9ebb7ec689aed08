"""What agents report about their tasks (started, output chunks, final result), applied in batches.

The gateway queues every agent frame of its process and applies whatever has queued up in one transaction
with a handful of statements (group commit), so hundreds of agents finishing at once cost a few commits,
not hundreds. Each frame still gets its own outcome: a ServiceError for a frame that names another
instance's task or a status an agent may not report, the missing chunk numbers for a result that arrived
before all its output, and so on. The single-frame functions below are the same path with one item."""

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from assist_agent import protocol
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from console.errors import ServiceError
from console.fleet import services as fleet_services
from console.invocations import events
from console.invocations import status as st
from console.invocations.models import InvocationResult, OutputChunk

Item = tuple[str, str, dict[str, Any]]  # (instance_id, kind, fields); kind: heartbeat|started|output|result


def _aware(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


def _not_yours(instance_id: str, task_id: str) -> ServiceError:
    return ServiceError("InvalidTask.NotFound", f"Task {task_id} is not a task of {instance_id}.")


def agent_frames_ingest(items: list[Item]) -> list[object]:
    """Apply a batch of agent reports in arrival order; returns one outcome per item: None (heartbeat,
    started), True/False (output chunk new/already held), a list of missing chunk numbers (result; empty
    means stored, or already final, and may be acknowledged), or the ServiceError refusing the item."""
    outcomes: list[object] = [None] * len(items)
    with transaction.atomic():
        task_ids = {fields["task_id"] for _, kind, fields in items if kind != "heartbeat"}
        rows = {
            row["id"]: row
            for row in InvocationResult.objects.select_for_update()
            .filter(pk__in=task_ids)
            .values("id", "instance_id", "invocation_id", "status")
        }
        heartbeats: set[str] = set()
        valid: list[tuple[int, str, dict[str, Any], dict[str, Any]]] = []
        for index, (instance_id, kind, fields) in enumerate(items):
            if kind == "heartbeat":
                heartbeats.add(instance_id)
                continue
            row = rows.get(fields["task_id"])
            if row is None or row["instance_id"] != instance_id:
                outcomes[index] = _not_yours(instance_id, fields["task_id"])
            elif kind == "result" and fields["status"] not in st.AGENT_FINAL:
                outcomes[index] = ServiceError(
                    "InvalidField.status", f"{fields['status']!r} is not a final status an agent may report."
                )
            else:
                valid.append((index, kind, fields, row))

        with_output = {fields["task_id"] for _, kind, fields, _ in valid if kind in ("output", "result")}
        have: dict[str, set[int]] = defaultdict(set)
        for result_id, seq in OutputChunk.objects.filter(result_id__in=with_output).values_list(
            "result_id", "seq"
        ):
            have[result_id].add(seq)

        new_chunks: list[OutputChunk] = []
        added_bytes: dict[str, int] = defaultdict(int)
        for index, kind, fields, row in valid:
            result_id = row["id"]
            if kind == "started":
                _apply_started(row, fields)
            elif kind == "output":
                seq = fields["seq"]
                outcomes[index] = seq not in have[result_id]
                if outcomes[index]:
                    have[result_id].add(seq)
                    new_chunks.append(OutputChunk(result_id=result_id, seq=seq, data=fields["data"]))
                    added_bytes[result_id] += len(fields["data"])
                    events.ring_browsers_on_commit(row["invocation_id"], result_id)
            else:
                outcomes[index] = _apply_result(row, fields, have[result_id])

        OutputChunk.objects.bulk_create(new_chunks)
        for result_id, added in added_bytes.items():
            InvocationResult.objects.filter(pk=result_id).update(output_size=F("output_size") + added)
        if heartbeats:
            fleet_services.instances_heartbeat(instance_ids=heartbeats)
    return outcomes


def _apply_started(row: dict[str, Any], fields: dict[str, Any]) -> None:
    if row["status"] not in (st.PENDING, st.ABORTED):
        return
    InvocationResult.objects.filter(pk=row["id"]).update(
        status=st.RUNNING,
        error_code="",
        error_info="",
        started_at=_aware(fields["started_at"]),
        updated_at=timezone.now(),
    )
    row["status"] = st.RUNNING
    events.ring_browsers_on_commit(row["invocation_id"], row["id"])


def _apply_result(row: dict[str, Any], fields: dict[str, Any], have: set[int]) -> list[int]:
    if row["status"] not in st.REPORTABLE:
        return []  # already final: a repeated report, acknowledge it again
    missing = protocol.missing(fields["last_seq"], have)
    if missing:
        return missing[: protocol.MAX_RESEND_SEQS]
    status, exit_code = fields["status"], fields["exit_code"]
    default_code, default_info = st.error_for_exit(status, exit_code)
    changes: dict[str, Any] = {
        "status": status,
        "exit_code": exit_code,
        "error_code": (fields["error_code"] or default_code)[:64],
        "error_info": (fields["error_info"] or default_info)[:512],
        "finished_at": _aware(fields["finished_at"]) or timezone.now(),
        "repeats": 1,
        "updated_at": timezone.now(),
    }
    if fields["started_at"] is not None:
        changes["started_at"] = _aware(fields["started_at"])
    InvocationResult.objects.filter(pk=row["id"]).update(**changes)
    row["status"] = status
    events.ring_browsers_on_commit(row["invocation_id"], row["id"])
    return []


def _one(instance_id: str, kind: str, fields: dict[str, Any]) -> object:
    [outcome] = agent_frames_ingest([(instance_id, kind, fields)])
    if isinstance(outcome, ServiceError):
        raise outcome
    return outcome


def result_record_started(*, instance_id: str, task_id: str, started_at: float) -> None:
    _one(instance_id, "started", {"task_id": task_id, "started_at": started_at})


def result_record_output(*, instance_id: str, task_id: str, seq: int, data: bytes) -> bool:
    """Store one output chunk; a chunk number already held is ignored. True when it was new."""
    return bool(_one(instance_id, "output", {"task_id": task_id, "seq": seq, "data": data}))


def result_record_final(
    *,
    instance_id: str,
    task_id: str,
    status: str,
    exit_code: int | None,
    error_code: str,
    error_info: str,
    started_at: float | None,
    finished_at: float | None,
    last_seq: int,
) -> list[int]:
    """Store the final state of a task, or return the chunk numbers still missing (nothing is stored then)."""
    fields = {
        "task_id": task_id,
        "status": status,
        "exit_code": exit_code,
        "error_code": error_code,
        "error_info": error_info,
        "started_at": started_at,
        "finished_at": finished_at,
        "last_seq": last_seq,
    }
    outcome = _one(instance_id, "result", fields)
    assert isinstance(outcome, list)
    return outcome
