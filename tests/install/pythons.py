"""Older Pythons to run the agent with, where the machine has them (the agent supports 3.8 and newer)."""

import glob
import os
import shutil
import subprocess


def python(minor: int) -> str | None:
    """A Python 3.<minor> to test with: ASSIST_TEST_PYTHON3<minor>, python3.<minor> on PATH, or pyenv's.
    CI has 3.11 only (the agent's sources are checked against 3.8 there, agent/tests/test_agent_py38.py);
    where an older Python is at hand the agent is run with it for real."""
    found = [os.environ.get(f"ASSIST_TEST_PYTHON3{minor}", "")]
    found += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3.{minor}")))
    found.append(shutil.which(f"python3.{minor}") or "")
    for path in filter(None, found):
        try:  # a pyenv shim for a version not selected fails: only one that runs and is 3.<minor> counts
            done = subprocess.run(
                [path, "-c", "import sys; print(sys.version_info[1])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == str(minor):
            return path
    return None


PYTHON_3_8 = python(8)
