"""RepeatMode=DryRun on the agent: the checks one by one (real directories, users and PATH lookups), and a
real agent process that answers a dry run without running or journaling anything."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import sys
from pathlib import Path

import pytest
from agent_testkit import AgentProcess, FakeConsole
from assist_agent import dryrun, protocol
from assist_agent.executor import _user_context
from assist_agent.protocol import TaskAck, TaskResend, TaskRun
from assist_agent.store import Store
from test_agent_run_options import run_with

ME = pwd.getpwuid(os.geteuid()).pw_name
NOBODY_USER = "no-such-user-assist"


def _spec(**fields: object) -> TaskRun:
    values: dict[str, object] = {
        "command_type": "RunShellScript",
        "content": "touch /should-not-exist",
        "working_dir": "",
        "username": "",
        "timeout": 10.0,
        **fields,
    }
    return TaskRun(
        "t-dry",
        str(values.pop("command_type")),
        str(values.pop("content")),
        str(values.pop("working_dir")),
        str(values.pop("username")),
        float(values.pop("timeout")),  # type: ignore[arg-type]
        **values,  # type: ignore[arg-type]
    )


def _which_only(*found: str):  # type: ignore[no-untyped-def]
    return lambda name: f"/usr/bin/{name}" if name in found else None


@pytest.mark.parametrize(
    ("fields", "os_type", "which", "code", "info"),
    [
        ({}, "Linux", shutil.which, "", ""),
        ({"working_dir": "{tmp}"}, "Linux", shutil.which, "", ""),
        (
            {"username": ME, "launcher": "python3 -u {{ACS::ScriptFileName|Ext(.py)}}"},
            "Linux",
            _which_only("python3"),
            "",
            "",
        ),
        ({"launcher": "{{ACS::ScriptFileName|Ext(.sh)}}"}, "Linux", _which_only(), "", ""),
        ({"working_dir": "{tmp}/missing"}, "Linux", shutil.which, "DirectoryNotExists", "{tmp}/missing"),
        ({"working_dir": "{tmp}/a-file"}, "Linux", shutil.which, "DirectoryNotExists", "is not a directory"),
        ({"username": NOBODY_USER}, "Linux", shutil.which, "AccountNotExists", NOBODY_USER),
        (
            {"command_type": "RunPowerShellScript"},
            "Linux",
            shutil.which,
            "CommandNotApplicable",
            "Linux does not run RunPowerShellScript",
        ),
        ({"command_type": "RunBatScript"}, "Linux", shutil.which, "CommandNotApplicable", "RunBatScript"),
        ({"command_type": "RunShellScript"}, "Windows", shutil.which, "CommandNotApplicable", "Windows"),
        (
            {"command_type": "RunPowerShellScript"},
            "Windows",
            _which_only(),
            "ProgramNotFound",
            "RunPowerShellScript shell 'powershell'",
        ),
        (
            {"launcher": "no-such-interpreter-x {{ACS::ScriptFileName}}"},
            "Linux",
            _which_only(),
            "ProgramNotFound",
            "launcher program 'no-such-interpreter-x' is not found",
        ),
        (
            {"launcher": "{tmp}/not-executable {{ACS::ScriptFileName}}"},
            "Linux",
            shutil.which,
            "ProgramNotFound",
            "does not exist or is not executable",
        ),
        (
            {"launcher": "python3 {{ACS::ScriptFileName|Zip(.py)}}"},
            "Linux",
            shutil.which,
            "InvalidLauncher",
            "unknown function",
        ),
        ({"container_name": "web"}, "Linux", _which_only(), "ContainerConnectFailed", "docker or crictl"),
        ({"container_name": "web"}, "Linux", _which_only("docker"), "", ""),
    ],
)
def test_checks(
    tmp_path: Path,
    fields: dict[str, str],
    os_type: str,
    which,  # type: ignore[no-untyped-def]
    code: str,
    info: str,
) -> None:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "not-executable").write_text("x")
    fields = {k: v.replace("{tmp}", str(tmp_path)) for k, v in fields.items()}
    script_dir = tmp_path / "work"
    outcome = dryrun.check(
        _spec(**fields), os_type=os_type, script_dir=script_dir, user_context=_user_context, which=which
    )
    output = outcome.output.decode()
    assert output.startswith("dry run: nothing was run\n")
    if not code:
        assert outcome.failure is None, outcome.output
        assert "FAILED" not in output
        if not fields.get("container_name"):
            assert "ok   script file" in output and "ok   working directory" in output
            assert os.listdir(script_dir) == []  # the probe file is gone
    else:
        assert outcome.failure is not None, outcome.output
        assert outcome.failure.status == protocol.STATUS_FAILED  # a dry run that finds a problem is Failed
        assert outcome.failure.error_code == code
        assert info.replace("{tmp}", str(tmp_path)) in outcome.failure.error_info
        assert output.rstrip().endswith(f"FAILED {code}: {outcome.failure.error_info}")
    assert not Path("/should-not-exist").exists()


def test_a_script_dir_below_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    script_dir = tmp_path / "a-file" / "work"  # cannot be created, even by root
    outcome = dryrun.check(
        _spec(), os_type="Linux", script_dir=script_dir, user_context=_user_context, which=shutil.which
    )
    assert outcome.failure is not None
    assert (outcome.failure.status, outcome.failure.error_code) == (protocol.STATUS_FAILED, "FileCreateFail")
    assert str(script_dir) in outcome.failure.error_info


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_script_dir_that_cannot_be_written_fails(tmp_path: Path) -> None:
    script_dir = tmp_path / "work"
    script_dir.mkdir()
    script_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        outcome = dryrun.check(
            _spec(), os_type="Linux", script_dir=script_dir, user_context=_user_context, which=shutil.which
        )
    finally:
        script_dir.chmod(0o700)
    assert outcome.failure is not None
    assert outcome.failure.error_code == "FileCreateFail"
    assert str(script_dir) in outcome.failure.error_info


def test_the_agent_answers_a_dry_run_without_running_or_journaling(tmp_path: Path) -> None:
    agent = AgentProcess(tmp_path / "state", tmp_path / "agent.log")
    created = tmp_path / "created-by-the-script"
    content = f"touch {created}"

    async def body(console: FakeConsole, _agent: AgentProcess) -> None:
        dry = TaskRun(
            "t-dry-ok",
            "RunShellScript",
            content,
            str(tmp_path),
            "",
            10.0,
            dry_run=True,
            launcher=f"{sys.executable} {{{{ACS::ScriptFileName}}}}",
        )
        await console.send(dry)
        output, result = await console.collect_task("t-dry-ok", timeout=15)
        assert (result.status, result.exit_code, result.error_code) == ("Success", 0, "")
        assert b"dry run: nothing was run" in output and b"launcher program" in output
        # A resend of its output and a second delivery answer what the first check found.
        await console.send(TaskResend("t-dry-ok", (1,)))
        again = await console.expect(protocol.TaskOutput, "t-dry-ok", seq=1)
        assert again.data == output
        await console.send(TaskAck("t-dry-ok"))

        failing = TaskRun("t-dry-bad", "RunShellScript", content, "/nonexistent", "", 10.0, dry_run=True)
        await console.send(failing)
        output, result = await console.collect_task("t-dry-bad", timeout=15)
        assert (result.status, result.error_code) == ("Failed", "DirectoryNotExists")
        assert "/nonexistent" in result.error_info and b"FAILED DirectoryNotExists" in output

    run_with(agent, body)  # type: ignore[arg-type]
    assert not created.exists()
    state = tmp_path / "state"
    for name in ("t-dry-ok", "t-dry-bad"):  # no journal entry, no spool, no work dir
        assert not list(state.rglob(f"*{name}*")), list(state.rglob(f"*{name}*"))
        assert not Store(state).journaled(name)
