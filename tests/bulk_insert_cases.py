"""Rows written by console.bulk_insert and the same rows written by Django's bulk_create, read back: run
on SQLite by tests/unit/test_bulk_insert.py and on PostgreSQL (its one INSERT from arrays) by
tests/integration/pg_sql_cases.py."""

from datetime import UTC, datetime

from console.bulk_insert import bulk_insert
from console.invocations.models import InvocationResult

MOMENT = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
CONTENTS = ["", "echo 'it''s' \"quoted\" {brace} \\ back", "ünïcödé 漢字\n", "x" * 5000, "NULL", "{1,2}"]


def _varying(prefix: str, count: int) -> dict[str, list]:
    return {
        "id": [f"{prefix}-{n:04d}" for n in range(count)],
        "instance_id": [f"mi-{n:04d}" for n in range(count)],
        "content": [CONTENTS[n % len(CONTENTS)] for n in range(count)],
        "boot_id": ["" if n % 2 else f"boot-{n}" for n in range(count)],
        "queued": [n % 3 == 0 for n in range(count)],
    }


def _snapshot(prefix: str) -> list[dict[str, str]]:
    rows = InvocationResult.objects.filter(id__startswith=f"{prefix}-").order_by("id")
    skipped = ("id", "invocation_id", "updated_at")
    fields = [f.attname for f in InvocationResult._meta.concrete_fields if f.attname not in skipped]
    return [{name: repr(getattr(row, name)) for name in fields} for row in rows]


def compare(ours: str, djangos: str, count: int = 300) -> dict:
    """What bulk_insert stored (in invocation ``ours``) and what bulk_create stored (in ``djangos``) for the
    same rows, and the updated_at times."""
    inserted = bulk_insert(
        InvocationResult(invocation_id=ours, created_at=MOMENT, status="Pending"),
        _varying("rb", count),
    )
    reference = _varying("rc", count)
    InvocationResult.objects.bulk_create(
        InvocationResult(
            invocation_id=djangos,
            created_at=MOMENT,
            status="Pending",
            **{name: values[n] for name, values in reference.items()},
        )
        for n in range(count)
    )
    stamps = set(InvocationResult.objects.filter(id__startswith="rb-").values_list("updated_at", flat=True))
    return {
        "inserted": inserted,
        "ours": _snapshot("rb"),
        "django": _snapshot("rc"),
        "updated_at": sorted(str(stamp) for stamp in stamps),
        "empty": bulk_insert(InvocationResult(invocation_id=ours), {"id": []}),
    }
