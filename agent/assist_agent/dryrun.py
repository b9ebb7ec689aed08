"""RepeatMode=DryRun: check that a task could run here, running nothing.

The checks follow the order a real run meets them (executor.TaskProcess._run): the command type on this
OS, the launcher's syntax, the container runtime's CLI, the run-as user, the working directory, the
program that would start the script (the launcher's first word, or the type's shell), and that the script
file could be written. The first failure ends the check with the error code a real run would report
(DirectoryNotExists, AccountNotExists, CommandNotApplicable, ...), or one of our own where the original has
none (docs/agent-protocol.md, "Dry runs"). Nothing is journaled or spooled, and no process is started.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import launcher as launchers
from . import protocol, runplan
from .protocol import TaskRun

# Our own codes, where the original agent has none (docs/agent-protocol.md, "Dry runs").
INVALID_LAUNCHER = "InvalidLauncher"
PROGRAM_NOT_FOUND = "ProgramNotFound"
FILE_CREATE_FAIL = "FileCreateFail"  # the original's SendFile code for a file that cannot be created


@dataclass
class Outcome:
    """What was checked (one line each, in order) and the first failure, if any."""

    checked: list[str] = field(default_factory=list)
    failure: runplan.Refused | None = None

    @property
    def output(self) -> bytes:
        lines = ["dry run: nothing was run"] + self.checked
        if self.failure is not None:
            lines.append(f"FAILED {self.failure.error_code}: {self.failure.error_info}")
        return ("\n".join(lines) + "\n").encode("utf-8", "replace")


UserContext = Callable[[str], "tuple[object, dict[str, str], str]"]


def _failed(code: str, info: str) -> runplan.Refused:
    return runplan.Refused(protocol.STATUS_FAILED, code, info)


def check(
    spec: TaskRun,
    *,
    os_type: str,
    script_dir: Path,
    user_context: UserContext,
    which: Callable[[str], str | None],
) -> Outcome:
    """Run every check for ``spec``. ``user_context`` is executor._user_context (who runs the script and
    their home; raises runplan.Refused), ``which`` finds a program on PATH (shutil.which), ``script_dir``
    is where the agent writes script files."""
    outcome = Outcome()
    try:
        _checks(spec, outcome, os_type=os_type, script_dir=script_dir, user_context=user_context, which=which)
    except runplan.Refused as refused:
        # A dry run that finds a problem ends Failed, whatever status the real run would report.
        outcome.failure = _failed(refused.error_code, refused.error_info)
    return outcome


def _checks(
    spec: TaskRun,
    outcome: Outcome,
    *,
    os_type: str,
    script_dir: Path,
    user_context: UserContext,
    which: Callable[[str], str | None],
) -> None:
    note = outcome.checked.append
    in_container = bool(spec.container_id or spec.container_name)
    if in_container:
        container = runplan.container_for(
            spec.container_id,
            spec.container_name,
            command_type=spec.command_type,
            os_type=os_type,
            which=which,
        )
        note(f"ok   command type: {spec.command_type} runs in a container on {os_type}")
        note(
            f"ok   container runtime: {container.runtime} found at {container.cli} (container not inspected)"
        )
        return
    script_file = runplan.script_file(spec.command_type, spec.content, os_type)
    note(f"ok   command type: {spec.command_type} runs on {os_type}")
    try:
        launcher = launchers.parse(spec.launcher)
    except launchers.LauncherError as error:
        raise _failed(INVALID_LAUNCHER, f"the Launcher is not valid: {error}") from None
    name = launchers.script_file_name(script_file.name, launcher)
    if launcher is not None:
        note(f"ok   launcher: {launcher.text} (script file {name})")
    _, _, home = user_context(spec.username)
    note(f"ok   user: {spec.username or 'the agent user'} exists")
    cwd = spec.working_dir or home
    if spec.working_dir and not os.path.isdir(cwd):
        what = "is not a directory" if os.path.exists(cwd) else "does not exist"
        raise _failed("DirectoryNotExists", f"the specified directory does not exist: {cwd} ({what})")
    note(f"ok   working directory: {cwd if os.path.isdir(cwd) else '/'}")
    _check_program(launcher, spec.command_type, os_type, which, note)
    _check_writable(script_dir, name)
    note(f"ok   script file: {name} can be written in {script_dir}")


def _check_program(
    launcher: launchers.Launcher | None,
    command_type: str,
    os_type: str,
    which: Callable[[str], str | None],
    note: Callable[[str], None],
) -> None:
    if launcher is not None:
        program = launchers.program(launcher, os_type)
        what = "launcher program"
        if not program or "{{" in program:  # the line starts with the script itself, or the shell decides
            note("ok   launcher program: the script file itself or shell syntax (not looked up)")
            return
    else:
        program = runplan.host_argv(command_type, "script")[0]
        what = f"{command_type} shell"
    found = _find(program, which)
    if found is None:
        raise _failed(
            PROGRAM_NOT_FOUND,
            f"the {what} {program!r} is not found on the agent's PATH ({os.environ.get('PATH', '')})"
            if os.sep not in program
            else f"the {what} {program!r} does not exist or is not executable",
        )
    note(f"ok   {what}: {program} found at {found}")


def _find(program: str, which: Callable[[str], str | None]) -> str | None:
    if os.sep in program or (os.altsep and os.altsep in program):
        return program if os.path.isfile(program) and os.access(program, os.X_OK) else None
    return which(program)


def _check_writable(script_dir: Path, name: str) -> None:
    """Create and remove a file where the script would go (the agent's work directory)."""
    import tempfile  # only for dry runs: not loaded by an idle agent

    try:
        script_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=".dry-run-", suffix="-" + name, dir=str(script_dir))
        os.close(fd)
        os.unlink(path)
    except OSError as error:
        raise _failed(
            FILE_CREATE_FAIL, f"the script file cannot be written in {script_dir}: {error.strerror or error}"
        ) from None
