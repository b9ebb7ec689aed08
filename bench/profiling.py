"""Sample a benchmark's server process with py-spy while one phase runs, and print where its time went.

    with profiled(node.pid, "/tmp/prof", "fanout-3000"):
        ...  # the phase

writes ``/tmp/prof-fanout-3000.txt`` (py-spy's collapsed stacks: ``frame;frame;... count`` per line) and
prints the functions with the most samples, by their own time and with their callees. py-spy is a bench
tool, not a dependency: ``pip install py-spy`` (it needs ptrace, so root or CAP_SYS_PTRACE); without it
the phase runs unprofiled with a note.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

TOP = 15


@contextmanager
def profiled(pid: int, prefix: str | None, phase: str):
    if not prefix:
        yield
        return
    beside = Path(sys.executable).with_name("py-spy")  # in the virtual environment, maybe not on PATH
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        print(f"[profile] py-spy not found: {phase} not profiled (pip install py-spy)", flush=True)
        yield
        return
    out = Path(f"{prefix}-{phase}.txt")
    sampler = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "50",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        sampler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            sampler.wait(timeout=60)
        except subprocess.TimeoutExpired:
            sampler.kill()
        if out.exists():
            print(summary(out, phase), flush=True)


def summary(path: Path, phase: str) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short(frame) for frame in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return f"[profile] {phase}: no samples"
    lines = [f"[profile] {phase}: {total} samples ({path})", "  own time:"]
    lines += [f"    {100 * n / total:5.1f} %  {frame}" for frame, n in own.most_common(TOP)]
    lines.append("  with callees:")
    lines += [f"    {100 * n / total:5.1f} %  {frame}" for frame, n in inclusive.most_common(TOP)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``function (path/to/module.py:123)`` -> ``function (module.py)``: samples of one function add up."""
    name, _, where = frame.partition(" (")
    module = where.rstrip(")").rsplit("/", 1)[-1].split(":", 1)[0]
    return f"{name} ({module})" if module else name


# Which program a process belongs to, by its command line (first match wins).
PROGRAMS = (
    ("daphne", "daphne node"),
    ("celery", "celery"),
    ("assist_agent", "agents (with their commands)"),
    ("assist-agent", "agents (with their commands)"),
    ("postgres", "postgresql"),
    ("redis-server", "redis"),
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> tuple[float, float, float]:
    """(user, system, its reaped children's user + system) CPU seconds of a process, from /proc."""
    # after the ")": state is field 0, utime 11, stime 12, cutime 13, cstime 14
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    user, system, children = int(fields[11]), int(fields[12]), int(fields[13]) + int(fields[14])
    return user / CLOCK_TICKS, system / CLOCK_TICKS, children / CLOCK_TICKS


def _cpu_by_program() -> Counter[str]:
    """CPU seconds per program, reaped children included (a command that ended counts for its agent)."""
    seconds: Counter[str] = Counter()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cpu = process_cpu(int(proc.name))
        except OSError:
            continue  # ended meanwhile
        if int(proc.name) == os.getpid():
            program = "this benchmark (its browser)"
        else:
            program = next((name for key, name in PROGRAMS if key in command), "other")
        seconds[program] += sum(cpu)
    return seconds


@contextmanager
def cpu_spent(phase: str):
    """Print the CPU seconds each program used during the phase (Linux /proc; elsewhere nothing)."""
    if not Path("/proc/self/stat").exists():
        yield
        return
    before, started = _cpu_by_program(), time.perf_counter()
    try:
        yield
    finally:
        spent = _cpu_by_program()
        spent.subtract(before)
        wall = time.perf_counter() - started
        parts = ", ".join(f"{name} {value:.2f}" for name, value in spent.most_common() if value >= 0.01)
        print(f"[cpu] {phase}: {sum(spent.values()):.2f} s of CPU in {wall:.2f} s: {parts}", flush=True)
