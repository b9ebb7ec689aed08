"""Times that the database formats (console.api.actions.invocations.IsoTimeText) and what the API must
show for each: the same text as ``iso_time`` gives in Python. Used on SQLite by
tests/api/test_iso_time_text.py and on PostgreSQL by tests/integration/pg_sql_cases.py."""

from datetime import UTC, datetime, timedelta, timezone

from console.api.actions.invocations import IsoTimeText, iso_time
from console.invocations.models import InvocationResult

# name -> (the time stored, the text the API shows)
CASES = {
    "whole second": (datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC), "2026-03-01T12:00:00Z"),
    "last microsecond of a second": (
        datetime(2026, 3, 1, 12, 0, 0, 999999, tzinfo=UTC),
        "2026-03-01T12:00:00Z",
    ),
    # Rounded to milliseconds (as SQLite's date functions work) it would be the next second.
    "microseconds past .9995": (datetime(2026, 3, 1, 12, 0, 59, 999600, tzinfo=UTC), "2026-03-01T12:00:59Z"),
    "last microsecond of a year": (
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "2026-12-31T23:59:59Z",
    ),
    "leap day": (datetime(2028, 2, 29, 0, 0, 0, 1, tzinfo=UTC), "2028-02-29T00:00:00Z"),
    "given east of UTC": (
        datetime(2026, 3, 1, 7, 30, 15, 500000, tzinfo=timezone(timedelta(hours=8))),
        "2026-02-28T23:30:15Z",
    ),
    "given west of UTC, across midnight": (
        datetime(2026, 12, 31, 20, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
        "2027-01-01T01:00:00Z",
    ),
    "unset": (None, ""),
}


def formatted(invocation_id: str) -> dict[str, dict[str, str]]:
    """Stores each case as a result's start time under ``invocation_id`` and reads it back both ways:
    {name: {"database": IsoTimeText's text, "python": iso_time of the datetime read back, "meant": ...}}."""
    names = list(CASES)
    InvocationResult.objects.bulk_create(
        InvocationResult(
            id=f"{invocation_id}-time-{n}",
            invocation_id=invocation_id,
            instance_id=f"mi-time-{n}",
            started_at=CASES[name][0],
        )  # fmt: skip
        for n, name in enumerate(names)
    )
    rows = InvocationResult.objects.filter(id__startswith=f"{invocation_id}-time-").values_list(
        "id", "started_at", IsoTimeText("started_at")
    )
    read = {result_id: (stored, text) for result_id, stored, text in rows}
    return {
        name: {
            "database": read[f"{invocation_id}-time-{n}"][1],
            "python": iso_time(read[f"{invocation_id}-time-{n}"][0]),
            "meant": CASES[name][1],
        }
        for n, name in enumerate(names)
    }
