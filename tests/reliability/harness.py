"""Fault injection with real processes: a private PostgreSQL cluster and Redis server (so restarting them
never disturbs anything else on the machine), daphne, a Celery worker and beat, several agents reaching
daphne through a TCP proxy the test can cut, and the official SDK as the client.

``run_scenario`` starts the whole stack, runs many small invocations while it injects faults at seeded
moments, waits for every result to be final and then checks the promise of docs/reliability.md over the
database and the agents' state dirs. The CI test (test_faults.py) and the soak (bench/soak.py) share it.

Every task's script appends its own path (``<state>/spool/<task_id>/script.sh``) to one runs file before
it prints anything, so a task that ran twice shows up twice there, whatever the agents' journals say.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from assist_agent.store import Store

from tests.live import Console, Processes, free_port, wait_for_port, wait_until

FINAL = {"Success", "Failed", "Error", "Timeout", "Aborted", "Cancelled", "Terminated", "Invalid"}
FAULTS = ("web", "worker", "redis", "postgres", "agent", "network", "reboot")


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise RuntimeError(f"no PostgreSQL {name} under /usr/lib/postgresql/*/bin")
    return str(found[-1])


def have_private_services() -> str:
    """Empty when a private PostgreSQL and Redis can be started here, else what is missing."""
    missing = []
    if not shutil.which("redis-server"):
        missing.append("redis-server")
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        missing.append("PostgreSQL binaries (initdb, pg_ctl)")
    return ", ".join(missing)


class PrivateRedis:
    """A redis-server of our own, without persistence: a restart loses everything it held, the harshest
    case (queued Celery messages and channel-layer groups are gone)."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "no", "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for_port(self.port, timeout=30, proc=self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        self.kill()


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb into a temporary dir, run as the postgres user when we are
    root). ``crash`` stops it in immediate mode: no checkpoint, connections cut, recovery at start."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: that is private to root (0700) and the postgres user must enter it.
        self.dir = Path(tempfile.mkdtemp(prefix="assist-reliab-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run([_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--no-sync"])  # fmt: skip

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(self.as_user + argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stdout}\n{done.stderr}")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        )
        self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "pg.log"),
                   "-w", "-t", "60", "start"])  # fmt: skip

    def crash(self) -> None:
        self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def stop(self) -> None:
        subprocess.run(
            self.as_user + [_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(self.dir, ignore_errors=True)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target port. ``cut`` drops every open connection and refuses new
    ones (they are accepted and closed at once) until ``restore``: a network cut as the agent sees it.
    ``mute_upstream`` drops what clients send while still passing what the target sends them (until
    ``cut``/``restore``): the console's frames reach the agent, the agent's reports are lost on the way."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.open = True
        self.upstream_muted = False
        self.cuts = 0
        self._transports: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True, name="tcp-proxy")
        self._thread.start()
        self._ready.wait(10)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._transports.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, upstream: bool) -> None:
            try:
                while data := await src.read(65536):
                    if upstream and self.upstream_muted:
                        continue
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
        self._transports.difference_update((writer, up_writer))

    def cut(self) -> None:
        def drop() -> None:
            self.open = False
            for writer in list(self._transports):
                writer.transport.abort()

        self.cuts += 1
        self._loop.call_soon_threadsafe(drop)

    def mute_upstream(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "upstream_muted", True)

    def restore(self) -> None:
        def reopen() -> None:
            self.open = True
            self.upstream_muted = False

        self._loop.call_soon_threadsafe(reopen)

    def close(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for writer in list(self._transports):
                writer.transport.abort()
            # The aborted transports end every pipe; cancelling the handlers instead would be logged.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if others:
                await asyncio.wait(others, timeout=5)
            for task in others:
                task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@dataclass
class Figures:
    seed: int
    invocations: int = 0
    results: int = 0
    submit_errors: int = 0
    faults: list[str] = field(default_factory=list)
    by_status: dict[str, int] = field(default_factory=dict)
    not_final: list[str] = field(default_factory=list)
    duplicate_runs: list[str] = field(default_factory=list)
    chunk_gaps: list[str] = field(default_factory=list)
    output_lost: list[str] = field(default_factory=list)
    ran_but_not_run: list[str] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)
    seconds_to_final: float = 0.0
    began: float = 0.0
    timeline: list[str] = field(default_factory=list)  # when each fault began and ended
    slowest: list[str] = field(default_factory=list)  # the results that took longest to be final
    restarted: list[str] = field(default_factory=list)  # processes that exited by themselves, restarted

    @property
    def results_lost(self) -> int:
        return len(self.not_final) + len(self.output_lost) + len(self.ran_but_not_run) + len(self.unexplained)

    def summary(self) -> str:
        return (
            f"seed {self.seed}: {self.invocations} invocations, {self.results} results, faults injected "
            f"{len(self.faults)} ({', '.join(self.faults)}), submit errors {self.submit_errors}, "
            f"statuses {dict(sorted(self.by_status.items()))}, results lost {self.results_lost}, "
            f"duplicate runs {len(self.duplicate_runs)}, chunk gaps {len(self.chunk_gaps)}, "
            f"settled {self.seconds_to_final:.1f} s after the last fault, restarted by the supervisor "
            f"{self.restarted or 'nothing'}"
        )

    def problems(self) -> dict[str, list[str]]:
        return {
            name: value[:10]
            for name, value in (
                ("not final", self.not_final), ("duplicate runs", self.duplicate_runs),
                ("chunk gaps", self.chunk_gaps), ("output lost", self.output_lost),
                ("ran but reported not run", self.ran_but_not_run), ("unexplained status", self.unexplained),
            )
            if value
        }  # fmt: skip


LINES = 6  # output lines per task, one chunk each (the script sleeps between them)


def task_script(runs_file: Path, lines: int = LINES) -> str:
    return (
        f'echo "$0" >> {runs_file}\n'
        f'i=0\nwhile [ $i -lt {lines} ]; do i=$((i+1)); echo "line $i"; sleep 0.1; done\n'
    )


def expected_output(lines: int = LINES) -> bytes:
    return b"".join(f"line {i}\n".encode() for i in range(1, lines + 1))


class Stack:
    """The production stack of one scenario; each process can be killed and started again."""

    def __init__(self, workdir: Path, agents: int) -> None:
        self.workdir = workdir
        self.postgres = PrivatePostgres()
        self.redis = PrivateRedis(workdir)
        self.procs: Processes | None = None
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.agent_count = agents
        self.agents: dict[str, subprocess.Popen] = {}
        self.instance_of: dict[str, str] = {}
        self.starts: collections.Counter[str] = collections.Counter()
        self.boot_ids: dict[str, str] = {}
        self.runs_file = workdir / "runs.log"
        self.proxy: TcpProxy | None = None
        # What a process manager does in production (docs/deployment.md: Restart=always): a worker that
        # exits by itself is started again. A Celery worker can exit on a lost broker connection (kombu's
        # "Unrecoverable error" while Redis restarts). Processes a fault holds down are left alone.
        self.held_down: set[str] = set()
        self.restarted: list[str] = []
        self.supervising = threading.Event()
        self.process_lock = threading.Lock()

    def start(self) -> None:
        import psycopg

        self.postgres.start()
        self.redis.start()
        with psycopg.connect(self.postgres.admin_url, autocommit=True) as conn:
            conn.execute('CREATE DATABASE "assist"')
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.postgres.url("assist"),
                "REDIS_URL": self.redis.url,
                "ASSIST_DATA_DIR": str(self.workdir / "data"),
                "ASSIST_DELIVERY_TIMEOUT": "60",
                "ASSIST_TICK_SECONDS": "0.5",
                "ASSIST_HEARTBEAT_INTERVAL": "2",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.procs = Processes(self.workdir, env)
        self.procs.manage("migrate", "--verbosity", "0")
        self.web_port = free_port()
        self.start_web()
        self.start_worker()
        self.procs.spawn(
            "beat",
            [sys.executable, "-m", "celery", "-A", "console", "beat", "-l", "info", "-s",
             str(self.workdir / "beat")],
        )  # fmt: skip
        self.proxy = TcpProxy(self.web_port)
        self.supervising.set()
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()
        self.console = Console(self.procs, f"http://127.0.0.1:{self.web_port}")
        self.key = self.console.bootstrap()
        activation = self.console.create_activation(count=self.agent_count)
        through_proxy = Console(self.procs, f"http://127.0.0.1:{self.proxy.port}")
        for n in range(self.agent_count):
            name = f"agent-{n}"
            self.instance_of[name] = through_proxy.register_agent(name, activation)
            self.start_agent(name)

    def _supervise(self) -> None:
        while self.supervising.is_set():
            time.sleep(0.5)
            with self.process_lock:
                if not self.supervising.is_set() or "worker" in self.held_down:
                    continue
                if self.worker is not None and self.worker.poll() is not None:
                    self.restarted.append(f"worker (exit {self.worker.returncode})")
                    self.start_worker()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        assert self.procs is not None
        self.starts[name] += 1
        return self.procs.spawn(f"{name}-{self.starts[name]}", argv)

    def start_web(self) -> None:
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.web_port),
                "console.asgi:application"]  # fmt: skip
        self.web = self._spawn("daphne", argv)
        wait_for_port(self.web_port, timeout=90, proc=self.web)

    def start_worker(self) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "console", "worker", "-l", "info", "-c", "2"]
        self.worker = self._spawn("worker", argv)

    def start_agent(self, name: str, boot_id: str = "") -> None:
        state = self.workdir / "agents" / name
        argv = [sys.executable, "-m", "assist_agent", "run", "--state-dir", str(state),
                "--reconnect-initial", "0.3", "--reconnect-max", "2"]  # fmt: skip
        assert self.procs is not None
        self.starts[name] += 1
        # A machine's boot id, as the agent reads it; a new one stands in for a reboot and stays until
        # the next (an agent restart alone keeps it).
        if boot_id:
            self.boot_ids[name] = boot_id
        env = {"ASSIST_AGENT_BOOT_ID": self.boot_ids[name]} if name in self.boot_ids else None
        self.agents[name] = self.procs.spawn(f"{name}-{self.starts[name]}", argv, env=env)

    def power_cut(self, name: str) -> None:
        """Everything of the agent dies at once, its running scripts too (they run in process groups of
        their own, which an agent kill alone leaves alive)."""
        self.sigkill(self.agents[name])
        spool = str(self.workdir / "agents" / name / "spool") + "/"
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if proc.name.isdigit() and spool.encode() in cmdline:
                with contextlib.suppress(OSError):
                    os.kill(int(proc.name), signal.SIGKILL)

    @staticmethod
    def sigkill(proc: subprocess.Popen | None) -> None:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        with self.process_lock:
            self.supervising.clear()
        if self.proxy is not None:
            self.proxy.close()
        if self.procs is not None:
            self.procs.stop_all()
        self.redis.stop()
        self.postgres.stop()

    def logs(self) -> str:
        return self.procs.dump_logs() if self.procs is not None else ""

    # -- the database, read directly ---------------------------------------------------------------

    def query(self, sql: str, *params: object) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.postgres.url("assist"), connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()


def inject(stack: Stack, fault: str, rng: random.Random) -> None:
    """One fault, and the repair that follows it (a restart, the network back)."""
    hold = rng.uniform(1.0, 3.0)
    if fault == "web":
        stack.sigkill(stack.web)
        time.sleep(hold)
        stack.start_web()
    elif fault == "worker":
        with stack.process_lock:
            stack.held_down.add("worker")
            stack.sigkill(stack.worker)
        time.sleep(hold)
        with stack.process_lock:
            stack.start_worker()
            stack.held_down.discard("worker")
    elif fault == "redis":
        stack.redis.kill()
        time.sleep(hold)
        stack.redis.start()
    elif fault == "postgres":
        stack.postgres.crash()
        time.sleep(hold)
        stack.postgres.start()
    elif fault == "agent":
        # Mid-command: wait (briefly) until the agent has a task running, i.e. a script of its own alive.
        name = rng.choice(sorted(stack.agents))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _running_script(stack.workdir / "agents" / name):
            time.sleep(0.02)
        stack.sigkill(stack.agents[name])
        time.sleep(hold)
        stack.start_agent(name)
    elif fault == "reboot":
        # The machine reboots mid-command: agent and scripts die, the agent starts on a new boot id.
        name = rng.choice(sorted(stack.agents))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _running_script(stack.workdir / "agents" / name):
            time.sleep(0.02)
        stack.power_cut(name)
        time.sleep(hold)
        stack.start_agent(name, boot_id=f"reboot-{rng.randrange(1 << 32):08x}")
    elif fault == "network":
        assert stack.proxy is not None
        stack.proxy.cut()
        time.sleep(2 * 2 + hold)  # longer than the heartbeat (ASSIST_HEARTBEAT_INTERVAL=2)
        stack.proxy.restore()
    else:
        raise ValueError(f"unknown fault {fault!r}")


def _running_script(state_dir: Path) -> bool:
    """Whether the agent has a task with its script written (a reused spool dir holds a blanked one until
    then)."""
    store = Store(state_dir)
    for task_id in store.spooled_ids():
        with contextlib.suppress(OSError):
            if (store.spool(task_id) / "script.sh").read_bytes().strip():
                return True
    return False


def run_scenario(
    workdir: Path,
    *,
    seed: int,
    invocations: int,
    faults: list[str],
    agents: int = 3,
    settle_timeout: float = 120.0,
) -> Figures:
    """Start the stack, run ``invocations`` RunCommands on all agents while ``faults`` happen (in a seeded
    order, at seeded moments), then check the invariants. Raises with the logs if the stack cannot start."""
    from alibabacloud_ecs20140526 import models

    from tests.live import sdk_client

    rng = random.Random(seed)
    figures = Figures(seed=seed)
    stack = Stack(workdir, agents)
    try:
        try:
            stack.start()
        except Exception as error:
            raise RuntimeError(f"the stack did not start: {error}\n{stack.logs()}") from error
        client = sdk_client(stack.console, stack.key)
        client._read_timeout = 10000
        client._connect_timeout = 3000
        ids = sorted(stack.instance_of.values())
        connected = "SELECT id FROM fleet_instance WHERE last_heartbeat_at IS NOT NULL"
        wait_until(
            lambda: len(stack.query(connected)) >= agents, timeout=60, message="every agent to connect"
        )

        began = figures.began = time.time()
        schedule = list(faults)
        rng.shuffle(schedule)
        done_faults = threading.Event()

        def fault_thread() -> None:
            try:
                for fault in schedule:
                    time.sleep(rng.uniform(0.5, 2.5))
                    figures.timeline.append(f"{time.time() - began:6.1f} {fault} begins")
                    inject(stack, fault, rng)
                    figures.timeline.append(f"{time.time() - began:6.1f} {fault} repaired")
                    figures.faults.append(fault)
            finally:
                done_faults.set()

        injector = threading.Thread(target=fault_thread, name="faults", daemon=True)
        injector.start()
        script = task_script(stack.runs_file)
        submitted = 0
        while submitted < invocations or not done_faults.is_set():
            request = models.RunCommandRequest(
                region_id="local", type="RunShellScript", command_content=script, instance_id=ids, timeout=60
            )
            try:
                client.run_command(request)
                submitted += 1
            except Exception:  # the console is down for a moment (a fault): try again shortly
                figures.submit_errors += 1
                time.sleep(0.5)
                continue
            time.sleep(rng.uniform(0.1, 0.4))
        injector.join()
        last_fault_at = time.monotonic()

        def settled() -> bool:
            # Final is not enough: Aborted (DeliveryTimeout) is final yet changes to the real outcome when
            # a late report of the agent gets through. Settled: every result final and every agent's spool
            # empty (the console acknowledged every result, so nothing is still on its way).
            try:
                rows = stack.query("SELECT status FROM invocations_invocationresult")
            except Exception:  # noqa: BLE001 - PostgreSQL may still be recovering
                return False
            if not rows or any(status not in FINAL for (status,) in rows):
                return False
            return not any(Store(stack.workdir / "agents" / name).spooled_ids() for name in stack.agents)

        try:
            wait_until(settled, timeout=settle_timeout, interval=1.0, message="every result to be settled")
        except AssertionError:
            pass  # reported below: not final, or ran but reported not run
        figures.seconds_to_final = time.monotonic() - last_fault_at
        time.sleep(1.5)  # let the last scripts' runs-file lines and the agents' acks land
        figures.restarted = list(stack.restarted)
        check(stack, figures)
        return figures
    finally:
        stack.stop()


def check(stack: Stack, figures: Figures) -> None:
    """The invariants of docs/reliability.md, over the database, the runs file and the agents' journals."""
    results = stack.query(
        "SELECT id, instance_id, status, error_code FROM invocations_invocationresult ORDER BY id"
    )
    for result_id, status, created, finished in stack.query(
        "SELECT id, status, extract(epoch from created_at), extract(epoch from finished_at)"
        " FROM invocations_invocationresult ORDER BY finished_at - created_at DESC NULLS FIRST LIMIT 5"
    ):
        figures.slowest.append(
            f"{result_id} {status} created {float(created) - figures.began:6.1f} "
            f"final {float(finished or 0) - figures.began:6.1f}"
        )
    figures.invocations = stack.query("SELECT count(*) FROM invocations_invocation")[0][0]
    figures.results = len(results)
    figures.by_status = dict(collections.Counter(status for _, _, status, _ in results))
    chunks: dict[str, list[int]] = collections.defaultdict(list)
    output: dict[str, bytes] = collections.defaultdict(bytes)
    for result_id, seq, data in stack.query(
        "SELECT result_id, seq, data FROM invocations_outputchunk ORDER BY result_id, seq"
    ):
        chunks[result_id].append(seq)
        output[result_id] += bytes(data)

    runs: collections.Counter[str] = collections.Counter()
    if stack.runs_file.exists():
        for line in stack.runs_file.read_text().splitlines():
            parts = Path(line.strip()).parts
            if len(parts) >= 2 and parts[-1] == "script.sh":
                runs[parts[-2]] += 1
    journaled: dict[str, set[str]] = {}
    for name, instance_id in stack.instance_of.items():
        journaled[instance_id] = Store(stack.workdir / "agents" / name).journaled_ids()

    agent_killed = "agent" in figures.faults or "reboot" in figures.faults
    for result_id, instance_id, status, error_code in results:
        seqs = chunks.get(result_id, [])
        ran = runs.get(result_id, 0)
        if status not in FINAL:
            figures.not_final.append(f"{result_id} {status}")
        if ran > 1:
            figures.duplicate_runs.append(f"{result_id} ran {ran} times")
        if seqs != list(range(1, len(seqs) + 1)):
            figures.chunk_gaps.append(f"{result_id} seqs {seqs}")
        if ran and result_id not in journaled.get(instance_id, set()):
            figures.unexplained.append(f"{result_id} ran but is not in {instance_id}'s journal")
        if status == "Success" and (ran != 1 or output.get(result_id, b"") != expected_output()):
            figures.output_lost.append(f"{result_id} ran {ran}x, output {output.get(result_id, b'')[:80]!r}")
        elif status == "Aborted" and ran:
            figures.ran_but_not_run.append(f"{result_id} Aborted/{error_code} but its script ran")
        elif status == "Error" and not (agent_killed and error_code == "ExecutionInterrupted"):
            figures.unexplained.append(f"{result_id} Error/{error_code}")
        elif status not in ("Success", "Aborted", "Error") and status in FINAL:
            figures.unexplained.append(f"{result_id} {status}/{error_code}")
