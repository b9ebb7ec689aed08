"""Agent footprint: one real agent connected to an embedded console, idle for a while; prints its RSS and
CPU share (targets: RSS at most 20 MB, CPU under 1 %).

    python bench/agent_footprint.py [--seconds 60]
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.profiling import process_cpu  # noqa: E402
from tests.live import embedded_console  # noqa: E402


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="assist-footprint-"))
    # A short heartbeat interval makes the idle figure pessimistic (the default is 30 s).
    procs, console = embedded_console(workdir, extra_env={"ASSIST_HEARTBEAT_INTERVAL": "5"})
    try:
        console.bootstrap()
        [instance_id] = console.add_agents(1)
        agent = console.agents["host-000"]
        time.sleep(5)  # registered, connected, first heartbeat done
        cpu_before, started = sum(process_cpu(agent.pid)[:2]), time.monotonic()
        peak = 0
        while time.monotonic() - started < args.seconds:
            peak = max(peak, rss_kb(agent.pid))
            time.sleep(1)
        elapsed = time.monotonic() - started
        cpu = sum(process_cpu(agent.pid)[:2]) - cpu_before
        print(
            f"agent {instance_id} idle {elapsed:.0f} s: RSS {rss_kb(agent.pid) / 1024:.1f} MB "
            f"(peak {peak / 1024:.1f} MB), CPU {cpu:.2f} s = {100 * cpu / elapsed:.2f} %",
            flush=True,
        )
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
