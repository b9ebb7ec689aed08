"""Terminal flood: `yes | head -c <N>M` through a real console and agent to a websocket client that
acknowledges what it reads (as the browser does once xterm.js has rendered it). Prints the throughput,
the peak RSS of the console and the agent against their idle RSS, and how fast an interrupt typed during
an endless `yes` comes back.

    python bench/terminal_flood.py [--megabytes 50] [--slow-client-ms 0]

``--slow-client-ms`` delays every acknowledgement, as a slow browser would: the producer slows down, and
memory stays flat.
"""

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets  # noqa: E402
from alibabacloud_ecs20140526 import models  # noqa: E402

from tests.live import embedded_console, sdk_client, wait_until  # noqa: E402


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def online(client, instance_id) -> bool:
    rows = client.describe_managed_instances(
        models.DescribeManagedInstancesRequest(region_id="local", instance_id=[instance_id])
    ).body.instances
    return bool(rows) and rows[0].connected


async def flood(url: str, megabytes: int, slow_ms: float, pids: dict[str, int]) -> dict:
    peak = {name: rss_kb(pid) for name, pid in pids.items()}
    idle = dict(peak)
    async with websockets.connect(url, max_size=None) as ws:
        seen = 0

        async def read_until(needle: bytes, tail: bytes = b"") -> bytes:
            nonlocal seen
            buffer = tail
            while needle not in buffer:
                message = await asyncio.wait_for(ws.recv(), 120)
                if isinstance(message, str):
                    if json.loads(message)["type"] == "opened":
                        continue
                    raise RuntimeError(f"session ended: {message}")
                seen += len(message)
                buffer = (buffer + message)[-4096:]
                if slow_ms:
                    await asyncio.sleep(slow_ms / 1000)
                await ws.send(json.dumps({"type": "ack", "bytes": seen}))
                for name, pid in pids.items():
                    peak[name] = max(peak[name], rss_kb(pid))
            return buffer

        await read_until(b"$ ")
        start_bytes, started = seen, time.monotonic()
        await ws.send(f"yes | head -c {megabytes}M; echo flood-$((40+2))\r".encode())
        await read_until(b"flood-42")
        elapsed = time.monotonic() - started
        flooded = seen - start_bytes
        await ws.send(b"yes\r")
        await read_until(b"y\r\ny\r\n")
        sent = time.monotonic()
        await ws.send(b"\x03")
        await ws.send(b"echo back-$((2+3))\r")
        await read_until(b"back-5")
        interrupt = time.monotonic() - sent
    return {"bytes": flooded, "seconds": elapsed, "interrupt": interrupt, "idle": idle, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--slow-client-ms", type=float, default=0.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="assist-terminal-flood-"))
    extra = {"ASSIST_TERMINAL_RECORDING_MAX_BYTES": str(8 << 20)}
    procs, console = embedded_console(workdir, extra_env=extra)
    try:
        key = console.bootstrap()
        (instance_id,) = console.add_agents(1)
        client = sdk_client(console, key)
        wait_until(lambda: online(client, instance_id), timeout=30, message="the agent")
        body = client.start_terminal_session(
            models.StartTerminalSessionRequest(region_id="local", instance_id=[instance_id])
        ).body
        url = console.url.replace("http://", "ws://") + body.web_socket_url
        pids = {"console": procs.children[0].pid, "agent": console.agents["host-000"].pid}
        result = asyncio.run(flood(url, args.megabytes, args.slow_client_ms, pids))
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    mb = result["bytes"] / 1e6
    print(f"flood: yes | head -c {args.megabytes}M = {mb:.1f} MB on the wire (the PTY turns \\n into \\r\\n)")
    rate = mb / result["seconds"]
    print(f"  {result['seconds']:.1f} s, {rate:.1f} MB/s, client ack delay {args.slow_client_ms} ms")
    for name in ("console", "agent"):
        idle, peak = result["idle"][name], result["peak"][name]
        grew = (peak - idle) / 1024
        print(f"  {name} RSS: idle {idle / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB (+{grew:.1f})")
    print(f"  Ctrl+C during an endless yes: prompt back after {result['interrupt'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
