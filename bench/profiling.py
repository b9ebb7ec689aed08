"""Sample a benchmark's server process with py-spy while one phase runs, and print where its time went.

    with profiled(node.pid, "/tmp/prof", "fanout-3000"):
        ...  # the phase

writes ``/tmp/prof-fanout-3000.txt`` (py-spy's collapsed stacks: ``frame;frame;... count`` per line) and
prints the functions with the most samples, by their own time and with their callees. py-spy is a bench
tool, not a dependency: ``pip install py-spy`` (it needs ptrace, so root or CAP_SYS_PTRACE); without it
the phase runs unprofiled with a note.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
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
