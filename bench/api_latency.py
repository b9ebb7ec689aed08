"""Benchmark 4: API latency with a million stored results on PostgreSQL.

Loads a private PostgreSQL database (bulk_create: 1,000 instances, 20,000 invocations of 50 instances each
= 1,000,000 results, one output chunk each, spread over four weeks), then:
  1. EXPLAIN ANALYZE of every query the hot API calls issue (captured in-process from the real actions);
     prints each plan's scans, flags sequential scans of the big tables, and writes the plans to a file;
  2. p50/p99 latency of DescribeInvocations and DescribeInvocationResults, page size 50, through the official
     SDK against a daphne node (end to end: signature, throttle, JSON).

    python bench/api_latency.py [--results 1000000] [--calls 200] [--keep-db NAME] [--plans FILE]
                                [--only TEXT ...] [--random-page-cost 1.1]

``--keep-db NAME`` reuses (or keeps) a loaded database, since loading takes minutes; ``--only TEXT`` keeps
the calls whose label contains TEXT (repeatable), e.g. ``--only "DescribeInvocations ("``.
``--random-page-cost`` sets the planner's cost of a random page read on the benchmark's database: 1.1,
as docs/deployment.md advises for a database on SSDs or in memory; 4 measures PostgreSQL's default.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
INSTANCES = 1000
PER_INVOCATION = 50
BIG_TABLES = ("invocations_invocationresult", "invocations_outputchunk", "invocations_invocation")


def setup_django(dsn: str, data_dir: Path) -> None:
    os.environ["DATABASE_URL"] = dsn
    os.environ["ASSIST_DATA_DIR"] = str(data_dir)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()


def load(results: int) -> None:
    from django.core.management import call_command
    from django.utils import timezone

    from console.fleet import services as fleet_services
    from console.fleet.models import Instance
    from console.iam import services as iam_services
    from console.iam.principal import Principal
    from console.invocations.models import Invocation, InvocationResult, OutputChunk

    call_command("migrate", verbosity=0)
    user, _ = iam_services.bootstrap(account_name="acme", username="admin", password="bench-password-1")
    principal = Principal.for_user(user)
    if Invocation.objects.exists():
        print(f"database already loaded: {InvocationResult.objects.count()} results", flush=True)
        return
    started = time.perf_counter()
    issued = fleet_services.activation_create(principal=principal, instance_count=INSTANCES)
    for n in range(INSTANCES):
        fleet_services.instance_register(
            activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1",
            hostname=f"host-{n:04d}",
        )  # fmt: skip
    instance_ids = list(Instance.objects.order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    span = timedelta(days=28).total_seconds()
    count = results // PER_INVOCATION
    batch = 200  # invocations per round: 10,000 results and 10,000 chunks
    for first in range(0, count, batch):
        invocations, rows, chunks = [], [], []
        for n in range(first, min(first + batch, count)):
            created = now - timedelta(seconds=span * (1 - n / count))
            invocation = Invocation(
                id=f"t-bench{n:08d}", account_id=principal.account_id, region="local",
                command_id=f"c-bench{n:08d}", command_type="RunShellScript", command_content="echo hi",
                created_at=created, instance_count=PER_INVOCATION,
            )  # fmt: skip
            invocations.append(invocation)
            for k in range(PER_INVOCATION):
                instance = instance_ids[(n * 7 + k) % len(instance_ids)]
                status = "Success" if (n + k) % 20 else "Failed"
                result = InvocationResult(
                    id=f"t-bench{n:08d}-{k:02d}", invocation_id=invocation.id, instance_id=instance,
                    status=status, exit_code=0 if status == "Success" else 1, created_at=created,
                    started_at=created, finished_at=created + timedelta(seconds=1), output_size=3,
                )  # fmt: skip
                rows.append(result)
                chunks.append(OutputChunk(result_id=result.id, seq=1, data=b"hi\n"))
        Invocation.objects.bulk_create(invocations)
        InvocationResult.objects.bulk_create(rows, batch_size=5000)
        OutputChunk.objects.bulk_create(chunks, batch_size=5000)
        if (first // batch) % 10 == 0:
            print(
                f"  loaded {first * PER_INVOCATION + len(rows)} results "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"loaded {count * PER_INVOCATION} results in {time.perf_counter() - started:.0f} s", flush=True)


def calls(instance_id: str, invoke_id: str) -> dict[str, tuple[str, dict[str, str]]]:
    """The hot API calls: (action, parameters), page size 50."""
    page = {"RegionId": "local", "MaxResults": "50"}
    return {
        "DescribeInvocations (newest 50)": ("DescribeInvocations", page),
        "DescribeInvocations InstanceId=": ("DescribeInvocations", {**page, "InstanceId": instance_id}),
        "DescribeInvocationResults InvokeId=": ("DescribeInvocationResults", {**page, "InvokeId": invoke_id}),
        "DescribeInvocationResults InstanceId=": (
            "DescribeInvocationResults",
            {**page, "InstanceId": instance_id},
        ),
        "DescribeInvocationResults (newest 50)": ("DescribeInvocationResults", page),
        "DescribeInvocationResults page 20": (
            "DescribeInvocationResults",
            {"RegionId": "local", "PageSize": "50", "PageNumber": "20"},
        ),
    }


def explain(hot: dict, plans_file: Path) -> None:
    """Run each call in-process, capture its SQL, and EXPLAIN ANALYZE every SELECT."""
    from django.db import connection
    from psycopg import ClientCursor

    from console import pg_binary
    from console.api.actions.registry import ACTIONS
    from console.api.params import Params
    from console.iam.models import User
    from console.iam.principal import Principal

    principal = Principal.for_user(User.objects.get(is_root=True, account__name="acme"))
    out = []
    captured = []  # (sql, params, bound on the server) of one call: each is explained as it was run

    def record(execute, sql, query_params, many, context):
        captured.append((sql, query_params, not isinstance(context["cursor"].cursor, ClientCursor)))
        return execute(sql, query_params, many, context)

    for label, (action, params) in hot.items():
        ACTIONS[action](principal, Params(params))  # warm
        captured.clear()
        with connection.execute_wrapper(record):
            ACTIONS[action](principal, Params(params))
        print(f"{label}: {len(captured)} queries", flush=True)
        out.append(f"===== {label} ({action} {params})")
        for sql, query_params, server_bound in captured:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor = pg_binary.server_binding_cursor() if server_bound else connection.cursor()
            with cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, query_params)
                plan = [row[0] for row in cursor.fetchall()]
            total = next((line for line in plan if line.startswith("Execution Time")), "")
            seq = [line.strip() for line in plan if "Seq Scan" in line and any(t in line for t in BIG_TABLES)]
            flag = "  SEQ SCAN OF A BIG TABLE: " + "; ".join(seq) if seq else ""
            print(f"    {total:28s} {sql[:90]}{flag}", flush=True)
            out.append(sql)
            out.extend(plan)
            out.append("")
    plans_file.write_text("\n".join(out))
    print(f"plans written to {plans_file}", flush=True)


def latency(dsn: str, hot: dict, count: int) -> None:
    """p50/p99 through the SDK against a real daphne node."""
    from alibabacloud_tea_openapi import utils_models
    from alibabacloud_tea_openapi.utils import Utils
    from darabonba.runtime import RuntimeOptions

    from tests.live import Console, Processes, free_port, sdk_client, wait_for_port

    workdir = Path(tempfile.mkdtemp(prefix="assist-api-"))
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "ASSIST_DATA_DIR": str(workdir / "data"),
        "ASSIST_API_RATE_LIMIT": "",
    }
    env.pop("REDIS_URL", None)
    env["ASSIST_LOG_LEVEL"] = "WARNING"
    procs = Processes(workdir, env)
    try:
        port = free_port()
        node = procs.spawn(
            "daphne",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "console.asgi:application"],
        )
        wait_for_port(port, timeout=60, proc=node)
        console = Console(procs, f"http://127.0.0.1:{port}")
        client = sdk_client(console, console.bootstrap())
        # A call slower than the SDK's default 10 s read timeout is a figure to report, not a failure.
        runtime = RuntimeOptions(read_timeout=300_000, connect_timeout=10_000)
        for label, (action, params) in hot.items():
            request = utils_models.OpenApiRequest(query=Utils.query(params))
            spec = utils_models.Params(
                action=action, version="2014-05-26", protocol="HTTP", pathname="/", method="POST",
                auth_type="AK", style="RPC", req_body_type="formData", body_type="json",
            )  # fmt: skip
            for _ in range(5):
                client.call_api(spec, request, runtime)  # warm-up
            times = []
            for _ in range(count):
                started = time.perf_counter()
                body = client.call_api(spec, request, runtime)["body"]
                times.append((time.perf_counter() - started) * 1000)
            # DescribeInvocationResults nests its TotalCount in Invocation; DescribeInvocations has it on top.
            total = body.get("Invocation", body).get("TotalCount", "?")
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(
                f"{label:40s} p50 {statistics.median(times):6.1f} ms  p99 {p99:6.1f} ms  "
                f"(max {times[-1]:.0f}; {count} calls; TotalCount {total})",
                flush=True,
            )
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200, help="timed calls per API call kind")
    parser.add_argument("--keep-db", default="", help="database name to reuse and keep (default: a new one)")
    parser.add_argument("--plans", default="", help="file for the EXPLAIN ANALYZE output")
    parser.add_argument("--only", action="append", default=[], help="time only calls whose label has this")
    parser.add_argument(
        "--random-page-cost",
        type=float,  # a number, never text pasted into SQL
        default=1.1,
        help="the database's random_page_cost (docs/deployment.md; PostgreSQL's default: 4)",
    )
    args = parser.parse_args()
    import psycopg

    name = args.keep_db or f"assist_api_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f'ALTER DATABASE "{name}" SET random_page_cost = {args.random_page_cost}')
    print(f"random_page_cost = {args.random_page_cost} on {name}", flush=True)
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    data_dir = Path(tempfile.mkdtemp(prefix="assist-api-data-"))
    try:
        setup_django(dsn, data_dir)
        load(args.results)
        from console.invocations.models import Invocation, InvocationResult

        newest = Invocation.objects.order_by("-created_at").first()
        instance_id = InvocationResult.objects.filter(invocation=newest).values_list(
            "instance_id", flat=True
        )[0]
        hot = calls(instance_id, newest.id)
        if args.only:
            hot = {label: call for label, call in hot.items() if any(text in label for text in args.only)}
        explain(hot, Path(args.plans or data_dir / "plans.txt"))
        from django.db import connections

        connections.close_all()
        latency(dsn, hot, args.calls)
    finally:
        if not args.plans:
            print(f"(plans kept in {data_dir / 'plans.txt'})", flush=True)
        if not args.keep_db:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
