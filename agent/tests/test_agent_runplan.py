"""assist_agent.runplan: the pure decisions behind a run, every OS named explicitly (CI runs Linux, so this is
where the Windows paths are tested): script files and command lines per type, the container checks and
their error codes, and the power action an exit code asks for."""

from __future__ import annotations

import pytest
from assist_agent import runplan
from assist_agent.runplan import Container, Refused


def _refused(call: object, *args: object, **kwargs: object) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


# --- script files and command lines --------------------------------------------------------------------

SCRIPTS = [
    # (os, type, content, file name, bytes)
    ("Linux", "RunShellScript", "echo hé\nexit 3\n", "script.sh", "echo hé\nexit 3\n".encode()),
    ("FreeBSD", "RunShellScript", "uname\n", "script.sh", b"uname\n"),
    (
        "Windows",
        "RunPowerShellScript",
        "Write-Output 'hé'\nexit 3",
        "script.ps1",
        b"\xef\xbb\xbf" + "Write-Output 'hé'\r\nexit 3".encode(),  # BOM: PowerShell 5.1 reads UTF-8
    ),
    ("Windows", "RunPowerShellScript", "a\r\nb\rc\n", "script.ps1", b"\xef\xbb\xbfa\r\nb\r\nc\r\n"),
    ("Windows", "RunBatScript", "dir\nexit /b 2\n", "script.bat", b"@echo off\r\ndir\r\nexit /b 2\r\n"),
]


@pytest.mark.parametrize(("os_type", "command_type", "content", "name", "data"), SCRIPTS)
def test_script_file(os_type: str, command_type: str, content: str, name: str, data: bytes) -> None:
    assert runplan.script_file(command_type, content, os_type) == runplan.ScriptFile(name, data)


@pytest.mark.parametrize(
    ("os_type", "command_type"),
    [
        ("Linux", "RunPowerShellScript"),
        ("Linux", "RunBatScript"),
        ("FreeBSD", "RunBatScript"),
        ("Windows", "RunShellScript"),
        ("Linux", "RunPythonScript"),
        ("Plan9", "RunShellScript"),
    ],
)
def test_a_type_the_os_cannot_run_is_not_applicable(os_type: str, command_type: str) -> None:
    refused = _refused(runplan.script_file, command_type, "x", os_type)
    assert (refused.status, refused.error_code) == ("Error", "CommandNotApplicable")
    assert (
        refused.error_info == f"the command is not applicable: {os_type} does not run {command_type} commands"
    )


@pytest.mark.parametrize(
    ("command_type", "argv"),
    [
        ("RunShellScript", ["/bin/sh", "S"]),
        (
            "RunPowerShellScript",
            ["powershell", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", "S"],
        ),
        ("RunBatScript", ["cmd", "/c", "S"]),
    ],
)
def test_host_argv(command_type: str, argv: list[str]) -> None:
    assert runplan.host_argv(command_type, "S") == argv


# --- containers ------------------------------------------------------------------------------------------

ID = "0123456789abcdef" * 4


def _which(*installed: str) -> object:
    return lambda name: f"/usr/bin/{name}" if name in installed else None


@pytest.mark.parametrize(
    ("container_id", "name", "installed", "expected"),
    [
        (ID, "", ("docker", "crictl"), Container("docker", "/usr/bin/docker", ID, "")),
        (ID, "", ("crictl",), Container("crictl", "/usr/bin/crictl", ID, "")),  # no docker: crictl
        ("docker://" + ID, "", ("docker", "crictl"), Container("docker", "/usr/bin/docker", ID, "")),
        ("containerd://" + ID, "", ("docker", "crictl"), Container("crictl", "/usr/bin/crictl", ID, "")),
        ("cri-o://abc123", "", ("crictl",), Container("crictl", "/usr/bin/crictl", "abc123", "")),
        ("", "web-1", ("docker",), Container("docker", "/usr/bin/docker", "", "web-1")),
        (ID, "web", ("docker",), Container("docker", "/usr/bin/docker", ID, "web")),
    ],
)
def test_container_runtime_choice(
    container_id: str, name: str, installed: tuple[str, ...], expected: Container
) -> None:
    got = runplan.container_for(
        container_id, name, command_type="RunShellScript", os_type="Linux", which=_which(*installed)
    )
    assert got == expected
    assert got.ref == (expected.container_id or name)


@pytest.mark.parametrize(
    ("container_id", "name", "command_type", "os_type", "installed", "code", "info_has"),
    [
        (
            ID,
            "",
            "RunShellScript",
            "Windows",
            ("docker",),
            "CommandNotApplicable",
            "containers are Linux only",
        ),
        (ID, "", "RunShellScript", "FreeBSD", ("docker",), "CommandNotApplicable", "Linux only"),
        (ID, "", "RunPowerShellScript", "Linux", ("docker",), "CommandNotApplicable", "only shell scripts"),
        (
            "podman://" + ID,
            "",
            "RunShellScript",
            "Linux",
            ("docker",),
            "UnsupportedContainerRuntime",
            "podman",
        ),
        ("docker://", "", "RunShellScript", "Linux", ("docker",), "InvalidContainerId", "hex"),
        ("ABC", "", "RunShellScript", "Linux", ("docker",), "InvalidContainerId", "'ABC'"),
        ("abc;rm", "", "RunShellScript", "Linux", ("docker",), "InvalidContainerId", "abc;rm"),
        ("", "-rf", "RunShellScript", "Linux", ("docker",), "InvalidContainerName", "'-rf'"),
        ("", "a b", "RunShellScript", "Linux", ("docker",), "InvalidContainerName", "a b"),
        (
            ID,
            "",
            "RunShellScript",
            "Linux",
            (),
            "ContainerConnectFailed",
            "docker or crictl is not installed",
        ),
        (
            "docker://" + ID,
            "",
            "RunShellScript",
            "Linux",
            ("crictl",),
            "ContainerConnectFailed",
            "docker is not",
        ),
        (
            "containerd://" + ID,
            "",
            "RunShellScript",
            "Linux",
            ("docker",),
            "ContainerConnectFailed",
            "crictl is",
        ),
    ],
)
def test_container_refusals(
    container_id: str,
    name: str,
    command_type: str,
    os_type: str,
    installed: tuple[str, ...],
    code: str,
    info_has: str,
) -> None:
    refused = _refused(
        runplan.container_for,
        container_id,
        name,
        command_type=command_type,
        os_type=os_type,
        which=_which(*installed),
    )
    assert (refused.status, refused.error_code) == ("Error", code)
    assert info_has in refused.error_info


DOCKER_C = Container("docker", "/d", ID, "")
NAMED_C = Container("docker", "/d", ID, "web")
CRI_C = Container("crictl", "/c", "", "my.app")


def test_command_lines() -> None:
    assert runplan.inspect_argv(DOCKER_C) == [
        "/d", "inspect", "--type", "container", "--format", "{{.State.Status}} {{.Name}}", ID
    ]  # fmt: skip
    assert runplan.inspect_argv(Container("crictl", "/c", "abc", "")) == [
        "/c", "inspect", "--output", "go-template", "--template",
        "{{.status.state}} {{.status.metadata.name}}", "abc",
    ]  # fmt: skip
    assert runplan.crictl_find_argv(CRI_C) == ["/c", "ps", "--all", "--quiet", "--name", r"^my\.app$"]
    assert runplan.exec_argv(DOCKER_C, ID) == ["/d", "exec", "-i", ID, "sh", "-s"]


@pytest.mark.parametrize(
    ("container", "returncode", "output", "code"),
    [
        (DOCKER_C, 0, "running /web\n", ""),
        (NAMED_C, 0, "running /web\n", ""),
        (Container("crictl", "/c", "abc", ""), 0, "CONTAINER_RUNNING web", ""),
        (DOCKER_C, 1, "Error: No such container: " + ID, "ContainerNotFound"),
        (DOCKER_C, 1, "Error: No such object: " + ID, "ContainerNotFound"),
        (Container("crictl", "/c", "abc", ""), 1, 'container "abc" not found', "ContainerNotFound"),
        (DOCKER_C, 0, "exited /web", "ContainerStateAbnormal"),
        (Container("crictl", "/c", "abc", ""), 0, "CONTAINER_EXITED web", "ContainerStateAbnormal"),
        (NAMED_C, 0, "running /db", "ContainerNameAndIdNotMatch"),
        (
            DOCKER_C,
            1,
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.",
            "ContainerConnectFailed",
        ),
    ],
)
def test_check_inspected(container: Container, returncode: int, output: str, code: str) -> None:
    if not code:
        assert runplan.check_inspected(container, returncode, output) in ("web",)
        return
    refused = _refused(runplan.check_inspected, container, returncode, output)
    assert refused.error_code == code
    if code == "ContainerStateAbnormal":
        assert refused.error_info.startswith(
            "The state of the specified container is abnormal. Current state is "
        )


@pytest.mark.parametrize(
    ("returncode", "output", "expected"),
    [
        (0, "abc\n", "abc"),
        (0, "\n", "ContainerNotFound"),
        (0, "abc\ndef\n", "ContainerNameDuplicated"),
        (1, "connect: connection refused", "ContainerConnectFailed"),
    ],
)
def test_check_found(returncode: int, output: str, expected: str) -> None:
    if expected == "abc":
        assert runplan.check_found(CRI_C, returncode, output) == "abc"
        return
    assert _refused(runplan.check_found, CRI_C, returncode, output).error_code == expected


# --- power actions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exit_code", "os_type", "action"),
    [
        (193, "Linux", "poweroff"),
        (194, "Linux", "reboot"),
        (193, "FreeBSD", "poweroff"),
        (3009, "Linux", ""),
        (0, "Linux", ""),
        (None, "Linux", ""),
        (3009, "Windows", "poweroff"),
        (3010, "Windows", "reboot"),
        (193, "Windows", ""),
        (194, "Windows", ""),
    ],
)
def test_power_action(exit_code: int | None, os_type: str, action: str) -> None:
    assert runplan.power_action(exit_code, os_type) == action


@pytest.mark.parametrize(
    ("action", "os_type", "configured", "commands"),
    [
        ("poweroff", "Linux", "", [["systemctl", "poweroff"], ["shutdown", "-h", "now"]]),
        ("reboot", "Linux", "", [["systemctl", "reboot"], ["shutdown", "-r", "now"]]),
        ("reboot", "FreeBSD", "  ", [["systemctl", "reboot"], ["shutdown", "-r", "now"]]),
        ("poweroff", "Windows", "", [["shutdown", "/s", "/t", "0"]]),
        ("reboot", "Windows", "", [["shutdown", "/r", "/t", "0"]]),
        ("reboot", "Linux", "sh -c 'echo reboot >> /tmp/x'", [["sh", "-c", "echo reboot >> /tmp/x"]]),
    ],
)
def test_power_commands(action: str, os_type: str, configured: str, commands: list[list[str]]) -> None:
    assert runplan.power_commands(action, os_type, configured) == commands


def test_an_unclosed_quote_is_an_error() -> None:
    with pytest.raises(ValueError, match="quotation"):
        runplan.power_commands("reboot", "Linux", "sh -c 'echo")
