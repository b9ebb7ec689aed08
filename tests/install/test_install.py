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

from tests.live import embedded_console, sdk_client, wait_until

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        shutil.which("curl") is None or shutil.which("setsid") is None, reason="needs curl, setsid"
    ),
]

RECORDER = """#!/bin/sh
# systemctl stand-in: records its arguments; starts/stops the installed agent as systemd would.
printf '%s\\n' "$*" >>'{log}'
case "$*" in
    "enable --now assist-agent.service"|"start assist-agent.service"|"restart assist-agent.service")
        setsid '{prefix}/bin/assist-agent' run >>'{agent_log}' 2>&1 </dev/null &
        echo "$!" >'{pidfile}' ;;
    "disable --now assist-agent.service"|"stop assist-agent.service")
        if [ -f '{pidfile}' ]; then kill "$(cat '{pidfile}')" 2>/dev/null || true; rm -f '{pidfile}'; fi ;;
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
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
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
    env = {"ASSIST_ROOT": str(root), "ASSIST_SYSTEMCTL": str(recorder)}
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

        # Files and modes.
        pyz = prefix / "assist-agent.pyz"
        assert mode(prefix) == mode(prefix / "bin") == 0o755
        assert mode(pyz) == 0o644 and mode(prefix / "bin/assist-agent") == 0o755
        if os.geteuid() == 0:
            assert all(p.stat().st_uid == 0 for p in (prefix, pyz, prefix / "bin/assist-agent", state))
        # install.sh makes it 0700; the agent itself opens it to 0711 (traversable, not listable) so that
        # scripts run as another user reach their work dir (assist_agent.store.Store.ensure).
        assert mode(state) in (0o700, 0o711)
        identity = json.loads((state / "identity.json").read_text())
        assert mode(state / "identity.json") == 0o600
        assert identity["Server"] == console.url and identity["InstanceId"].startswith("mi-")
        assert (root / "usr/local/bin/assist-agent").resolve() == prefix / "bin/assist-agent"
        wrapper = (prefix / "bin/assist-agent").read_text()
        assert f"'{pyz}' --state-dir '{state}'" in wrapper

        unit = (root / "etc/systemd/system/assist-agent.service").read_text()
        assert mode(root / "etc/systemd/system/assist-agent.service") == 0o644
        assert f"ExecStart={prefix}/bin/assist-agent run\n" in unit
        for line in ("Restart=always", "KillMode=process", "WantedBy=multi-user.target", "Type=simple"):
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

        # Uninstall: the service is stopped and disabled, everything install.sh made is gone.
        done = run_script(console, "uninstall.sh", ["--prefix", str(prefix), "--state-dir", str(state)], env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert log.read_text().splitlines()[2:] == ["disable --now assist-agent.service", "daemon-reload"]
        assert not prefix.exists() and not state.exists()
        assert not (root / "etc/systemd/system/assist-agent.service").exists()
        assert not (root / "usr/local/bin/assist-agent").is_symlink()
        assert not pidfile.exists()
    except Exception:
        print(console.procs.dump_logs())
        print(agent_log.read_text() if agent_log.exists() else "(no agent log)")
        raise
    finally:
        kill_recorded_agent(pidfile)


def test_without_systemd_the_agent_runs_under_its_own_supervisor(console, tmp_path):
    console.bootstrap()
    activation = console.create_activation(count=1)
    root = tmp_path / "root"  # no run/systemd/system: no systemd
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
        supervisor = int(pidfile.read_text())
        instance_id = json.loads((state / "identity.json").read_text())["InstanceId"]
        wait_until(lambda: instance_online(console, instance_id), timeout=60, interval=1, message="online")
        cmdline = Path(f"/proc/{supervisor}/cmdline").read_bytes().split(b"\0")
        assert b"supervise" in cmdline and str(prefix / "assist-agent.pyz").encode() in cmdline

        done = run_script(console, "uninstall.sh", [], env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "stopped the agent's supervisor" in done.stderr
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
