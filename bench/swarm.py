"""Fleet simulator: thousands of SIMULATED agents in one asyncio process, over real websockets.

A test tool for measuring the console, not a way to run commands: a simulated agent never executes the
script it receives. It speaks the real agent protocol (``assist_agent.protocol`` frames through the
agent's own websocket client ``assist_agent.wsclient``): it registers with an activation code like
``assist-agent register``, says hello, sends heartbeats, and answers every ``task.run`` with a built-in
action that prints ``--output-bytes`` of filler text and reports ``Success`` (exit code 0). File
transfers and terminal sessions are refused, so nothing on this machine is ever touched.

    # register 1000 simulated instances once (identities are kept in a JSON file and reused)
    python bench/swarm.py register --console http://127.0.0.1:8000 --activation-id ID \\
        --activation-code CODE --count 1000 --identities /tmp/swarm.json
    # connect them and answer tasks until Ctrl-C
    python bench/swarm.py run --identities /tmp/swarm.json --count 1000 --output-bytes 100

``run`` writes its counters as JSON to ``--status-file`` every second (connected, welcomed, tasks,
results acknowledged, bytes sent), which is how bench/swarm_fanout.py knows when all are online.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import resource
import signal
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "agent"))

from assist_agent import __version__, protocol, wsclient  # noqa: E402
from assist_agent.runner import PING_INTERVAL, PING_TIMEOUT, ping_interval_after_welcome, ws_url  # noqa: E402

log = logging.getLogger("swarm")
FILLER = b"simulated agent output: this agent never runs scripts (bench/swarm.py)\n"
SIMULATED_OS_NAME = "Assist fleet simulator (bench/swarm.py)"


def filler(size: int) -> bytes:
    """``size`` bytes of the filler line repeated; the same bytes every time, so resends need no store."""
    whole, rest = divmod(size, len(FILLER))
    return FILLER * whole + FILLER[:rest]


@dataclass
class Counters:
    connected: int = 0  # websockets open right now
    welcomed: int = 0  # of those, past hello/welcome
    connect_errors: int = 0
    tasks: int = 0
    results_acked: int = 0
    resends: int = 0
    refused: int = 0  # file transfers and terminal sessions refused
    heartbeats: int = 0
    bytes_sent: int = 0


# --- registration ---------------------------------------------------------------------------------


def _register_one(console: str, activation_id: str, code: str, name: str) -> dict[str, str]:
    body = {
        "ActivationId": activation_id,
        "ActivationCode": code,
        "InstanceName": name,
        "Hostname": name,
        "OsType": "Linux",
        "OsName": SIMULATED_OS_NAME,
        "MachineId": "",
        "AgentVersion": __version__,
    }
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in register_many
        console.rstrip("/") + "/agent/register",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": f"assist-swarm/{__version__}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            registered = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        raise SystemExit(
            f"registration of {name} refused: HTTP {error.code}: {error.read()[:300]!r}"
        ) from None
    return {
        "InstanceId": registered["InstanceId"],
        "InstanceSecret": registered["InstanceSecret"],
        "Name": name,
    }


async def register_many(
    console: str, activation_id: str, code: str, count: int, identities: Path, concurrency: int = 16
) -> list[dict[str, str]]:
    """Register until ``identities`` holds ``count`` instances of ``console``; returns them."""
    if not console.startswith(("http://", "https://")):
        raise SystemExit(f"--console must be an http:// or https:// URL, not {console!r}")
    known: list[dict[str, str]] = []
    if identities.exists():
        saved = json.loads(identities.read_text())
        if saved.get("Console") == console:
            known = saved["Instances"]
    if len(known) >= count:
        return known[:count]
    gate = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()

    async def one(n: int) -> dict[str, str]:
        async with gate:
            return await loop.run_in_executor(
                None, _register_one, console, activation_id, code, f"swarm-{n:05d}"
            )

    started = time.perf_counter()
    known += await asyncio.gather(*(one(n) for n in range(len(known), count)))
    identities.write_text(json.dumps({"Console": console, "Instances": known}))
    log.info("%d instances registered in %.1f s", count, time.perf_counter() - started)
    return known


# --- one simulated agent --------------------------------------------------------------------------


class SimulatedAgent:
    """One simulated instance: hello, heartbeats, and the built-in answer to task.run."""

    def __init__(self, url: str, identity: dict[str, str], options: argparse.Namespace, counters: Counters):
        self.url = url
        self.identity = identity
        self.options = options
        self.counters = counters
        self.boot_id = os.urandom(8).hex()
        self.finished: dict[str, protocol.TaskResult] = {}  # unacknowledged results, resent on reconnect
        self.console_protocol = 0  # what the last welcome said (protocol.encode_for_console)

    async def run(self, connect_gate: asyncio.Semaphore) -> None:
        delays = protocol.backoff(1.0, 30.0)
        while True:
            ws: wsclient.Connection | None = None
            try:
                async with connect_gate:  # at most N handshakes and hellos in flight: a fleet boots gradually
                    ws = await wsclient.connect(
                        self.url,
                        open_timeout=60,
                        extra_headers={"User-Agent": f"assist-swarm/{__version__}"},
                        max_size=protocol.MAX_FRAME_BYTES,
                        ping_interval=PING_INTERVAL,
                        ping_timeout=PING_TIMEOUT,
                    )
                    self.counters.connected += 1
                    welcome = await self._hello(ws)
                if welcome is not None:
                    delays = protocol.backoff(1.0, 30.0)
                    await self._session(ws, welcome)
            except (OSError, wsclient.WebSocketError, *wsclient.TIMEOUT_ERRORS) as error:
                self.counters.connect_errors += 1
                log.debug("%s: %s", self.identity["InstanceId"], error)
            finally:
                if ws is not None:
                    self.counters.connected -= 1
                    await ws.close()
            await asyncio.sleep(next(delays))

    async def _hello(self, ws: wsclient.Connection) -> protocol.Welcome | None:
        name = self.identity.get("Name", self.identity["InstanceId"])
        hello = protocol.Hello(
            instance_id=self.identity["InstanceId"],
            secret=self.identity["InstanceSecret"],
            agent_version=__version__,
            os_type="Linux",
            os_name=SIMULATED_OS_NAME,
            hostname=name,
            ips=("192.0.2.1",),  # TEST-NET-1: clearly not a real address
            boot_id=self.boot_id,
            held_tasks=tuple(sorted(self.finished)),
        )
        await ws.send(protocol.encode(hello))
        first = protocol.decode(await asyncio.wait_for(ws.recv(), 120), sender="console")
        if not isinstance(first, protocol.Welcome):
            log.error("%s: the console answered hello with %s", hello.instance_id, first)
            return None
        return first

    async def _session(self, ws: wsclient.Connection, welcome: protocol.Welcome) -> None:
        self.counters.welcomed += 1
        self.console_protocol = welcome.protocol  # output goes as the agent sends it (binary from 4 on)
        interval = self.options.heartbeat_interval or welcome.heartbeat_interval
        ws.set_ping_interval(ping_interval_after_welcome(welcome.heartbeat_interval))  # as the agent does
        beat = asyncio.create_task(self._heartbeat(ws, interval))
        jobs: set[asyncio.Task[None]] = set()
        try:
            for result in list(self.finished.values()):
                await self._send(ws, result)
            while True:
                frame = protocol.decode(await ws.recv(), sender="console")
                if isinstance(frame, protocol.TaskRun):
                    job = asyncio.create_task(self._answer(ws, frame))
                    jobs.add(job)
                    job.add_done_callback(jobs.discard)
                elif isinstance(frame, protocol.TaskAck):
                    if self.finished.pop(frame.task_id, None) is not None:
                        self.counters.results_acked += 1
                elif isinstance(frame, protocol.TaskResend):
                    self.counters.resends += 1
                    await self._resend(ws, frame)
                elif isinstance(frame, protocol.FileSend):
                    self.counters.refused += 1
                    await self._send(ws, self._refuse_file(frame.task_id))
                elif isinstance(frame, protocol.SessionOpen):
                    self.counters.refused += 1
                    closed = protocol.SessionClosed(
                        session_id=frame.session_id, reason="Failed",
                        detail="a simulated agent (bench/swarm.py) opens no shells", exit_code=None,
                    )  # fmt: skip
                    await self._send(ws, closed)
        except wsclient.ConnectionClosed as error:
            log.debug("%s: %s", self.identity["InstanceId"], error)
        finally:
            self.counters.welcomed -= 1
            beat.cancel()
            for job in list(jobs):
                job.cancel()

    async def _send(self, ws: wsclient.Connection, frame: Any) -> None:
        text = protocol.encode_for_console(frame, self.console_protocol)
        self.counters.bytes_sent += len(text)
        await ws.send(text)

    async def _heartbeat(self, ws: wsclient.Connection, interval: float) -> None:
        await asyncio.sleep(random.uniform(0, interval))  # spread the fleet over the interval, as reboots do
        while True:
            await self._send(ws, protocol.Heartbeat())
            self.counters.heartbeats += 1
            await asyncio.sleep(interval)

    async def _answer(self, ws: wsclient.Connection, frame: protocol.TaskRun) -> None:
        """The built-in action: the script is ignored; print the filler, then report Success."""
        self.counters.tasks += 1
        started = time.time()
        chunker = protocol.Chunker(frame.task_id)
        for chunk in chunker.feed(filler(self.options.output_bytes)) + chunker.flush():
            await self._send(ws, chunk)
        result = protocol.TaskResult(
            task_id=frame.task_id, status=protocol.STATUS_SUCCESS, exit_code=0, error_code="", error_info="",
            started_at=started, finished_at=time.time(), last_seq=chunker.last_seq,
        )  # fmt: skip
        self.finished[frame.task_id] = result
        await self._send(ws, result)

    async def _resend(self, ws: wsclient.Connection, frame: protocol.TaskResend) -> None:
        result = self.finished.get(frame.task_id)
        if result is None:
            return
        chunks = {c.seq: c for c in self._chunks(frame.task_id)}
        for seq in frame.seqs:
            await self._send(
                ws, chunks.get(seq) or protocol.TaskOutput(task_id=frame.task_id, seq=seq, data=b"")
            )
        await self._send(ws, result)

    def _chunks(self, task_id: str) -> list[protocol.TaskOutput]:
        chunker = protocol.Chunker(task_id)
        return chunker.feed(filler(self.options.output_bytes)) + chunker.flush()

    @staticmethod
    def _refuse_file(task_id: str) -> protocol.FileResult:
        now = time.time()
        return protocol.FileResult(
            task_id=task_id, status="Failed", error_code="SimulatedAgent",
            error_info="a simulated agent (bench/swarm.py) writes no files", started_at=now, finished_at=now,
        )  # fmt: skip


# --- the swarm ------------------------------------------------------------------------------------


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < wanted:
            log.warning(
                "file descriptors limited to %d (hard limit): fewer agents than asked may connect", hard
            )


async def run_swarm(options: argparse.Namespace, stop: asyncio.Event) -> Counters:
    saved = json.loads(Path(options.identities).read_text())
    end = options.skip + options.count if options.count else None
    instances = saved["Instances"][options.skip : end]
    if len(instances) < (options.count or 0):
        raise SystemExit(f"{options.identities} holds {len(instances)} identities; register more first")
    raise_fd_limit(len(instances) + 256)
    url = ws_url(options.console or saved["Console"])
    counters = Counters()
    gate = asyncio.Semaphore(options.connect_concurrency)
    agents = [SimulatedAgent(url, identity, options, counters) for identity in instances]
    tasks = [asyncio.create_task(agent.run(gate)) for agent in agents]
    status = Path(options.status_file) if options.status_file else None
    started = time.monotonic()
    while not stop.is_set():
        snapshot = {
            **asdict(counters),
            "agents": len(agents),
            "seconds": round(time.monotonic() - started, 1),
        }
        if status is not None:
            status.with_suffix(".tmp").write_text(json.dumps(snapshot))
            status.with_suffix(".tmp").replace(status)
        if not options.quiet:
            print(json.dumps(snapshot), flush=True)
        try:
            await asyncio.wait_for(stop.wait(), options.status_every)
        except TimeoutError:
            pass
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return counters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register", help="register --count simulated instances with an activation code")
    reg.add_argument("--console", required=True, help="the console's URL, e.g. http://127.0.0.1:8000")
    reg.add_argument("--activation-id", required=True)
    reg.add_argument("--activation-code", required=True)
    reg.add_argument("--count", type=int, required=True)
    reg.add_argument("--identities", required=True, help="JSON file the identities are kept in (and reused)")
    reg.add_argument("--concurrency", type=int, default=16, help="registrations in flight at once")
    run = sub.add_parser("run", help="connect the registered instances and answer tasks until SIGINT/SIGTERM")
    run.add_argument("--identities", required=True)
    run.add_argument("--count", type=int, default=0, help="use the first N identities (default: all)")
    run.add_argument("--skip", type=int, default=0, help="start after the first N identities")
    run.add_argument("--console", default="", help="another node's URL than the one they registered with")
    run.add_argument("--output-bytes", type=int, default=3, help="bytes of output each task prints")
    run.add_argument(
        "--heartbeat-interval", type=float, default=0.0, help="seconds (default: what the welcome says)"
    )
    run.add_argument("--connect-concurrency", type=int, default=100, help="handshakes in flight at once")
    run.add_argument("--status-file", default="", help="counters as JSON, rewritten every --status-every s")
    run.add_argument("--status-every", type=float, default=1.0)
    run.add_argument("--quiet", action="store_true", help="no counters on stdout")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if min(options.count, getattr(options, "output_bytes", 0), getattr(options, "skip", 0)) < 0:
        parser.error("--count, --skip and --output-bytes must not be negative")

    if options.command == "register":
        asyncio.run(
            register_many(
                options.console, options.activation_id, options.activation_code, options.count,
                Path(options.identities), options.concurrency,
            )
        )  # fmt: skip
        return 0

    async def swarm() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        counters = await run_swarm(options, stop)
        log.info("stopped: %s", asdict(counters))

    asyncio.run(swarm())
    return 0


if __name__ == "__main__":
    sys.exit(main())
