"""Fan-out benchmark: N real agents on this machine, one RunCommand `echo hi` through the official SDK, time
until every result is Success. Runs the embedded default and, when PostgreSQL and Redis are reachable, the
production mode (two daphne nodes, a Celery worker, Redis). Prints one line per (mode, N).

    python bench/fanout.py [--sizes 10,50,200] [--modes embedded,redis] [--repeats 3] [--profile /tmp/prof]

With --profile, the production mode's timed fan-outs are sampled with py-spy (the daphne node) and the CPU
each program used is printed (bench/profiling.py).
"""

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alibabacloud_ecs20140526 import models  # noqa: E402

from bench.profiling import cpu_spent, profiled  # noqa: E402
from tests.live import (  # noqa: E402
    Console,
    Processes,
    embedded_console,
    free_port,
    sdk_client,
    wait_for_port,
    wait_until,
)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/8"


def start_agents(console: Console, count: int) -> list[str]:
    activation = console.create_activation(count=count)
    names = [f"bench-{n:03d}" for n in range(count)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda name: console.register_agent(name, activation), names))
    for name in names:
        console.start_agent(name)
    return ids


STATUS_QUERY = (
    "SELECT status, COUNT(*) FROM invocations_invocationresult WHERE invocation_id = ? GROUP BY status"
)


class Counter:
    """Counts finished results straight from the database, so polling adds no load to the console."""

    def __init__(self, dsn: str | Path) -> None:
        self.dsn = dsn
        if isinstance(dsn, Path):
            self.conn = sqlite3.connect(dsn, timeout=30)
        else:
            import psycopg

            self.conn = psycopg.connect(dsn, autocommit=True)

    def statuses(self, invoke_id: str) -> dict[str, int]:
        query = STATUS_QUERY if isinstance(self.dsn, Path) else STATUS_QUERY.replace("?", "%s")
        rows = self.conn.execute(query, (invoke_id,)).fetchall()
        return dict(rows)

    def online(self, ids: list[str]) -> int:
        return sum(
            1
            for (hb,) in self.conn.execute("SELECT last_heartbeat_at FROM fleet_instance").fetchall()
            if hb is not None
        )


def measure(client, counter: Counter, ids: list[str]) -> tuple[float, float]:
    request = models.RunCommandRequest(
        region_id="local", type="RunShellScript", command_content="echo hi", instance_id=ids, timeout=60
    )
    started = time.perf_counter()
    invoke_id = client.run_command(request).body.invoke_id
    accepted = time.perf_counter() - started
    while True:
        statuses = counter.statuses(invoke_id)
        if statuses.get("Success", 0) == len(ids):
            return accepted, time.perf_counter() - started
        bad = {k: v for k, v in statuses.items() if k not in ("Pending", "Running", "Success")}
        if bad or time.perf_counter() - started > 120:
            raise RuntimeError(f"fan-out did not finish cleanly: {statuses}")
        time.sleep(0.005)


def run_size(
    console: Console,
    counter: Counter,
    key: dict,
    size: int,
    repeats: int,
    around: Sequence[AbstractContextManager] = (),
) -> list[tuple[float, float]]:
    """``around``: context managers (profiling, CPU accounting), not yet entered: entered for the timed
    fan-outs only, not while the agents start."""
    ids = start_agents(console, size)
    wait_until(lambda: counter.online(ids) >= size, timeout=120, message=f"{size} agents online")
    time.sleep(1.0)
    client = sdk_client(console, key)
    measure(client, counter, ids)  # warm-up: first connections, caches
    with ExitStack() as timed:
        for manager in around:
            timed.enter_context(manager)
        return [measure(client, counter, ids) for _ in range(repeats)]


def report(mode: str, size: int, figures: list[tuple[float, float]]) -> None:
    totals = [t for _, t in figures]
    accepts = [a for a, _ in figures]
    print(
        f"{mode:9s} N={size:4d}  all Success after: median {statistics.median(totals) * 1000:7.0f} ms "
        f"(min {min(totals) * 1000:.0f}, max {max(totals) * 1000:.0f}; RunCommand answered in "
        f"{statistics.median(accepts) * 1000:.0f} ms)",
        flush=True,
    )


def bench_embedded(size: int, repeats: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="assist-bench-"))
    procs, console = embedded_console(
        workdir, extra_env={"ASSIST_MAX_INSTANCES_PER_RUN": str(max(size, 100))}
    )
    try:
        key = console.bootstrap()
        counter = Counter(workdir / "data" / "assist.sqlite3")
        report("embedded", size, run_size(console, counter, key, size, repeats))
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def bench_redis(size: int, repeats: int, profile: str | None = None) -> None:
    import psycopg
    import redis

    name = f"assist_bench_{os.getpid()}_{size}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(REDIS).flushdb()
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    workdir = Path(tempfile.mkdtemp(prefix="assist-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": REDIS,
        "ASSIST_DATA_DIR": str(workdir / "data"),
        "ASSIST_MAX_INSTANCES_PER_RUN": str(max(size, 100)),
    }
    procs = Processes(workdir, env)
    try:
        procs.manage("migrate", "--verbosity", "0")
        port = free_port()
        node = procs.spawn(
            "daphne",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "console.asgi:application"],
        )
        procs.spawn(
            "worker", [sys.executable, "-m", "celery", "-A", "console", "worker", "-l", "warning", "-c", "2"]
        )
        wait_for_port(port, timeout=60, proc=node)
        console = Console(procs, f"http://127.0.0.1:{port}")
        key = console.bootstrap()
        around = []
        if profile:
            around = [
                profiled(node.pid, profile, f"fanout-{size}"),
                cpu_spent(f"{repeats} fan-outs to {size}"),
            ]
        report("redis", size, run_size(console, Counter(dsn), key, size, repeats, around))
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--modes", default="embedded,redis")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", metavar="PREFIX", help="sample the production node with py-spy")
    args = parser.parse_args()
    for mode in args.modes.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            if mode == "embedded":
                bench_embedded(size, args.repeats)
            else:
                bench_redis(size, args.repeats, args.profile)


if __name__ == "__main__":
    main()
