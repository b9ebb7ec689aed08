"""What a browser watching an invocation has not seen yet, computed from the database alone.

The browser keeps a cursor per result (the last output chunk number it holds); every update is
"everything after the cursor", so a missed doorbell or a reconnect never loses or reorders output."""

from console.invocations import status as st
from console.invocations.models import InvocationResult, OutputChunk
from console.invocations.selectors import chunks_after

MAX_BYTES_PER_UPDATE = 256 * 1024  # of one result's output in one update
MAX_BYTES_PER_PUSH = 1 << 20  # of all results' output in one update (the consumer may ask for another)
# Chunks are read a few at a time, then as many as the rest of the budget holds: with hundreds of
# results printing at once, reading 200 chunks of each to send a few read far more than an update carries.
FIRST_FETCH = 5
MAX_FETCH = 200


def updates_for(
    invocation_id: str,
    cursors: dict[str, int],
    result_ids: set[str] | None = None,
    visible: set[str] | None = None,
    max_bytes: int = MAX_BYTES_PER_PUSH,
) -> list[dict]:
    """Messages bringing a browser from ``cursors`` up to date; advances ``cursors`` in place. Only the
    ``visible`` results (None: all) are shown, and only they count in the overall status. An update
    carries at most ``MAX_BYTES_PER_UPDATE`` of a result's output and about ``max_bytes`` in all; the
    overall message's ``more`` says some output was left for the next update, and its ``left`` names the
    results the update cut short (the only ones the next update needs to read again: the others were
    read to their end, and ring a doorbell when they change)."""
    results = InvocationResult.objects.filter(invocation_id=invocation_id, latest=True)
    if visible is not None:
        # Visibility is per instance: a periodic task's later executions (new result ids) of the instances
        # seen at connect are shown too.
        visible_instances = InvocationResult.objects.filter(pk__in=visible).values("instance_id")
        results = results.filter(instance_id__in=visible_instances)
    results = results.values(
        "id", "status", "exit_code", "error_code", "error_info", "output_size", "started_at", "finished_at"
    )
    messages: list[dict] = []
    statuses: list[str] = []
    more = False  # some result has output past this update's byte budget
    left: list[str] = []  # the results whose reading the budget cut short
    done = 0
    sent_in_all = 0
    for row in results:
        statuses.append(row["status"])
        done += row["status"] in st.FINAL
        result_id = row["id"]
        if result_ids is not None and result_id not in result_ids:
            continue
        cursor = cursors.get(result_id, 0)
        # While the task runs, stop at a missing chunk: it was lost with a connection and comes back from
        # the agent's spool, and the browser must see it in its place. A final result holds every chunk
        # (the console stores it only then), so a gap left there is permanent and skipped.
        contiguous_only = row["status"] not in st.FINAL
        budget = min(MAX_BYTES_PER_UPDATE, max_bytes - sent_in_all)
        sent = taken = 0
        fetch = FIRST_FETCH
        cut = False
        while True:
            if sent >= budget:
                more = more or _has_chunks_after(result_id, cursor, contiguous_only)
                cut = True
                break
            chunks = chunks_after(result_id, cursor, limit=fetch)
            stop = False
            for seq, data in chunks:
                if contiguous_only and seq != cursor + 1:
                    stop = True  # a gap: wait for the missing chunk
                    break
                if sent >= budget:
                    more = stop = cut = True  # the rest comes with the next update
                    break
                messages.append({"type": "output", "result_id": result_id, "seq": seq, "data": data})
                cursor = seq
                sent += len(data)
                taken += 1
            if stop or len(chunks) < fetch:
                break
            # as many more as the rest of the budget holds, at the size the chunks had so far
            fetch = min(MAX_FETCH, max(FIRST_FETCH, -(-(budget - sent) * taken // max(sent, 1)) + 1))
        sent_in_all += sent
        cursors[result_id] = cursor
        if cut:
            left.append(result_id)
        messages.append(
            {
                "type": "result",
                "result_id": result_id,
                "status": row["status"],
                "exit_code": row["exit_code"],
                "error_code": row["error_code"],
                "error_info": row["error_info"],
                "final": row["status"] in st.FINAL,
                "started_at": _iso(row["started_at"]),
                "finished_at": _iso(row["finished_at"]),
            }
        )
    messages.append(
        {
            "type": "overall",
            "status": st.overall_status(statuses),
            "done": done,
            "total": len(statuses),
            "more": more,
            "left": left,
        }
    )
    return messages


def _has_chunks_after(result_id: str, cursor: int, contiguous_only: bool) -> bool:
    """Whether a result has output past ``cursor`` that an update could send (the next chunk, while it
    runs; any later chunk once it is final)."""
    chunks = OutputChunk.objects.filter(result_id=result_id)
    if contiguous_only:
        return chunks.filter(seq=cursor + 1).exists()
    return chunks.filter(seq__gt=cursor).exists()


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None
