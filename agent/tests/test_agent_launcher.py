"""Launcher: the pure rules (parse, file name, substitution, shell argv) and a real agent process running
scripts through a launcher with the fake console."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from agent_testkit import AgentProcess, FakeConsole
from assist_agent import launcher as launchers
from assist_agent import protocol
from assist_agent.protocol import TaskRun
from test_agent_run_options import run_with

PY = "python3 -u {{ACS::ScriptFileName|Ext(.py)}}"


@pytest.mark.parametrize(
    ("text", "extension", "has_placeholder"),
    [
        (PY, ".py", True),
        ("  bash -eu {{ACS::ScriptFileName}}  ", "", True),
        ("{{ ACS::ScriptFileName | Ext( .R ) }}", ".R", True),
        ("{{acs::scriptfilename|ext(.rb)}}", ".rb", True),
        ("perl -w", "", False),
        ("cat {{ACS::ScriptFileName|Ext(.txt)}} {{ACS::ScriptFileName|Ext(.txt)}}", ".txt", True),
        ("echo {{ not a placeholder }} && sh", "", False),
        ("x" * 1024, "", False),
    ],
)
def test_parse_accepts(text: str, extension: str, has_placeholder: bool) -> None:
    parsed = launchers.parse(text)
    assert parsed is not None
    assert (parsed.text, parsed.extension, parsed.has_placeholder) == (
        text.strip(),
        extension,
        has_placeholder,
    )


@pytest.mark.parametrize("text", ["", "   "])
def test_parse_empty_is_no_launcher(text: str) -> None:
    assert launchers.parse(text) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x" * 1025, "1025 bytes; at most 1024"),
        ("é" * 513, "1026 bytes; at most 1024"),  # bytes, not characters
        ("python3 {{ACS::ScriptFileName|Upper(.py)}}", "unknown function |Upper(...)"),
        ("python3 {{ACS::ScriptFileName|Ext(py)}}", "bad extension 'py'"),
        ("python3 {{ACS::ScriptFileName|Ext(.p/y)}}", "bad extension '.p/y'"),
        ("python3 {{ACS::ScriptFileName|Ext()}}", "bad extension ''"),
        ("python3 {{ACS::ScriptFileName|Ext(.py}}", "unknown placeholder"),
        ("python3 {{ACS::ScriptName}}", "unknown placeholder {{ACS::ScriptName}}"),
        ("sh {{ACS::InstanceId}}", "unknown placeholder"),
        ("a {{ACS::ScriptFileName|Ext(.py)}} {{ACS::ScriptFileName}}", "different extensions"),
        ("python3\n{{ACS::ScriptFileName}}", "one line"),
        ("python3\x00", "one line"),
    ],
)
def test_parse_refuses(text: str, message: str) -> None:
    with pytest.raises(launchers.LauncherError, match=re.escape(message)):
        launchers.parse(text)


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        (PY, "script.sh", "script.py"),
        ("sh {{ACS::ScriptFileName}}", "script.sh", "script.sh"),
        ("perl", "script.bat", "script.bat"),
    ],
)
def test_script_file_name(text: str, default: str, expected: str) -> None:
    assert launchers.script_file_name(default, launchers.parse(text)) == expected
    assert launchers.script_file_name(default, None) == default


@pytest.mark.parametrize(
    ("text", "path", "os_type", "expected"),
    [
        (PY, "/w/t-1/script.py", "Linux", "python3 -u /w/t-1/script.py"),
        (PY, "/w/my dir/script.py", "Linux", "python3 -u '/w/my dir/script.py'"),
        ("perl -w", "/w/script.sh", "Linux", "perl -w /w/script.sh"),  # no placeholder: appended
        ("cat {{ACS::ScriptFileName}} {{ ACS::ScriptFileName }}", "/a", "Linux", "cat /a /a"),
        ("python {{ACS::ScriptFileName|Ext(.py)}}", r"C:\w\script.py", "Windows", r'python "C:\w\script.py"'),
        ("node", r"C:\w x\script.bat", "Windows", r'node "C:\w x\script.bat"'),
    ],
)
def test_command_line(text: str, path: str, os_type: str, expected: str) -> None:
    parsed = launchers.parse(text)
    assert parsed is not None
    assert launchers.command_line(parsed, path, os_type) == expected


def test_shell_argv() -> None:
    assert launchers.shell_argv("python3 x.py", "Linux") == ["/bin/sh", "-c", "python3 x.py"]
    assert launchers.shell_argv('python "C:\\a b\\x.py"', "Windows") == [
        'cmd /d /s /c "python "C:\\a b\\x.py""'
    ]


@pytest.mark.parametrize(
    ("text", "os_type", "expected"),
    [
        (PY, "Linux", "python3"),
        ("'/opt/my py/python' {{ACS::ScriptFileName}}", "Linux", "/opt/my py/python"),
        ("{{ACS::ScriptFileName|Ext(.sh)}} arg", "Linux", "{{ACS::ScriptFileName|Ext(.sh)}}"),
        ("python 'unclosed", "Linux", ""),
        ('"C:\\Program Files\\node.exe" {{ACS::ScriptFileName}}', "Windows", "C:\\Program Files\\node.exe"),
        ("python {{ACS::ScriptFileName}}", "Windows", "python"),
    ],
)
def test_program(text: str, os_type: str, expected: str) -> None:
    parsed = launchers.parse(text)
    assert parsed is not None
    assert launchers.program(parsed, os_type) == expected


def test_frame_field_limit() -> None:
    base = {
        "type": "task.run",
        "task_id": "t-1",
        "command_type": "RunShellScript",
        "content": "",
        "working_dir": "",
        "username": "",
        "timeout": 5,
    }
    frame = protocol.decode(json.dumps({**base, "launcher": PY, "dry_run": True}), sender="console")
    assert isinstance(frame, TaskRun)
    assert (frame.launcher, frame.dry_run) == (PY, True)
    with pytest.raises(protocol.ProtocolError, match="at most 1024 bytes"):
        protocol.decode(json.dumps({**base, "launcher": "x" * 1025}), sender="console")
    # Defaults stay off the wire: an older agent gets the frame it knows.
    assert "launcher" not in protocol.encode(TaskRun("t-1", "RunShellScript", "", "", "", 5.0))


# --- with a real agent process ----------------------------------------------------------------------------


def _task(task_id: str, content: str, launcher: str, **fields: object) -> TaskRun:
    return TaskRun(
        task_id, "RunShellScript", content, str(fields.get("working_dir", "")), "", 10.0, launcher=launcher
    )


def test_the_agent_runs_the_script_through_the_launcher(tmp_path: Path) -> None:
    agent = AgentProcess(tmp_path / "state", tmp_path / "agent.log")
    work = tmp_path / "work dir"
    work.mkdir()
    python = sys.executable

    async def body(console: FakeConsole, _agent: AgentProcess) -> None:
        await console.send(
            _task(
                "t-py",
                "import os, sys; print(sys.version_info[0], os.path.basename(sys.argv[0]), os.getcwd())",
                f"{python} -u {{{{ACS::ScriptFileName|Ext(.py)}}}}",
                working_dir=str(work),
            )
        )
        output, result = await console.collect_task("t-py", timeout=15)
        assert (result.status, result.exit_code) == ("Success", 0)
        assert output.decode() == f"3 script.py {work}\n"

        # No placeholder: the path is the last argument. The launcher's exit code is the task's.
        await console.send(_task("t-cat", "echo from file; exit 3", "sh -c 'cat \"$0\"; exit 7'"))
        output, result = await console.collect_task("t-cat", timeout=15)
        assert output == b"echo from file; exit 3"
        assert (result.status, result.exit_code, result.error_code) == ("Failed", 7, "ExitCodeNonzero")

        # A launcher the console would refuse is refused by the agent too, before anything runs.
        await console.send(_task("t-bad", "echo no", "python3 {{ACS::ScriptFileName|Zip(.py)}}"))
        output, result = await console.collect_task("t-bad", timeout=15)
        assert (output, result.status, result.error_code) == (b"", "Failed", "InvalidLauncher")
        assert "unknown function |Zip" in result.error_info

    run_with(agent, body)  # type: ignore[arg-type]


def test_a_launcher_run_is_killed_on_timeout(tmp_path: Path) -> None:
    agent = AgentProcess(tmp_path / "state", tmp_path / "agent.log")
    marker = tmp_path / "late"

    async def body(console: FakeConsole, _agent: AgentProcess) -> None:
        frame = TaskRun(
            "t-slow",
            "RunShellScript",
            f"sleep 30; touch {marker}",
            "",
            "",
            1.0,
            launcher="sh {{ACS::ScriptFileName}}",
        )
        await console.send(frame)
        _output, result = await console.collect_task("t-slow", timeout=15)
        assert (result.status, result.error_code) == ("Timeout", "ExecutionTimeout")

    run_with(agent, body)  # type: ignore[arg-type]
    assert not marker.exists()
    assert os.path.isdir(tmp_path / "state")
