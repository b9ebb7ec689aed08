"""How a task.run becomes a process, as pure decisions: which script types an OS runs, the script file
(name, bytes) and command line per type, the container runtime and its command lines, and the power
action an exit code asks for. No I/O here: the executor does it, and the tests drive every branch with
the OS given explicitly (CI runs Linux, yet the Windows paths are tested).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Callable

from . import protocol

SHELL = "/bin/sh"
RUN_SHELL = "RunShellScript"
RUN_POWERSHELL = "RunPowerShellScript"
RUN_BAT = "RunBatScript"
WINDOWS = "Windows"

# What each OS runs (sysinfo.os_type()); anything else is CommandNotApplicable, as in the original.
RUNNABLE: dict[str, tuple[str, ...]] = {
    "Linux": (RUN_SHELL,),
    "FreeBSD": (RUN_SHELL,),
    WINDOWS: (RUN_POWERSHELL, RUN_BAT),
}

UTF8_BOM = b"\xef\xbb\xbf"


class Refused(Exception):
    """The task cannot start; ``status``/``error_code``/``error_info`` are its result."""

    def __init__(self, status: str, error_code: str, error_info: str) -> None:
        super().__init__(error_info)
        self.status = status
        self.error_code = error_code
        self.error_info = error_info


def not_applicable(command_type: str, os_type: str, why: str = "") -> Refused:
    return Refused(
        protocol.STATUS_ERROR,
        "CommandNotApplicable",
        f"the command is not applicable: {os_type} does not run {command_type} commands{why}",
    )


# --- scripts on the host ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptFile:
    name: str  # file name in the task's work dir; the extension matters on Windows
    data: bytes


def script_file(command_type: str, content: str, os_type: str) -> ScriptFile:
    """The script file for ``command_type`` on ``os_type``; ``Refused`` (CommandNotApplicable) otherwise.

    Shell scripts are written as given (UTF-8, undecodable bytes kept). PowerShell scripts get CRLF line
    ends and a UTF-8 BOM: Windows PowerShell 5.1 reads a BOM-less file in the ANSI code page, which would
    garble any non-ASCII text. Batch files get CRLF and ``@echo off`` first (as the original does, so the
    output holds what the commands print, not the commands), and no BOM: cmd would take it as part of
    the first command.
    """
    if command_type not in RUNNABLE.get(os_type, ()):
        raise not_applicable(command_type, os_type)
    if command_type == RUN_SHELL:
        return ScriptFile("script.sh", content.encode("utf-8", "surrogateescape"))
    crlf = _crlf(content)
    if command_type == RUN_POWERSHELL:
        return ScriptFile("script.ps1", UTF8_BOM + crlf.encode("utf-8", "surrogateescape"))
    return ScriptFile("script.bat", ("@echo off\r\n" + crlf).encode("utf-8", "surrogateescape"))


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def host_argv(command_type: str, script: str) -> list[str]:
    """The command line that runs the script file at ``script`` (its type was checked by script_file)."""
    if command_type == RUN_POWERSHELL:
        return ["powershell", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", script]
    if command_type == RUN_BAT:
        return ["cmd", "/c", script]
    return [SHELL, script]


# --- containers ----------------------------------------------------------------------------------------

DOCKER = "docker"
CRICTL = "crictl"
# ContainerId prefixes (as Kubernetes reports them in a pod's status) and the CLI that reaches each runtime.
RUNTIME_PREFIXES = {"docker": DOCKER, "containerd": CRICTL, "cri-o": CRICTL}
_ID_RE = re.compile(r"[0-9a-f]{1,64}")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


@dataclass(frozen=True)
class Container:
    runtime: str  # DOCKER or CRICTL
    cli: str  # the runtime's CLI, as found on PATH
    container_id: str  # without its runtime prefix; "" when only a name was given
    container_name: str

    @property
    def ref(self) -> str:
        """What the CLI is told: the id when there is one, else the name."""
        return self.container_id or self.container_name


def _validation(code: str, info: str) -> Refused:
    return Refused(protocol.STATUS_ERROR, code, info)


def container_for(
    container_id: str,
    container_name: str,
    *,
    command_type: str,
    os_type: str,
    which: Callable[[str], str | None],
) -> Container:
    """Check a task's container options and pick the runtime's CLI, or raise ``Refused`` with the original
    agent's error code: CommandNotApplicable (not Linux, or not a shell script), InvalidContainerId,
    InvalidContainerName, UnsupportedContainerRuntime (an unknown ``xxx://`` prefix), ContainerConnectFailed
    (no CLI for the runtime on this machine). ``which`` finds a CLI on PATH (shutil.which)."""
    if os_type != "Linux":
        raise not_applicable(command_type, os_type, " in a container (containers are Linux only)")
    if command_type != RUN_SHELL:
        raise not_applicable(command_type, os_type, " in a container (only shell scripts run there)")
    prefix, sep, bare_id = container_id.rpartition("://")
    if sep and prefix not in RUNTIME_PREFIXES:
        raise _validation(
            "UnsupportedContainerRuntime",
            f"The container runtime specified in the containerId is not supported: {prefix}:// "
            f"(use {', '.join(p + '://' for p in sorted(RUNTIME_PREFIXES))} or no prefix)",
        )
    if container_id and not _ID_RE.fullmatch(bare_id):
        raise _validation(
            "InvalidContainerId",
            f"The specified containerId is not valid: {container_id!r} (expected up to 64 lowercase hex "
            "digits, optionally after docker://, containerd:// or cri-o://)",
        )
    if container_name and not _NAME_RE.fullmatch(container_name):
        raise _validation(
            "InvalidContainerName",
            f"The specified containerName is not valid: {container_name!r} (letters, digits, _ . -)",
        )
    candidates = [RUNTIME_PREFIXES[prefix]] if sep else [DOCKER, CRICTL]
    for runtime in candidates:
        cli = which(runtime)
        if cli:
            return Container(runtime, cli, bare_id, container_name)
    raise _validation(
        "ContainerConnectFailed",
        f"Unable to connect to container to invoke command: {' or '.join(candidates)} is not installed "
        "on this machine (not found on the agent's PATH)",
    )


def inspect_argv(container: Container) -> list[str]:
    """Asks the runtime for the container's state and name, one line: ``<state> <name>``."""
    if container.runtime == DOCKER:
        return [container.cli, "inspect", "--type", "container", "--format", "{{.State.Status}} {{.Name}}",
                container.ref]  # fmt: skip
    return [container.cli, "inspect", "--output", "go-template", "--template",
            "{{.status.state}} {{.status.metadata.name}}", container.ref]  # fmt: skip


def crictl_find_argv(container: Container) -> list[str]:
    """crictl knows containers by id only: the ids of all containers with exactly this name."""
    return [
        container.cli,
        "ps",
        "--all",
        "--quiet",
        "--name",
        "^" + re.escape(container.container_name) + "$",
    ]


def exec_argv(container: Container, container_ref: str) -> list[str]:
    """Runs ``sh`` in the container reading the script from stdin (not from argv, where anyone on the host
    could read parameters such as passwords in the process list). The same words for docker and crictl."""
    return [container.cli, "exec", "-i", container_ref, "sh", "-s"]


RUNNING_STATES = frozenset({"running", "CONTAINER_RUNNING"})
_NOT_FOUND_RE = re.compile(r"no such (container|object)|not found|does not exist", re.IGNORECASE)


def check_inspected(container: Container, returncode: int, output: str) -> str:
    """The name the runtime reports for a running container, or ``Refused``: ContainerNotFound,
    ContainerStateAbnormal, ContainerNameAndIdNotMatch, or ContainerConnectFailed (the runtime answered
    with an error that is not "no such container", e.g. its daemon is down)."""
    text = output.strip()
    if returncode != 0:
        if _NOT_FOUND_RE.search(text):
            raise _validation("ContainerNotFound", f"The specified container does not exist: {container.ref}")
        raise _validation(
            "ContainerConnectFailed",
            f"Unable to connect to container to invoke command: {container.runtime} says: {text[:500]}",
        )
    state, _, name = text.partition(" ")
    name = name.strip().lstrip("/")  # docker names start with "/"
    if state not in RUNNING_STATES:
        raise _validation(
            "ContainerStateAbnormal",
            f"The state of the specified container is abnormal. Current state is {state or 'unknown'}",
        )
    if container.container_id and container.container_name and name != container.container_name:
        raise _validation(
            "ContainerNameAndIdNotMatch",
            f"The container whose container ID is {container.container_id}, the name is not "
            f"{container.container_name}.",
        )
    return name


def check_found(container: Container, returncode: int, output: str) -> str:
    """crictl: the one id ``crictl_find_argv`` found, or ``Refused`` (ContainerNotFound,
    ContainerNameDuplicated, ContainerConnectFailed)."""
    if returncode != 0:
        raise _validation(
            "ContainerConnectFailed",
            f"Unable to connect to container to invoke command: crictl says: {output.strip()[:500]}",
        )
    ids = output.split()
    if not ids:
        raise _validation(
            "ContainerNotFound", f"The specified container does not exist: {container.container_name}"
        )
    if len(ids) > 1:
        raise _validation(
            "ContainerNameDuplicated",
            "The container for the command to be executed cannot be identified because the instance has "
            f"{len(ids)} containers named {container.container_name}.",
        )
    return ids[0]


# --- power actions (reference 4.10) ----------------------------------------------------------------------

POWEROFF = "poweroff"
REBOOT = "reboot"
POWER_EXIT_CODES: dict[str, dict[int, str]] = {
    "Linux": {193: POWEROFF, 194: REBOOT},
    "FreeBSD": {193: POWEROFF, 194: REBOOT},
    WINDOWS: {3009: POWEROFF, 3010: REBOOT},
}
# The agent's own exit code after it started a power action: systemd's RestartPreventExitStatus and
# ``assist-agent supervise`` do not start it again while the machine goes down.
AGENT_EXIT = {POWEROFF: 193, REBOOT: 194}


def power_action(exit_code: int | None, os_type: str) -> str:
    """POWEROFF, REBOOT or "" for a script's exit code on ``os_type``."""
    if exit_code is None:
        return ""
    return POWER_EXIT_CODES.get(os_type, POWER_EXIT_CODES["Linux"]).get(exit_code, "")


def default_power_commands(action: str, os_type: str) -> list[list[str]]:
    """The system's commands for ``action``, tried in order until one succeeds."""
    if os_type == WINDOWS:
        return [["shutdown", "/s" if action == POWEROFF else "/r", "/t", "0"]]
    if action == POWEROFF:
        return [["systemctl", "poweroff"], ["shutdown", "-h", "now"]]
    return [["systemctl", "reboot"], ["shutdown", "-r", "now"]]


def power_commands(action: str, os_type: str, configured: str) -> list[list[str]]:
    """``configured`` (a command line, split like a POSIX shell would; "" for the system's) or the default.

    Raises ValueError for a command line that does not split (an unclosed quote)."""
    if configured.strip():
        return [shlex.split(configured)]
    return default_power_commands(action, os_type)
