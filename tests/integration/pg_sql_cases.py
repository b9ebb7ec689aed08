"""Run by test_pg_sql.py in a subprocess with DATABASE_URL set to a scratch PostgreSQL database.

- The array lookup: every case is answered with ``__in`` (console/lookups.py) and with Django's own ``In``
  (registered here as ``__django_in``); one JSON line per case with both answers and the SQL used.
- The report write-back (reports._write_back, one UPDATE from arrays): results changed in memory are
  written and read back; one JSON line with what was meant and what the database holds.
- The chunk insert (reports._insert_chunks: rows or one INSERT from arrays, binary parameters): chunks
  written and read back (by the ORM and as binary rows), and rolled back with the caller's transaction.
- The fan-out's result insert (console.bulk_insert, one INSERT from arrays): rows against bulk_create's.
- The times DescribeInvocations has the database format (IsoTimeText): each case of tests/iso_time_cases.py
  as the database formats it and as ``iso_time`` does.
- The invocations on an instance (DescribeInvocations by InstanceId): tests/instance_invocation_cases.py.
- How an output chunk is compressed (LZ4 where the server has it: migration invocations/0013), checked
  here with its own query, not the migration's.
- The plan of DescribeInvocations' account-wide count, sequential scans disabled (this database is too
  small for the planner to prefer an index by itself): which index, if any, can answer it."""

import json
import os
import sys
from datetime import UTC, datetime, timedelta

import django

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import IntegrityError, connection, transaction  # noqa: E402
from django.db.models import CharField, Field, ForeignObject, Transform  # noqa: E402
from django.db.models.fields.related_lookups import RelatedIn  # noqa: E402
from django.db.models.lookups import In  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from console.iam.models import Account  # noqa: E402
from console.invocations import reports, selectors  # noqa: E402
from console.invocations.models import Invocation, InvocationResult, OutputChunk  # noqa: E402
from tests import bulk_insert_cases, instance_invocation_cases, iso_time_cases  # noqa: E402


class UpperBothSides(Transform):
    """A bilateral transform: applied to the column and to every value (Django's own SQL is kept)."""

    lookup_name = "upper_both"
    function = "UPPER"
    bilateral = True


CharField.register_lookup(UpperBothSides)


class DjangoIn(In):
    lookup_name = "django_in"


class DjangoRelatedIn(RelatedIn):
    lookup_name = "django_in"


Field.register_lookup(DjangoIn)
ForeignObject.register_lookup(DjangoRelatedIn)

call_command("migrate", verbosity=0)
account = Account.objects.create(id="acc-in", name="acc-in")
invocation = Invocation.objects.create(
    id="t-in",
    account=account,
    region="r",
    command_id="c-1",
    command_type="RunShellScript",
    command_content="x",
)
result_ids = [f"r-{n:04d}" for n in range(300)]
InvocationResult.objects.bulk_create(
    InvocationResult(
        id=rid, invocation=invocation, instance_id=f"i-{n:04d}", status="Running" if n % 3 else "Success"
    )
    for n, rid in enumerate(result_ids)
)
OutputChunk.objects.bulk_create(
    OutputChunk(result_id=rid, seq=seq, data=b"x") for rid in result_ids[:40] for seq in range(1, 6)
)
results = InvocationResult.objects.all()
some = result_ids[::2]  # 150 ids
cases = {
    "short list": (results, "id", result_ids[:10]),
    "long list": (results, "id", some),
    "long list with None and duplicates": (results, "id", [None, *some, *some[:20], None]),
    "long list of unknown ids": (results, "id", [f"nope-{n}" for n in range(200)]),
    "long list, only None": (results, "id", [None] * 80),
    "foreign key by id": (OutputChunk.objects.all(), "result_id", result_ids[:120]),
    "foreign key by object": (OutputChunk.objects.all(), "result", list(results[:60])),
    "integers": (OutputChunk.objects.all(), "seq", list(range(2, 300))),
    "big integers": (OutputChunk.objects.all(), "pk", [2**40, *range(1, 100)]),
    "through a relation": (
        OutputChunk.objects.all(),
        "result__instance_id",
        [f"i-{n:04d}" for n in range(0, 120, 2)],
    ),
    "generator": (results, "id", (rid for rid in some)),
    "bilateral transform": (results, "id__upper_both", [rid.lower() for rid in some]),
}
for name, (queryset, field, values) in cases.items():
    values = list(values)
    ours = queryset.filter(**{f"{field}__in": values})
    django_own = queryset.filter(**{f"{field}__django_in": values})
    try:
        sql = str(ours.query)
    except Exception as exc:  # EmptyResultSet: Django decides without a query
        sql = type(exc).__name__
    print(
        json.dumps(
            {
                "case": name,
                "ours": sorted(map(str, ours.values_list("pk", flat=True))),
                "django": sorted(map(str, django_own.values_list("pk", flat=True))),
                "sql": sql,
                "excluded_ours": queryset.exclude(**{f"{field}__in": values}).count(),
                "excluded_django": queryset.exclude(**{f"{field}__django_in": values}).count(),
            }
        )
    )


def snapshot(result):
    return {name: str(getattr(result, name)) for name in reports.MUTABLE_FIELDS}


untouched_before = {r.id: snapshot(r) for r in InvocationResult.objects.filter(id__in=result_ids[200:])}
changed = list(InvocationResult.objects.filter(id__in=result_ids[:200]))
moment = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
for n, result in enumerate(changed):
    result.status = ("Success", "Failed", "Running", "Timeout")[n % 4]
    result.error_code = "" if n % 4 == 0 else f"Code{n}"
    result.error_info = f'it\'s "quoted", {{brace}}, ñ, 漢字 {n}' if n % 3 else ""
    result.exit_code = None if n % 5 == 0 else n - 100
    result.repeats = n
    result.output_size = 2**40 + n
    result.output_dropped = n * 7
    result.started_at = None if n % 6 == 0 else moment + timedelta(seconds=n)
    result.finished_at = moment + timedelta(minutes=n) if n % 2 else None
    result.updated_at = moment
reports._write_back(changed)
stored = {r.id: snapshot(r) for r in InvocationResult.objects.filter(id__in=result_ids[:200])}
print(
    json.dumps(
        {
            "write_back": {r.id: snapshot(r) for r in changed},
            "stored": stored,
            "untouched_before": untouched_before,
            "untouched_after": {
                r.id: snapshot(r) for r in InvocationResult.objects.filter(id__in=result_ids[200:])
            },
        }
    )
)
chunks = [
    (result_ids[250], 1, b"\x00\xff binary \x00"),
    (result_ids[250], 2, b""),
    (result_ids[251], 1, bytes(range(256)) * 256),
    (result_ids[252], 7, "ünïcödé\n".encode()),
]
reports._insert_chunks(chunks)  # large on average: a row each
small = [(result_ids[253], seq, b"\x00line %d\n" % seq) for seq in range(1, 101)]
reports._insert_chunks(small)  # many small ones: one INSERT from arrays
chunks += small
stored_chunks = OutputChunk.objects.filter(result_id__in=result_ids[250:254]).order_by("result_id", "seq")
try:  # both ways of inserting take part in the caller's transaction
    with transaction.atomic():
        reports._insert_chunks([(result_ids[254], 1, b"x" * 10_000)])
        reports._insert_chunks([(result_ids[254], 2, b"y")])
        inside = OutputChunk.objects.filter(result_id=result_ids[254]).count()
        raise RuntimeError("roll back")
except RuntimeError:
    pass
# The binary cursor is Django's wrapper: the query log sees it, errors are Django's.
with CaptureQueriesContext(connection) as captured:
    selectors.chunks_after(result_ids[253], 0, 1)
try:
    with transaction.atomic():
        reports._insert_chunks([(result_ids[250], 1, b"seq 1 again")])
    duplicate = "stored"
except IntegrityError:
    duplicate = "IntegrityError"
print(
    json.dumps(
        {
            "through_django": {
                "logged": [q["sql"] for q in captured.captured_queries],
                "duplicate": duplicate,
            },
            "chunks_meant": [[r, seq, data.hex()] for r, seq, data in chunks],
            "chunks_stored": [[c.result_id, c.seq, bytes(c.data).hex()] for c in stored_chunks],
            # read back as the live stream and the downloads do (binary rows)
            "after_50": [[seq, data.hex()] for seq, data in selectors.chunks_after(result_ids[253], 50, 10)],
            "joined": {r: data.hex() for r, data in selectors.outputs_for(result_ids[250:254]).items()},
            "none_asked": selectors.outputs_for([]),
            "rolled_back": {
                "inside": inside,
                "after": OutputChunk.objects.filter(result_id=result_ids[254]).count(),
            },
        }
    )
)
with connection.cursor() as cursor:
    cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
    [has_lz4] = cursor.fetchone()
    # the 64 KiB chunk of a repeated pattern: stored out of line, compressed
    cursor.execute(
        "SELECT pg_column_compression(data) FROM invocations_outputchunk WHERE result_id = %s AND seq = 1",
        [result_ids[251]],
    )
    [compression] = cursor.fetchone()
print(json.dumps({"chunk_compression": {"server_has_lz4": has_lz4, "stored_with": compression}}))
print(json.dumps({"iso_times": iso_time_cases.formatted(invocation.id)}))
bulk_targets = [
    Invocation.objects.create(
        id=f"t-bulk{n}", account=account, region="r", command_id="c-1", command_type="RunShellScript"
    ).id
    for n in (1, 2)
]
print(json.dumps({"bulk_insert": bulk_insert_cases.compare(*bulk_targets)}))
print(json.dumps({"on_instance": instance_invocation_cases.answers(account.id, "r", "on")}))
with CaptureQueriesContext(connection) as counted:
    Invocation.objects.filter(account_id=account.id, region="r").count()
with connection.cursor() as cursor:
    cursor.execute("SET enable_seqscan = off")
    cursor.execute("EXPLAIN " + counted.captured_queries[-1]["sql"])
    count_plan = [row[0] for row in cursor.fetchall()]
    cursor.execute("RESET enable_seqscan")
print(json.dumps({"count_plan": count_plan}))
print(json.dumps({"vendor": connection.vendor}))
