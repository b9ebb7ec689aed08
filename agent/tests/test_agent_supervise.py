"""``assist-agent supervise``: the agent's own service manager where there is no systemd."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

AGENT = [sys.executable, "-m", "assist_agent"]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def wait_for(predicate: object, timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    # A console nobody listens on: the agent keeps retrying (and never exits by itself).
    identity = {
        "InstanceId": "mi-test",
        "InstanceSecret": "s",
        "RegionId": "r",
        "Server": "http://127.0.0.1:9",
    }
    (state / "identity.json").write_text(json.dumps(identity))
    return state


@pytest.fixture
def supervisor(state_dir: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = open(tmp_path / "supervise.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*AGENT, "--state-dir", str(state_dir), "supervise", "--reconnect-max", "2"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()
    print((tmp_path / "supervise.log").read_text())


def test_restarts_the_agent_and_stops_with_it(supervisor: subprocess.Popen[bytes], tmp_path: Path) -> None:
    [first] = wait_for(lambda: children(supervisor.pid))  # type: ignore[misc]
    os.kill(first, signal.SIGKILL)
    [second] = wait_for(lambda: [c for c in children(supervisor.pid) if c != first])  # type: ignore[misc]
    assert second != first and alive(second)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=15) == 0
    wait_for(lambda: not alive(second), timeout=5)
    log = (tmp_path / "supervise.log").read_text()
    assert "the agent exited with code 137; starting it again" in log


def test_refuses_to_supervise_an_unregistered_agent(tmp_path: Path) -> None:
    done = subprocess.run(
        [*AGENT, "--state-dir", str(tmp_path / "empty"), "supervise"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "not registered" in done.stderr
