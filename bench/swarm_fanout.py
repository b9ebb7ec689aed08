"""Benchmark 2: simulated agents (bench/swarm.py) on ONE daphne node, production mode (PostgreSQL, Redis,
a Celery worker). For each size: the daphne node's RSS per connected agent, its CPU while the fleet idles
(heartbeats and websocket pings only), and the time from one RunCommand to every result stored Success.

    python bench/swarm_fanout.py [--sizes 1000,5000,10000] [--idle-seconds 60] [--output-bytes 3]
                                 [--profile /tmp/prof]

Targets (issue 8): 10,000 idle agents under 1 GiB of server memory, idle load under 10 % of one core,
fan-out to 10,000 under 10 s. The swarm runs in its own process, so its CPU is not the server's; on a
2-core machine it still competes with the server for the cores (the figures are pessimistic).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alibabacloud_tea_openapi import utils_models  # noqa: E402
from alibabacloud_tea_openapi.utils import Utils  # noqa: E402
from darabonba.runtime import RuntimeOptions  # noqa: E402

from bench.agent_footprint import cpu_seconds, rss_kb  # noqa: E402
from bench.fanout import PG_ADMIN, REDIS, Counter  # noqa: E402
from bench.profiling import profiled  # noqa: E402
from tests.live import Console, Processes, free_port, sdk_client, wait_for_port, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def tag_fleet(dsn: str, instance_ids: list[str], key: str) -> None:
    """Bench setup straight in the database: tag the instances, so that one RunCommand can select them
    with ResourceTag (Django refuses a request of more than 1,000 fields: DATA_UPLOAD_MAX_NUMBER_FIELDS)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tags_tag (account_id, region, resource_type, resource_id, key, value) "
            "SELECT account_id, region, 'managedinstance', id, %s, '' FROM fleet_instance WHERE id = ANY(%s)",
            (key, instance_ids),
        )


def run_command_by_tag(client, key: str, content: str = "echo hi") -> str:
    request = utils_models.OpenApiRequest(
        query=Utils.query(
            {
                "RegionId": "local",
                "Type": "RunShellScript",
                "CommandContent": content,
                "Timeout": 600,
                "ResourceTag": [{"Key": key}],
            }
        )  # fmt: skip
    )
    params = utils_models.Params(
        action="RunCommand", version="2014-05-26", protocol="HTTP", pathname="/", method="POST",
        auth_type="AK", style="RPC", req_body_type="formData", body_type="json",
    )  # fmt: skip
    return client.call_api(params, request, RuntimeOptions(read_timeout=120_000))["body"]["InvokeId"]


def run_command(client, instance_ids: list[str], content: str = "echo hi") -> str:
    """RunCommand through the official SDK's signer, with the instance ids in the form body: 10,000 ids do
    not fit in a query string (the SDK's run_command puts every parameter there)."""
    request = utils_models.OpenApiRequest(
        query=Utils.query(
            {"RegionId": "local", "Type": "RunShellScript", "CommandContent": content, "Timeout": 600}
        ),
        body=Utils.query({"InstanceId": instance_ids}),
    )
    params = utils_models.Params(
        action="RunCommand", version="2014-05-26", protocol="HTTP", pathname="/", method="POST",
        auth_type="AK", style="RPC", req_body_type="formData", body_type="json",
    )  # fmt: skip
    return client.call_api(params, request, RuntimeOptions(read_timeout=120_000))["body"]["InvokeId"]


def swarm_status(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


class Fleet:
    """Swarm processes started one per size step, so a larger size only connects the extra agents."""

    def __init__(self, procs: Processes, identities: Path, output_bytes: int) -> None:
        self.procs, self.identities, self.output_bytes = procs, identities, output_bytes
        self.swarms: list[tuple[object, Path]] = []
        self.size = 0  # identities handed to swarms so far
        self.previous = 0  # the last size measured
        self.base_rss = 0  # the node's RSS before any agent connected, KiB

    def grow_to(self, size: int) -> None:
        status = self.procs.workdir / f"swarm-{size}.json"
        swarm = self.procs.spawn(
            f"swarm-{size}",
            [sys.executable, str(ROOT / "bench" / "swarm.py"), "run", "--identities", str(self.identities),
             "--skip", str(self.size), "--count", str(size - self.size),
             "--output-bytes", str(self.output_bytes), "--status-file", str(status), "--quiet"],
        )  # fmt: skip
        self.swarms.append((swarm, status))
        self.size = size

    def counter(self, name: str) -> int:
        if any(swarm.poll() is not None for swarm, _ in self.swarms):
            raise RuntimeError("a swarm process exited")
        return sum(swarm_status(status).get(name, 0) for _, status in self.swarms)

    def stop(self) -> None:
        for swarm, _ in self.swarms:
            _stop(swarm)


def measure_size(procs: Processes, node, counter: Counter, client, fleet: Fleet, size: int, args) -> None:
    if not fleet.size:
        fleet.base_rss = rss_kb(node.pid)
    base_rss = fleet.base_rss
    started = time.monotonic()
    fleet.grow_to(size)
    wait_until(
        lambda: fleet.counter("welcomed") >= size,
        timeout=3600, interval=1, message=f"{size} simulated agents welcomed",
    )  # fmt: skip
    connect_time = time.monotonic() - started
    time.sleep(5)  # the connect burst's writes and garbage settle
    rss = rss_kb(node.pid)
    with profiled(node.pid, args.profile, f"idle-{size}"):
        cpu_before, idle_started = cpu_seconds(node.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle_elapsed = time.monotonic() - idle_started
        idle_cpu = (cpu_seconds(node.pid) - cpu_before) / idle_elapsed
    ids = [i["InstanceId"] for i in json.loads(fleet.identities.read_text())["Instances"][:size]]
    if size > 1000:
        tag_fleet(counter.dsn, ids, f"swarm-{size}")
    with profiled(node.pid, args.profile, f"fanout-{size}"):
        sent = time.perf_counter()
        invoke_id = run_command(client, ids) if size <= 1000 else run_command_by_tag(client, f"swarm-{size}")
        accepted = time.perf_counter() - sent
        while True:
            statuses = counter.statuses(invoke_id)
            if statuses.get("Success", 0) == size:
                break
            if (
                any(k not in ("Pending", "Running", "Success") for k in statuses)
                or time.perf_counter() - sent > 600
            ):
                raise RuntimeError(f"fan-out to {size} did not finish cleanly: {statuses}")
            time.sleep(0.05)
        total = time.perf_counter() - sent
    print(
        f"N={size:6d}  {size - fleet.previous} more connected in {connect_time:5.1f} s | daphne RSS "
        f"{rss / 1024:6.0f} MiB ({(rss - base_rss) / size:5.1f} KiB per agent over "
        f"{base_rss / 1024:.0f} MiB) | "
        f"idle CPU {100 * idle_cpu:4.1f} % of a core over {idle_elapsed:.0f} s | "
        f"RunCommand answered in {accepted * 1000:.0f} ms, all {size} Success after {total:5.2f} s",
        flush=True,
    )
    fleet.previous = size


def _stop(child) -> None:
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="how long the idle CPU is measured")
    parser.add_argument("--output-bytes", type=int, default=3, help="output of each simulated task")
    parser.add_argument("--heartbeat", type=int, default=60, help="ASSIST_HEARTBEAT_INTERVAL of the node")
    parser.add_argument(
        "--profile", metavar="PREFIX", help="sample the node with py-spy in each phase (bench/profiling.py)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    import psycopg
    import redis

    name = f"assist_swarm_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(REDIS).flushdb()
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    workdir = Path(tempfile.mkdtemp(prefix="assist-swarm-"))
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": REDIS,
        "ASSIST_DATA_DIR": str(workdir / "data"),
        "ASSIST_MAX_INSTANCES_PER_RUN": str(max(sizes)),
        "ASSIST_HEARTBEAT_INTERVAL": str(args.heartbeat),
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
        key = console.bootstrap()
        identities = workdir / "identities.json"
        started = time.monotonic()
        # An activation lets at most 1,000 instances register (the original's limit): one per thousand.
        for registered in range(0, max(sizes), 1000):
            activation = console.create_activation(count=min(1000, max(sizes) - registered))
            register(procs, console, activation, min(registered + 1000, max(sizes)), identities)
        print(
            f"registered {max(sizes)} simulated instances in {time.monotonic() - started:.0f} s", flush=True
        )
        client = sdk_client(console, key)
        counter = Counter(dsn)
        fleet = Fleet(procs, identities, args.output_bytes)
        try:
            for size in sorted(sizes):
                measure_size(procs, node, counter, client, fleet, size, args)
        finally:
            fleet.stop()
    except Exception:
        print(procs.dump_logs(), file=sys.stderr)
        raise
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def register(procs: Processes, console: Console, activation: dict, count: int, identities: Path) -> None:
    """Through the console's registration endpoint, like real agents (not Processes.run: it times out
    after 2 minutes, and thousands of registrations may take longer on this machine)."""

    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "swarm.py"), "register", "--console", console.url,
         "--activation-id", activation["ActivationId"], "--activation-code", activation["ActivationCode"],
         "--count", str(count), "--identities", str(identities)],
        cwd=ROOT, env=procs.env, check=True, timeout=1800,
    )  # fmt: skip


if __name__ == "__main__":
    main()
