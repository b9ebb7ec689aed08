"""Benchmark 3: output throughput, production mode (one daphne node, a Celery worker, Redis, PostgreSQL) and
real agent processes on this machine.

  - one instance printing 100 MB (--big-mb);
  - 200 instances printing 1 MB each at once (--fleet, --each-mb).

For each: bytes stored per second (RunCommand until every result is final and its output_size complete) and
bytes delivered per second to a browser websocket client (the invocation page's live stream,
/ws/invocations/<id>/, logged in as the root user) until it has every byte and every final status; and
the CPU seconds each program (node, agents, PostgreSQL, ...) used meanwhile, on this machine's cores.

    python bench/output_throughput.py [--big-mb 100] [--fleet 200] [--each-mb 1] [--profile /tmp/prof]
"""

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets  # noqa: E402
from alibabacloud_ecs20140526 import models  # noqa: E402

from bench.fanout import PG_ADMIN, REDIS, start_agents  # noqa: E402
from bench.profiling import cpu_spent, profiled  # noqa: E402
from tests.live import (  # noqa: E402
    PASSWORD,
    Console,
    Processes,
    free_port,
    sdk_client,
    wait_for_port,
    wait_until,
)

MB = 1_000_000


def script(megabytes: float) -> str:
    # 64-byte lines of printable text, as real output is; `head -c` stops at the exact size.
    line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01"
    return f"yes {line} | head -c {int(megabytes * MB)}"


def browser_cookie(console: Console) -> str:
    import requests

    session = requests.Session()
    session.get(console.url + "/login/")
    form = {
        "username": "admin@acme",
        "password": PASSWORD,
        "csrfmiddlewaretoken": session.cookies["csrftoken"],
    }
    session.post(console.url + "/login/", data=form)
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


async def watch(
    console: Console, cookie: str, invoke_id: str, count: int, expected: int, clock: float
) -> tuple[float, int]:
    """Seconds from ``clock`` until the browser stream held every byte and every final status, and the
    times it reconnected. Like the page (static/assist/invocation.js) it says it acknowledges, acknowledges
    every 20 messages, and reconnects and resumes from its cursors whenever the stream closes."""
    url = console.url.replace("http://", "ws://") + f"/ws/invocations/{invoke_id}/"
    received, final, cursors, reconnects = 0, set(), {}, 0
    while received < expected or len(final) < count:
        async with websockets.connect(
            url, origin=console.url, additional_headers={"Cookie": cookie}, max_size=None, open_timeout=60
        ) as ws:
            await ws.send(json.dumps({"type": "resume", "cursors": cursors, "acks": True}))
            messages = 0
            try:
                while received < expected or len(final) < count:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 300))
                    messages += 1
                    if messages % 20 == 0:  # as the page does: the stream closes on a browser too far behind
                        await ws.send(json.dumps({"type": "ack", "received": messages}))
                    if message["type"] == "output":
                        received += len(message["text"].encode())
                        cursors[message["result_id"]] = message["seq"]
                    elif message["type"] == "result" and message["final"]:
                        final.add(message["result_id"])
                # Timed here, not after the close: leaving the block waits for the close handshake, which
                # can sit behind messages still queued for the socket (up to websockets' 10 s timeout).
                had_it_all = time.perf_counter() - clock
            except websockets.ConnectionClosed as closed:
                reconnects += 1
                code = closed.rcvd.code if closed.rcvd is not None else "none"
                print(f"  browser stream closed (code {code}); resuming from its cursors", flush=True)
    return had_it_all, reconnects


def run_case(console, client, cookie: str, counter_dsn, ids: list[str], megabytes: float, label: str) -> None:
    import psycopg

    expected_each = int(megabytes * MB)
    request = models.RunCommandRequest(
        region_id="local",
        type="RunShellScript",
        command_content=script(megabytes),
        instance_id=ids,
        timeout=600,
    )
    started = time.perf_counter()
    invoke_id = client.run_command(request).body.invoke_id
    # The browser connects right away, as the page does after RunCommand; it sees output as it is stored.
    pool = ThreadPoolExecutor(max_workers=1)
    browser = pool.submit(
        lambda: asyncio.run(watch(console, cookie, invoke_id, len(ids), expected_each * len(ids), started))
    )
    query = (
        "SELECT COUNT(*) FILTER (WHERE status = 'Success'), COALESCE(SUM(output_size), 0), "
        "COUNT(*) FILTER (WHERE status NOT IN ('Pending', 'Running', 'Success')) "
        "FROM invocations_invocationresult WHERE invocation_id = %s"
    )
    with psycopg.connect(counter_dsn, autocommit=True) as conn:
        while True:
            done, stored, bad = conn.execute(query, (invoke_id,)).fetchone()
            if done == len(ids) and stored >= expected_each * len(ids):
                break
            if bad or time.perf_counter() - started > 600:
                raise RuntimeError(
                    f"{label}: did not finish cleanly ({done} Success, {bad} other, {stored} bytes)"
                )
            time.sleep(0.02)
    stored_after = time.perf_counter() - started
    browser_after, reconnects = browser.result(timeout=600)
    pool.shutdown()
    total = expected_each * len(ids)
    print(
        f"{label:28s} {total / MB:6.0f} MB: stored in {stored_after:6.2f} s = "
        f"{total / MB / stored_after:6.1f} MB/s; "
        f"browser had it all after {browser_after:6.2f} s = {total / MB / browser_after:6.1f} MB/s"
        f" ({reconnects} reconnects)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--big-mb", type=float, default=100)
    parser.add_argument("--fleet", type=int, default=200)
    parser.add_argument("--each-mb", type=float, default=1)
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="sample the daphne node with py-spy in each case (bench/profiling.py)",
    )
    args = parser.parse_args()
    import psycopg
    import redis

    name = f"assist_output_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(REDIS).flushdb()
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    workdir = Path(tempfile.mkdtemp(prefix="assist-output-"))
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": REDIS,
        "ASSIST_DATA_DIR": str(workdir / "data"),
        "ASSIST_MAX_INSTANCES_PER_RUN": str(max(args.fleet, 100)),
        "ASSIST_MAX_OUTPUT_BYTES": str(int(max(args.big_mb, args.each_mb) * MB) + MB),
        "ASSIST_LOG_LEVEL": "WARNING",
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
        client = sdk_client(console, console.bootstrap())
        ids = start_agents(console, args.fleet)
        with psycopg.connect(dsn, autocommit=True) as conn:
            online = "SELECT COUNT(*) FROM fleet_instance WHERE last_heartbeat_at IS NOT NULL"
            wait_until(
                lambda: conn.execute(online).fetchone()[0] >= args.fleet, timeout=300, message="agents online"
            )
        # Logging in hashes the password (PBKDF2, half a second of the node's CPU): before the cases.
        cookie = browser_cookie(console)
        time.sleep(2)
        with profiled(node.pid, args.profile, "one-instance"), cpu_spent("1 instance"):
            run_case(console, client, cookie, dsn, ids[:1], args.big_mb, "1 instance")
        with profiled(node.pid, args.profile, "fleet"), cpu_spent("fleet"):
            run_case(console, client, cookie, dsn, ids, args.each_mb, f"{args.fleet} instances at once")
    except Exception:
        print(procs.dump_logs(), file=sys.stderr)
        raise
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
