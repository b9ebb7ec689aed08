"""How ``assist-agent supervise`` (the service manager install.sh sets up where there is no systemd) treats
the exit codes of the agent it starts through the installed launcher: a self-update's switch (75) is started
again at once, and 2 (not registered, a usage error) and 193/194 (power off/reboot: the machine is going
down) are not started again, as the systemd unit's RestartPreventExitStatus does. The launcher here is a
stand-in that records each start and exits with the codes it is given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from assist_agent import update

AGENT = [sys.executable, "-m", "assist_agent"]


def supervise(tmp_path: Path, codes: list[int]) -> tuple[int, list[tuple[float, str]]]:
    """Run the supervisor with a launcher that exits with ``codes``, one per start (the last one repeats);
    return the supervisor's exit code and (time, argv) of each start."""
    state = tmp_path / "state"
    state.mkdir()
    identity = {
        "InstanceId": "mi-test",
        "InstanceSecret": "s",
        "RegionId": "r",
        "Server": "http://127.0.0.1:9",
    }
    (state / "identity.json").write_text(json.dumps(identity))
    starts, counter = tmp_path / "starts", tmp_path / "count"
    launcher = tmp_path / "assist-agent"
    launcher.write_text(
        "#!/bin/sh\n"
        f"n=$(cat '{counter}' 2>/dev/null || echo 0); echo $((n + 1)) >'{counter}'\n"
        f"printf '%s %s\\n' \"$(date +%s.%N)\" \"$*\" >>'{starts}'\n"
        f"set -- {' '.join(map(str, codes))}\n"
        'while [ "$n" -gt 0 ] && [ "$#" -gt 1 ]; do shift; n=$((n - 1)); done\n'
        'exit "$1"\n'
    )
    launcher.chmod(0o755)
    done = subprocess.run(
        [*AGENT, "--state-dir", str(state), "supervise"],
        env={**os.environ, "ASSIST_AGENT_LAUNCHER": str(launcher)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = [line.split(" ", 1) for line in starts.read_text().splitlines()] if starts.exists() else []
    return done.returncode, [(float(at), argv) for at, argv in rows]


def between(starts: list[tuple[float, str]]) -> list[float]:
    """Seconds from each start to the next."""
    return [starts[i + 1][0] - starts[i][0] for i in range(len(starts) - 1)]


@pytest.mark.parametrize("code", update.EXIT_NO_RESTART)
def test_not_started_again_after_a_power_action_or_a_usage_error(tmp_path: Path, code: int) -> None:
    returncode, starts = supervise(tmp_path, [code])
    assert returncode == code
    assert [argv.split()[0] for _, argv in starts] == ["run"]  # started once, through the launcher


def test_a_version_switch_is_started_again_at_once(tmp_path: Path) -> None:
    # Two switches (75), then a reboot (194) ends the run.
    returncode, starts = supervise(tmp_path, [update.EXIT_SWITCHED, update.EXIT_SWITCHED, 194])
    assert returncode == 194 and len(starts) == 3
    gaps = between(starts)
    assert all(gap < 0.9 for gap in gaps), gaps  # not the 1 s, 2 s back-off of a failed start


def test_a_failed_start_is_started_again_after_a_growing_delay(tmp_path: Path) -> None:
    started = time.monotonic()
    returncode, starts = supervise(tmp_path, [1, 1, 194])
    assert returncode == 194 and len(starts) == 3
    gaps = between(starts)
    assert 1.0 <= gaps[0] < gaps[1], gaps  # at least a second, then longer
    assert time.monotonic() - started >= 3.0
