"""What a browser watching an invocation has not seen yet, computed from the database alone.

The browser keeps a cursor per result (the last output chunk number it holds); every update is
"everything after the cursor", so a missed doorbell or a reconnect never loses or reorders output."""

from console.invocations import status as st
from console.invocations.models import InvocationResult
from console.invocations.selectors import chunks_after

MAX_BYTES_PER_UPDATE = 256 * 1024


def updates_for(
    invocation_id: str,
    cursors: dict[str, int],
    result_ids: set[str] | None = None,
    visible: set[str] | None = None,
) -> list[dict]:
    """Messages bringing a browser from ``cursors`` up to date; advances ``cursors`` in place. Only the
    ``visible`` results (None: all) are shown, and only they count in the overall status."""
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
    done = 0
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
        sent = 0
        gap = False
        while sent < MAX_BYTES_PER_UPDATE and not gap:
            chunks = chunks_after(result_id, cursor, limit=200)
            if not chunks:
                break
            for seq, data in chunks:
                if contiguous_only and seq != cursor + 1:
                    gap = True
                    break
                if sent >= MAX_BYTES_PER_UPDATE:
                    more = True
                    break  # the rest comes with the next update
                messages.append({"type": "output", "result_id": result_id, "seq": seq, "data": data})
                cursor = seq
                sent += len(data)
        cursors[result_id] = cursor
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
        }
    )
    return messages


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None
