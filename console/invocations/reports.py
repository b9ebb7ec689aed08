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
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from console import pg_binary
from console.bulk_insert import typed_arrays
from console.errors import ServiceError
from console.invocations import events
from console.invocations import status as st
from console.invocations.models import InvocationResult, OutputChunk

Item = tuple[str, str, dict[str, Any]]  # (instance_id, kind, fields); kind: started|output|result


def _aware(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


def _not_yours(instance_id: str, task_id: str) -> ServiceError:
    return ServiceError("InvalidTask.NotFound", f"Task {task_id} is not a task of {instance_id}.")


MUTABLE_FIELDS = [
    "status", "error_code", "error_info", "exit_code", "repeats", "output_size", "output_dropped",
    "started_at", "finished_at", "updated_at",
]  # fmt: skip


def agent_frames_ingest(items: list[Item]) -> list[object]:
    """Apply a batch of agent reports in arrival order (heartbeats go their own way: gateway/ingest.py);
    returns one outcome per item: None (started), True/False (output chunk new/already held), a list of
    missing chunk numbers (result; empty means stored, or already final, and may be acknowledged), or the
    ServiceError refusing the item.

    The touched results are read once (locked), changed in memory and written back with one statement,
    so a batch costs the same handful of statements whatever its size."""
    outcomes: list[object] = [None] * len(items)
    with transaction.atomic():
        task_ids = {fields["task_id"] for _, _, fields in items}
        results = {r.id: r for r in InvocationResult.objects.select_for_update().filter(pk__in=task_ids)}
        valid: list[tuple[int, str, dict[str, Any], InvocationResult]] = []
        for index, (instance_id, kind, fields) in enumerate(items):
            result = results.get(fields["task_id"])
            if result is None or result.instance_id != instance_id:
                outcomes[index] = _not_yours(instance_id, fields["task_id"])
            elif kind == "result" and fields["status"] not in st.AGENT_FINAL:
                outcomes[index] = ServiceError(
                    "InvalidField.status", f"{fields['status']!r} is not a final status an agent may report."
                )
            else:
                valid.append((index, kind, fields, result))

        have = _chunks_held(valid)

        new_chunks: list[tuple[str, int, bytes]] = []
        changed: dict[str, InvocationResult] = {}
        cap = settings.ASSIST_MAX_OUTPUT_BYTES
        for index, kind, fields, result in valid:
            if kind == "started":
                if _apply_started(result, fields):
                    changed[result.id] = result
            elif kind == "output":
                seq = fields["seq"]
                outcomes[index] = seq not in have[result.id]
                if outcomes[index]:
                    have[result.id].add(seq)
                    # Past the output cap a chunk is still recorded (the result's completeness check counts
                    # chunk numbers), but only what fits is kept; the rest is counted as dropped.
                    data = fields["data"]
                    kept = data[: max(0, cap - result.output_size)]
                    new_chunks.append((result.id, seq, kept))
                    result.output_size += len(kept)
                    result.output_dropped += len(data) - len(kept)
                    changed[result.id] = result
            else:
                status_before = result.status
                outcomes[index] = _apply_result(result, fields, have[result.id])
                if result.status != status_before:
                    changed[result.id] = result

        _insert_chunks(new_chunks)
        now = timezone.now()
        for result in changed.values():
            result.updated_at = now
            events.ring_browsers_on_commit(result.invocation_id, result.id)
        _write_back(list(changed.values()))
        finished = [result for result in changed.values() if result.status in st.FINAL]
        if finished:
            from console.invocations.rate import rate_control_after
            from console.invocations.services import executions_roll_over

            # MaxErrors/MaxConcurrency: cancel the rest or release queued results into the freed slots.
            cancelled = rate_control_after({result.invocation_id for result in finished}, now=now)
            # A periodic or EveryReboot task's instance waits for its next run again (services.py).
            executions_roll_over([result.id for result in finished] + cancelled, now=now)
    return outcomes


def _chunks_held(valid: list[tuple[int, str, dict[str, Any], InvocationResult]]) -> dict[str, set[int]]:
    """The chunk numbers already stored that this batch needs to know of: every one of a result being
    reported final (its completeness check), only the batch's own numbers for output chunks. Reading all
    of a running result's numbers back for every batch made a long output cost quadratic reads (1,600
    chunks of a 100 MB output, read again at each of hundreds of batches)."""
    finals = {fields["task_id"] for _, kind, fields, _ in valid if kind == "result"}
    batch_seqs: dict[str, set[int]] = defaultdict(set)
    for _, kind, fields, _ in valid:
        if kind == "output" and fields["task_id"] not in finals:
            batch_seqs[fields["task_id"]].add(fields["seq"])
    queries = []
    if finals:
        queries.append(OutputChunk.objects.filter(result_id__in=finals))
    if batch_seqs:
        seqs = set().union(*batch_seqs.values())
        queries.append(OutputChunk.objects.filter(result_id__in=batch_seqs, seq__in=seqs))
    have: dict[str, set[int]] = defaultdict(set)
    for query in queries:
        for result_id, seq in query.values_list("result_id", "seq"):
            have[result_id].add(seq)
    return have


# Above this average chunk size the chunks go in as one row each (psycopg pipelines the statements), below
# it as one INSERT from arrays: on PostgreSQL 15 and a 2-core machine, rows are faster from about 4 KiB.
ARRAY_INSERT_MAX_AVERAGE = 4096


def _insert_chunks(chunks: list[tuple[str, int, bytes]]) -> None:
    """Store (result id, seq, data) chunks; on PostgreSQL as binary parameters (console/pg_binary.py). Many
    small chunks (a fan-out's one-line outputs) go in as one ``INSERT ... SELECT FROM unnest(arrays)``:
    Django's bulk_create builds three placeholders per row, a fifth of a node's CPU in a 10,000-agent
    fan-out."""
    if not chunks:
        return
    if connection.vendor != "postgresql":
        OutputChunk.objects.bulk_create(
            OutputChunk(result_id=r, seq=seq, data=data) for r, seq, data in chunks
        )
        return
    meta = OutputChunk._meta
    quote = connection.ops.quote_name
    columns = [meta.get_field(name) for name in ("result", "seq", "data")]
    insert = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in columns)})"
    average = sum(len(data) for _, _, data in chunks) / len(chunks)
    with pg_binary.server_binding_cursor() as cursor:
        if average > ARRAY_INSERT_MAX_AVERAGE:
            cursor.executemany(f"{insert} VALUES (%b, %b, %b)", chunks)
        else:
            cursor.execute(
                f"{insert} SELECT * FROM unnest({typed_arrays(columns)})",  # noqa: S608
                [list(column) for column in zip(*chunks, strict=True)],
            )


def _write_back(results: list[InvocationResult]) -> None:
    """Every changed result in one statement on PostgreSQL (``UPDATE ... FROM unnest(arrays)``: one
    array parameter per column, so the query is the same short text for 1 or 3,000 rows); elsewhere one
    parameterised UPDATE executed per result. Django's bulk_update builds a CASE expression per field and
    row, which costs more CPU than the whole rest of a batch."""
    if not results:
        return
    meta = InvocationResult._meta
    fields = [meta.get_field(name) for name in MUTABLE_FIELDS]
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    rows = [
        [field.get_db_prep_save(getattr(result, field.attname), connection) for field in fields] + [result.pk]
        for result in results
    ]
    if connection.vendor == "postgresql":
        columns = [*fields, meta.pk]
        names = ", ".join(quote(field.column) for field in columns)
        assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in fields)
        with pg_binary.server_binding_cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM unnest({typed_arrays(columns)}) AS v({names}) "  # noqa: S608
                f"WHERE {table}.{pk} = v.{pk}",
                [list(column) for column in zip(*rows, strict=True)],
            )
        return
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", rows)  # noqa: S608


def _apply_started(result: InvocationResult, fields: dict[str, Any]) -> bool:
    to = st.transition(result.status, st.STARTED)
    if to is None:
        return False
    result.status = to
    result.error_code = result.error_info = ""
    result.started_at = _aware(fields["started_at"])
    return True


def _apply_result(result: InvocationResult, fields: dict[str, Any], have: set[int]) -> list[int]:
    status = st.transition(result.status, st.REPORTED, fields["status"])
    if status is None:
        return []  # already final: a repeated report, acknowledge it again
    missing = protocol.missing(fields["last_seq"], have)
    if missing:
        return missing[: protocol.MAX_RESEND_SEQS]
    exit_code = fields["exit_code"]
    default_code, default_info = st.error_for_exit(status, exit_code)
    result.status = status
    result.exit_code = exit_code
    result.error_code = (fields["error_code"] or default_code)[:64]
    result.error_info = (fields["error_info"] or default_info)[:512]
    result.finished_at = _aware(fields["finished_at"]) or timezone.now()
    result.repeats = max(result.repeats, 1)  # a periodic task's execution already holds its run number
    if fields["started_at"] is not None:
        result.started_at = _aware(fields["started_at"])
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
