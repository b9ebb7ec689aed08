"""Benchmark 1, side by side in one run: fan-out of `echo hi` to N real agent processes on this machine in
production mode (daphne + a Celery worker on Redis, PostgreSQL; bench/fanout.py's redis mode), and the
peer, Ansible, running `-m command -a "echo hi"` on N hosts through its local connection (default forks).

    python bench/fanout_vs_ansible.py [--sizes 10,50,200] [--repeats 3] [--forks 5]

Ansible is a benchmark-only tool: `pip install ansible-core` into the virtualenv (it is not a dependency of
Assist). Each size prints the Assist median and the Ansible time, and the ratio.
"""

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import fanout  # noqa: E402


def ansible_seconds(size: int, forks: int) -> float:
    ansible = Path(sys.executable).parent / "ansible"
    if not ansible.exists():
        raise SystemExit(f"{ansible} is missing: pip install ansible-core (benchmark only)")
    workdir = Path(tempfile.mkdtemp(prefix="assist-ansible-"))
    try:
        inventory = workdir / "hosts.ini"
        inventory.write_text(
            "[all]\n"
            + "".join(f"host-{n:03d} ansible_connection=local ansible_python_interpreter={sys.executable}\n"
                      for n in range(size))
        )  # fmt: skip
        env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp")}
        started = time.perf_counter()
        done = subprocess.run(
            [str(ansible), "all", "-i", str(inventory), "-c", "local", "-m", "command", "-a", "echo hi",
             "-f", str(forks), "-o"],
            env=env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        ok = done.stdout.count("| CHANGED |")
        if done.returncode != 0 or ok != size:
            raise RuntimeError(
                f"ansible: {ok}/{size} hosts ok, exit {done.returncode}: {done.stderr[-2000:]}"
            )
        return elapsed
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--forks", type=int, default=5, help="Ansible's forks (its default is 5)")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            fanout.bench_redis(size, args.repeats)
        line = captured.getvalue().strip()
        median_ms = float(line.split("median")[1].split("ms")[0])
        peer = ansible_seconds(size, args.forks)
        print(
            f"N={size:4d}  Assist (redis mode) {median_ms:7.0f} ms  |  Ansible -c local -f {args.forks} "
            f"{peer * 1000:8.0f} ms  |  Assist is {peer * 1000 / median_ms:5.0f} x faster",
            flush=True,
        )
        print(f"        {line}", flush=True)


if __name__ == "__main__":
    main()
