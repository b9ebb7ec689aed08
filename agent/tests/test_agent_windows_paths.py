"""The executor's Windows paths, run on Linux: TaskOptions(os_type="Windows") makes the executor choose as on
Windows, and stand-ins for `powershell` and `cmd` first on PATH record the command line and the script
file they were given (its name and bytes). What Windows itself does with them is out of reach here; the
choice of program, arguments, file extension and encoding is what the agent owns, and is tested."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from assist_agent import protocol
from assist_agent.executor import TaskOptions, TaskProcess
from assist_agent.store import Store

RECORDER = """#!/bin/sh
# Stand-in for a Windows interpreter: record argv and a copy of the script (the last argument).
python3 - "$0" "$@" <<'EOF'
import json, os, sys
script = sys.argv[-1]
with open(os.environ["RECORD"], "w") as f:
    json.dump({"argv": [os.path.basename(sys.argv[1])] + sys.argv[2:], "name": os.path.basename(script),
               "data": open(script, "rb").read().hex()}, f)
EOF
echo ran
exit 7  # (Windows exit codes go past 255; Linux keeps the low byte, so 3010 cannot be faked here)
"""


@pytest.fixture
def windows_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("powershell", "cmd"):
        (bin_dir / name).write_text(RECORDER)
        (bin_dir / name).chmod(0o755)
    record = tmp_path / "record.json"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("RECORD", str(record))
    return record


def _run(tmp_path: Path, command_type: str, content: str) -> tuple[protocol.TaskResult, list[protocol.Frame]]:
    store = Store(tmp_path / "state")
    store.ensure()
    store.journal("t-win")
    sent: list[protocol.Frame] = []
    run = protocol.TaskRun("t-win", command_type, content, "", "", 20.0)
    process = TaskProcess(
        run, store=store, send=sent.append, boot_id="b", options=TaskOptions(os_type="Windows")
    )
    return asyncio.run(process.run()), sent


def test_powershell_runs_a_bom_utf8_ps1_file(tmp_path: Path, windows_tools: Path) -> None:
    result, sent = _run(tmp_path, "RunPowerShellScript", "Write-Output 'héllo'\nexit 3010\n")
    record = json.loads(windows_tools.read_text())
    assert record["argv"][:-1] == [
        "powershell",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-File",
    ]
    assert record["name"] == "script.ps1"
    assert bytes.fromhex(record["data"]) == b"\xef\xbb\xbf" + "Write-Output 'héllo'\r\nexit 3010\r\n".encode()
    assert (result.status, result.exit_code, result.error_code) == ("Failed", 7, "ExitCodeNonzero")
    assert b"".join(f.data for f in sent if isinstance(f, protocol.TaskOutput)) == b"ran\n"


def test_cmd_runs_a_bat_file(tmp_path: Path, windows_tools: Path) -> None:
    result, _ = _run(tmp_path, "RunBatScript", "echo hi\nexit /b 0")
    record = json.loads(windows_tools.read_text())
    assert record["argv"][:-1] == ["cmd", "/c"]
    assert record["name"] == "script.bat"
    assert bytes.fromhex(record["data"]) == b"@echo off\r\necho hi\r\nexit /b 0"
    assert result.exit_code == 7


def test_a_shell_script_is_not_applicable_on_windows(tmp_path: Path, windows_tools: Path) -> None:
    result, _ = _run(tmp_path, "RunShellScript", "echo hi")
    assert (result.status, result.error_code, result.started_at) == ("Error", "CommandNotApplicable", None)
    assert not windows_tools.exists()


def test_a_container_is_not_applicable_on_windows(tmp_path: Path) -> None:
    store = Store(tmp_path / "state")
    store.ensure()
    run = protocol.TaskRun("t-wc", "RunShellScript", "echo", "", "", 20.0, container_name="web")
    process = TaskProcess(
        run, store=store, send=lambda f: None, boot_id="b", options=TaskOptions(os_type="Windows")
    )
    result = asyncio.run(process.run())
    assert (result.status, result.error_code) == ("Error", "CommandNotApplicable")
    assert "containers are Linux only" in result.error_info
