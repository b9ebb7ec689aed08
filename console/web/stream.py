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
    results = InvocationResult.objects.filter(invocation_id=invocation_id)
    if visible is not None:
        results = results.filter(pk__in=visible)
    results = results.values("id", "status", "exit_code", "error_code", "error_info", "output_size")
    messages: list[dict] = []
    statuses: list[str] = []
    done = 0
    for row in results:
        statuses.append(row["status"])
        done += row["status"] in st.FINAL
        result_id = row["id"]
        if result_ids is not None and result_id not in result_ids:
            continue
        cursor = cursors.get(result_id, 0)
        sent = 0
        while sent < MAX_BYTES_PER_UPDATE:
            chunks = chunks_after(result_id, cursor, limit=200)
            if not chunks:
                break
            for seq, data in chunks:
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
            }
        )
    messages.append(
        {"type": "overall", "status": st.overall_status(statuses), "done": done, "total": len(statuses)}
    )
    return messages
