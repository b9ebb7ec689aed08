"""The one-liner for real: a real embedded console serves install.sh, which `sh` runs in a throwaway root
(prefix, state dir, unit dir and /run/systemd inside it; systemctl replaced by a recorder that starts the
installed agent on `enable --now`). The agent must come online and run a command; uninstall.sh removes
it all."""

import base64
import json
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from alibabacloud_ecs20140526 import models

from tests.install.pythons import PYTHON_3_8
from tests.live import embedded_console, sdk_client, wait_until

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        shutil.which("curl") is None or shutil.which("setsid") is None, reason="needs curl, setsid"
    ),
]

RECORDER = """#!/bin/sh
# systemctl stand-in: records its arguments; starts/stops the installed agent as systemd would, with the
# unit's Restart=always (after 0.5 s here) and RestartPreventExitStatus=2 193 194. Stopping sends SIGTERM
# and waits (up to 30 s) until the agent has drained and exited, as systemd does. (dash's kill takes no --.)
printf '%s\\n' "$*" >>'{log}'
start() {{
    setsid sh -c 'while :; do "$0" run; case $? in 2|193|194) exit ;; esac; sleep 0.5; done' \\
        '{prefix}/bin/assist-agent' >>'{agent_log}' 2>&1 </dev/null &
    echo "$!" >'{pidfile}'
}}
stop() {{
    if [ -f '{pidfile}' ]; then
        group="$(cat '{pidfile}')"
        kill -TERM "-$group" 2>/dev/null || true
        tries=0
        while ps -o stat= -s "$group" | grep -q '^[^Z]' && [ "$tries" -lt 150 ]; do
            sleep 0.2; tries=$((tries + 1))
        done
        rm -f '{pidfile}'
    fi
}}
case "$*" in
    "enable --now assist-agent.service"|"start assist-agent.service") start ;;
    "restart assist-agent.service") stop; start ;;
    "disable --now assist-agent.service"|"stop assist-agent.service") stop ;;
esac
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def alive(pid: int) -> bool:
    """A zombie counts as dead (it waits only for a reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def kill_recorded_agent(pidfile: Path) -> None:
    if pidfile.exists():
        try:
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


@pytest.fixture
def console(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env={"ASSIST_DELIVERY_TIMEOUT": "20"})
    yield console
    procs.stop_all()


def run_script(console, name: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """`curl -fsSL <console>/agent/NAME | sh -s -- ARGS`, as the activation page says (without sudo)."""
    quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)
    return subprocess.run(
        ["sh", "-c", f"curl -fsSL {console.url}/agent/{name} | sh -s -- {quoted}"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def instance_online(console, instance_id: str) -> bool:
    code = (
        "from console.fleet.models import Instance; "
        f"print('ONLINE' if Instance.objects.get(pk={instance_id!r}).is_online else 'OFFLINE')"
    )
    return "ONLINE" in console.procs.manage("shell", "-c", code)


def test_install_registers_starts_and_uninstall_removes(console, tmp_path):
    key = console.bootstrap()
    activation = console.create_activation(count=1)
    root = tmp_path / "root"
    (root / "run/systemd/system").mkdir(parents=True)  # "systemd is running" for install.sh
    (root / "usr/local/bin").mkdir(parents=True)
    prefix, state = root / "opt/assist-agent", root / "var/lib/assist-agent"
    log, agent_log, pidfile = tmp_path / "systemctl.log", tmp_path / "agent.log", tmp_path / "agent.pid"
    recorder = tmp_path / "systemctl"
    recorder.write_text(
        RECORDER.format(log=log, prefix=prefix, agent_log=agent_log, pidfile=pidfile), encoding="utf-8"
    )
    recorder.chmod(0o755)
    env = {
        "ASSIST_ROOT": str(root),
        "ASSIST_SYSTEMCTL": str(recorder),
        "ASSIST_AGENT_UPDATE_CHECK_INTERVAL": "1",
    }
    try:
        done = run_script(
            console,
            "install.sh",
            ["--activation-id", activation["ActivationId"], "--activation-code", activation["ActivationCode"],
             "--name", "installed-1", "--prefix", str(prefix), "--state-dir", str(state)],
            env,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "registering with" in done.stderr

        # Files and modes: the version side by side, current pointing at it, the launcher, the release key.
        version = done.stderr.split("installing version ", 1)[1].split()[0]
        pyz = prefix / "versions" / version / "assist-agent.pyz"
        assert os.readlink(prefix / "current") == f"versions/{version}"
        assert mode(prefix) == mode(prefix / "bin") == mode(prefix / "versions") == 0o755
        assert mode(pyz) == 0o644 and mode(prefix / "bin/assist-agent") == 0o755
        if os.geteuid() == 0:
            assert all(p.stat().st_uid == 0 for p in (prefix, pyz, prefix / "bin/assist-agent", state))
        key_pem = (state / "release-key.pub").read_text()
        assert key_pem == console.procs.manage("agent_release_key") and "BEGIN PUBLIC KEY" in key_pem
        # install.sh makes it 0700; the agent itself opens it to 0711 (traversable, not listable) so that
        # scripts run as another user reach their work dir (assist_agent.store.Store.ensure).
        assert mode(state) in (0o700, 0o711)
        identity = json.loads((state / "identity.json").read_text())
        assert mode(state / "identity.json") == 0o600
        assert identity["Server"] == console.url and identity["InstanceId"].startswith("mi-")
        assert (root / "usr/local/bin/assist-agent").resolve() == prefix / "bin/assist-agent"
        launcher = (prefix / "bin/assist-agent").read_text()
        assert f"HOME_DIR='{prefix}'\nSTATE_DIR='{state}'\n" in launcher
        assert 'exec "$PYTHON" "$HOME_DIR/current/assist-agent.pyz" --state-dir "$STATE_DIR" "$@"' in launcher

        unit = (root / "etc/systemd/system/assist-agent.service").read_text()
        assert mode(root / "etc/systemd/system/assist-agent.service") == 0o644
        assert f"ExecStart={prefix}/bin/assist-agent run\n" in unit
        for line in (
            "Restart=always",
            "KillMode=process",
            "WantedBy=multi-user.target",
            "Type=simple",
            "RestartPreventExitStatus=2 193 194",
            "TimeoutStopSec=604860",  # a stop drains: the longest command (7 days) may finish first
        ):
            assert f"\n{line}\n" in unit
        assert log.read_text().splitlines() == ["daemon-reload", "enable --now assist-agent.service"]

        # Online, and it runs commands.
        instance_id = identity["InstanceId"]
        wait_until(lambda: instance_online(console, instance_id), timeout=60, interval=1, message="online")
        client = sdk_client(console, key)
        invoke_id = client.run_command(
            models.RunCommandRequest(
                region_id="local", type="RunShellScript", command_content="echo hi", instance_id=[instance_id]
            )
        ).body.invoke_id

        def finished():
            request = models.DescribeInvocationResultsRequest(region_id="local", invoke_id=invoke_id)
            body = client.describe_invocation_results(request).body
            rows = body.invocation.invocation_results.invocation_result
            return rows if rows and rows[0].invocation_status not in ("Pending", "Running") else None

        [result] = wait_until(finished, timeout=60, message="echo hi to finish")
        assert (result.invocation_status, result.exit_code) == ("Success", 0)
        assert base64.b64decode(result.output) == b"hi\n"

        # The one-liner again, without an activation (the identity is in place): the program is reinstalled,
        # the identity kept, and the unit, already there, is enabled and restarted.
        first_agent = pidfile.read_text()
        done = run_script(console, "install.sh", ["--prefix", str(prefix), "--state-dir", str(state)], env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "already registered" in done.stderr and "registering with" not in done.stderr
        assert json.loads((state / "identity.json").read_text()) == identity
        assert log.read_text().splitlines() == [
            "daemon-reload", "enable --now assist-agent.service",
            "daemon-reload", "enable assist-agent.service", "restart assist-agent.service",
        ]  # fmt: skip
        assert pidfile.read_text() != first_agent and not alive(int(first_agent))
        systemctl_calls = len(log.read_text().splitlines())

        # Self-update under the service manager: the agent exits 75 after switching, "systemd" starts the
        # launcher again, and the new version comes online and commits.
        console.procs.manage("publish_agent_release", "--from-source", "--version", version + ".1")
        console.procs.manage("set_agent_target", "--account", "acme", "--version", version + ".1")
        wait_until(
            lambda: "update " + version + ".1: committed" in agent_log.read_text(),
            timeout=30,
            message="the update to commit",
        )
        assert os.readlink(prefix / "current") == f"versions/{version}.1"
        assert len(log.read_text().splitlines()) == systemctl_calls  # the update needs no systemctl

        # Uninstall: the service is stopped and disabled, the instance deregistered (its live results end
        # InstanceReleased), everything install.sh made is gone.
        agent_group = int(pidfile.read_text())
        done = run_script(console, "uninstall.sh", ["--prefix", str(prefix), "--state-dir", str(state)], env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"deregistered {instance_id}" in done.stdout
        assert "the instance is deregistered from the console" in done.stderr
        assert instance_deregistered(console, instance_id)
        assert log.read_text().splitlines()[systemctl_calls:] == [
            "disable --now assist-agent.service",
            "daemon-reload",
        ]
        assert not prefix.exists() and not state.exists()
        assert not (root / "etc/systemd/system/assist-agent.service").exists()
        assert not (root / "usr/local/bin/assist-agent").is_symlink()
        assert not pidfile.exists() and not alive(agent_group)
    except Exception:
        print(console.procs.dump_logs())
        print(agent_log.read_text() if agent_log.exists() else "(no agent log)")
        raise
    finally:
        kill_recorded_agent(pidfile)


def instance_deregistered(console, instance_id: str) -> bool:
    code = (
        "from console.fleet.models import Instance; "
        f"i = Instance.objects.get(pk={instance_id!r}); "
        "print('GONE' if i.deregistered_at and not i.secret_hash else 'STILL')"
    )
    return "GONE" in console.procs.manage("shell", "-c", code)


def supervisors_of(prefix: Path) -> list[int]:
    """Running ``assist-agent supervise`` processes of the installation at ``prefix``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and alive(int(proc.name)):
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"supervise" in argv and any(arg.startswith(str(prefix).encode()) for arg in argv):
                found.append(int(proc.name))
    return found


def test_without_systemd_the_agent_runs_under_its_own_supervisor(console, tmp_path):
    key = console.bootstrap()
    activation = console.create_activation(count=1)
    root = tmp_path / "root"  # no run/systemd/system: no systemd
    (root / "etc").mkdir(parents=True)
    (root / "etc/rc.local").write_text("#!/bin/sh -e\n# the distribution's own line\nexit 0\n")
    prefix, state = root / "opt/assist-agent", root / "var/lib/assist-agent"
    recorder = tmp_path / "systemctl"
    recorder.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >>'{tmp_path}/systemctl.log'\n")
    recorder.chmod(0o755)
    env = {"ASSIST_ROOT": str(root), "ASSIST_SYSTEMCTL": str(recorder)}
    pidfile = state / "supervise.pid"
    supervisor = None
    try:
        done = run_script(
            console,
            "install.sh",
            [
                "--activation-id",
                activation["ActivationId"],
                "--activation-code",
                activation["ActivationCode"],
            ],
            env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "no systemd here: started '" + f"{prefix}/bin/assist-agent supervise'" in done.stderr
        assert not (tmp_path / "systemctl.log").exists()  # systemctl never called
        assert not (root / "etc/systemd/system/assist-agent.service").exists()
        # Started at boot too: a line in rc.local before its final exit 0.
        start = f"{prefix}/bin/assist-agent-start"
        assert (root / "etc/rc.local").read_text() == (
            f"#!/bin/sh -e\n# the distribution's own line\n{start} # assist-agent\nexit 0\n"
        )
        assert f"starts at boot: a line in {root}/etc/rc.local" in done.stderr
        supervisor = int(pidfile.read_text())
        instance_id = json.loads((state / "identity.json").read_text())["InstanceId"]
        wait_until(lambda: instance_online(console, instance_id), timeout=60, interval=1, message="online")
        cmdline = Path(f"/proc/{supervisor}/cmdline").read_bytes().split(b"\0")
        assert b"supervise" in cmdline and str(prefix / "current/assist-agent.pyz").encode() in cmdline
        # The start script does not start a second supervisor while one runs (as at a repeated boot).
        subprocess.run([start], check=True, env={**os.environ, **env})
        assert int(pidfile.read_text()) == supervisor

        # The one-liner again (no activation: the identity stays) while a command runs. The running agent
        # drains: the command finishes and is reported, and install.sh waits for that before it starts the
        # new supervisor, so two agents never run on one identity.
        client = sdk_client(console, key)
        invoke_id = client.run_command(
            models.RunCommandRequest(
                region_id="local", type="RunShellScript", command_content="sleep 8; echo drained",
                instance_id=[instance_id], timeout=60,
            )
        ).body.invoke_id  # fmt: skip

        def result():
            request = models.DescribeInvocationResultsRequest(region_id="local", invoke_id=invoke_id)
            body = client.describe_invocation_results(request).body
            return body.invocation.invocation_results.invocation_result

        wait_until(lambda: result()[0].invocation_status == "Running", timeout=20, message="the command")
        first = supervisor
        done = run_script(console, "install.sh", [], env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert not alive(first)
        assert f"stopping the running agent (supervisor pid {first})" in done.stderr
        # Reported by the agent that ran it (a new agent would report a command left behind as interrupted).
        wait_until(
            lambda: result()[0].invocation_status not in ("Pending", "Running"), timeout=15, message="result"
        )
        [final] = result()
        assert (final.invocation_status, base64.b64decode(final.output)) == ("Success", b"drained\n")
        supervisor = int(pidfile.read_text())
        assert supervisor != first
        # (For a moment after a fork the agent child still looks like a supervisor.)
        wait_until(lambda: supervisors_of(prefix) == [supervisor], timeout=5, message="one supervisor")
        assert json.loads((state / "identity.json").read_text())["InstanceId"] == instance_id
        assert (root / "etc/rc.local").read_text().count(start) == 1  # the boot line is not added twice
        wait_until(lambda: instance_online(console, instance_id), timeout=60, interval=1, message="online")

        done = run_script(console, "uninstall.sh", [], env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "stopped the agent's supervisor" in done.stderr
        assert (root / "etc/rc.local").read_text() == "#!/bin/sh -e\n# the distribution's own line\nexit 0\n"
        assert instance_deregistered(console, instance_id)
        assert not prefix.exists() and not state.exists()
        wait_until(lambda: not alive(supervisor), timeout=10, message="the supervisor to end")
    except Exception:
        print(console.procs.dump_logs())
        raise
    finally:
        if supervisor is not None:
            try:
                os.kill(supervisor, signal.SIGTERM)
            except ProcessLookupError:
                pass


def agent_version(console, instance_id: str) -> str:
    code = (
        "from console.fleet.models import Instance; "
        f"print('VERSION=' + Instance.objects.get(pk={instance_id!r}).agent_version)"
    )
    return console.procs.manage("shell", "-c", code).split("VERSION=", 1)[1].strip()


def interpreter_of(pid: int) -> Path:
    return Path(f"/proc/{pid}/exe").resolve()


@pytest.mark.skipif(PYTHON_3_8 is None, reason="no Python 3.8 here (python3.8 on PATH, pyenv)")
def test_on_python_3_8_the_agent_installs_runs_commands_and_updates_itself(console, tmp_path):
    """The oldest Python the agent supports, for real: install.sh with ASSIST_PYTHON (as on the RHEL 8
    family), online, a command, a self-update (download, pure-Python Ed25519 check, switch), uninstall."""
    key = console.bootstrap()
    activation = console.create_activation(count=1)
    root = tmp_path / "root"
    (root / "etc/cron.d").mkdir(parents=True)  # no systemd: the supervisor runs on 3.8 too
    prefix, state = root / "opt/assist-agent", root / "var/lib/assist-agent"
    env = {
        "ASSIST_ROOT": str(root),
        "ASSIST_SYSTEMCTL": "/bin/false",
        "ASSIST_PYTHON": PYTHON_3_8,
        "ASSIST_AGENT_UPDATE_CHECK_INTERVAL": "1",
    }
    pidfile = state / "supervise.pid"
    supervisor = None
    python_3_8 = Path(PYTHON_3_8).resolve()
    try:
        done = run_script(
            console,
            "install.sh",
            [
                "--activation-id",
                activation["ActivationId"],
                "--activation-code",
                activation["ActivationCode"],
            ],
            env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        version = done.stderr.split("installing version ", 1)[1].split()[0]
        supervisor = int(pidfile.read_text())
        instance_id = json.loads((state / "identity.json").read_text())["InstanceId"]
        wait_until(lambda: instance_online(console, instance_id), timeout=60, interval=1, message="online")

        def agent_pid() -> int | None:
            children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
            return int(children[0]) if children else None

        assert interpreter_of(supervisor) == python_3_8
        assert interpreter_of(wait_until(agent_pid, timeout=10, message="the agent")) == python_3_8

        client = sdk_client(console, key)
        invoke_id = client.run_command(
            models.RunCommandRequest(
                region_id="local",
                type="RunShellScript",
                command_content="echo on 3.8",
                instance_id=[instance_id],
            )
        ).body.invoke_id

        def finished():
            request = models.DescribeInvocationResultsRequest(region_id="local", invoke_id=invoke_id)
            rows = client.describe_invocation_results(
                request
            ).body.invocation.invocation_results.invocation_result
            return rows if rows and rows[0].invocation_status not in ("Pending", "Running") else None

        [result] = wait_until(finished, timeout=60, message="the command to finish")
        assert (result.invocation_status, base64.b64decode(result.output)) == ("Success", b"on 3.8\n")

        console.procs.manage("publish_agent_release", "--from-source", "--version", version + ".1")
        console.procs.manage("set_agent_target", "--account", "acme", "--version", version + ".1")
        wait_until(
            lambda: f"update {version}.1: committed" in (state / "agent.log").read_text(),
            timeout=60,
            message="the update to commit",
        )
        assert agent_version(console, instance_id) == version + ".1"
        assert interpreter_of(wait_until(agent_pid, timeout=10, message="the new agent")) == python_3_8

        done = run_script(console, "uninstall.sh", [], env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert instance_deregistered(console, instance_id) and not prefix.exists()
    except Exception:
        print(console.procs.dump_logs())
        print(
            (state / "agent.log").read_text()[-8000:] if (state / "agent.log").exists() else "(no agent log)"
        )
        raise
    finally:
        if supervisor is not None:
            try:
                os.kill(supervisor, signal.SIGTERM)
            except ProcessLookupError:
                pass
