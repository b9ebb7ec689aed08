"""Agent throughput: real `assist-agent` processes against a minimal console of this script's own (the agent
protocol over a real websocket, nothing stored), `echo hi` tasks, each acknowledged as soon as its result
arrives. What a task costs the agent itself, without the console's share of benchmark 1.

    python bench/agent_throughput.py [--agents 1] [--rounds 10] [--batch 50] [--state-dir-base DIR]

Each round sends every agent ``--batch`` tasks at once and waits for all their results. One agent with a
batch of 50 is a burst on one machine; ``--agents 200 --rounds 10 --batch 1`` is benchmark 1's fan-out of
200 with the console taken away. Prints the wall time per round and the agents' CPU per task (user,
system; their shells' CPU is counted once the agent has reaped them). ``--state-dir-base /dev/shm`` puts
the agents' state dirs on tmpfs, to see what the file system costs.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "agent"))

from assist_agent import protocol  # noqa: E402
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402

from bench.profiling import process_cpu  # noqa: E402

WARM_UP_ROUNDS = 3


class MiniConsole:
    """Welcomes every agent and acknowledges every result; counts results per round."""

    def __init__(self) -> None:
        self.connections: dict[str, ServerConnection] = {}
        self.results: asyncio.Queue[protocol.TaskResult] = asyncio.Queue()

    async def handle(self, ws: ServerConnection) -> None:
        hello = protocol.decode(await ws.recv(), sender="agent")
        assert isinstance(hello, protocol.Hello)
        welcome = protocol.Welcome(hello.instance_id, 600.0, protocol=protocol.PROTOCOL_VERSION)
        await ws.send(protocol.encode(welcome))
        self.connections[hello.instance_id] = ws
        async for message in ws:
            if isinstance(message, bytes):
                frame = protocol.decode_binary(message, sender="agent")
            else:
                frame = protocol.decode(message, sender="agent")
            if isinstance(frame, protocol.TaskResult):
                await ws.send(protocol.encode(protocol.TaskAck(task_id=frame.task_id)))
                await self.results.put(frame)


def start_agents(count: int, port: int, base: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    for index in range(count):
        state = base / f"agent-{index:04d}"
        state.mkdir(parents=True)
        identity = {
            "InstanceId": f"mi-bench{index:05d}",
            "InstanceSecret": "bench",
            "RegionId": "local",
            "Server": f"http://127.0.0.1:{port}",
        }
        (state / "identity.json").write_text(json.dumps(identity))
        with open(base / f"agent-{index:04d}.log", "wb") as log:
            argv = [sys.executable, "-m", "assist_agent.cli", "run", "--state-dir", str(state)]
            procs.append(subprocess.Popen(argv, stdout=log, stderr=log, env=env))
    return procs


async def run_round(console: MiniConsole, round_no: int, batch: int) -> float:
    started = time.monotonic()
    sends = []
    for instance_id, ws in console.connections.items():
        for k in range(batch):
            run = protocol.TaskRun(f"t-{round_no}-{k}-{instance_id}", "RunShellScript", "echo hi", "", "", 30)
            sends.append(ws.send(protocol.encode(run)))
    await asyncio.gather(*sends)
    for _ in range(len(console.connections) * batch):
        result = await asyncio.wait_for(console.results.get(), 60)
        if result.status != protocol.STATUS_SUCCESS:
            raise SystemExit(f"task {result.task_id} ended {result.status}: {result.error_info}")
    return time.monotonic() - started


async def bench(args: argparse.Namespace, base: Path) -> None:
    console = MiniConsole()
    server = await serve(console.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    procs = start_agents(args.agents, port, base)
    try:
        deadline = time.monotonic() + 60 + args.agents * 0.2
        while len(console.connections) < args.agents:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(console.connections)} of {args.agents} agents connected")
            await asyncio.sleep(0.1)
        for round_no in range(WARM_UP_ROUNDS):
            await run_round(console, -1 - round_no, args.batch)
        await asyncio.sleep(1)
        before = [process_cpu(p.pid) for p in procs]
        walls = []
        for round_no in range(args.rounds):
            walls.append(await run_round(console, round_no, args.batch))
        await asyncio.sleep(0.5)  # the last acks and reaps
        after = [process_cpu(p.pid) for p in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
        server.close()
    tasks = args.agents * args.rounds * args.batch
    user, system, children = (
        1000 * sum(a[k] - b[k] for a, b in zip(after, before, strict=True)) / tasks for k in range(3)
    )
    print(
        f"{args.agents} agent(s), {args.rounds} rounds of {args.batch} task(s) each, state on {base}: "
        f"round median {1000 * statistics.median(walls):.1f} ms (min {1000 * min(walls):.1f}), "
        f"{1000 * sum(walls) / tasks:.2f} ms of wall per task; agent CPU per task {user + system:.2f} ms "
        f"(user {user:.2f}, system {system:.2f}), its shells {children:.2f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument(
        "--state-dir-base", default=None, help="where the agents' state dirs go (default: TMPDIR)"
    )
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="assist-agent-throughput-", dir=args.state_dir_base))
    try:
        asyncio.run(bench(args, base))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
