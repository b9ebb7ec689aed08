"""Self-update for real: install.sh puts an agent into a throwaway root without systemd, so it runs under
its own supervisor (real restarts through the installed launcher). Version N comes online; N+1 is published
and targeted while a long command runs under N: the command finishes and is reported, then the agent switches
and the console sees N+1. A broken N+2 (exits 1 at start) is targeted: it never comes online, the launcher
rolls back to N+1, which reconnects and reports the rollback, and the console stops offering N+2."""

import base64
import json
import os
import shutil
import signal
import sqlite3
import sys
import time
import zipapp
from pathlib import Path

import pytest
from alibabacloud_ecs20140526 import models

from tests.install.test_install import alive, run_script
from tests.live import embedded_console, sdk_client, wait_until

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl"),
]

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "agent"))
from assist_agent import __version__ as N  # noqa: E402

N1, N2 = N + ".1", N + ".2"


class Db:
    """Reads the console's SQLite database directly (read-only): quicker than a manage.py per poll."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def one(self, sql: str, *params):
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10) as db:
            return db.execute(sql, params).fetchone()

    def instance(self, instance_id: str) -> tuple[str, str | None]:
        return self.one("SELECT agent_version, deregistered_at FROM fleet_instance WHERE id = ?", instance_id)

    def update(self, instance_id: str):
        row = self.one(
            "SELECT state, version, detail, rejected_versions FROM releases_instanceupdate"
            " WHERE instance_id = ?",
            instance_id,
        )
        return None if row is None else (row[0], row[1], row[2], json.loads(row[3]))


def broken_pyz(path: Path, version: str) -> None:
    """A zipapp that names itself ``version`` and exits 1 as soon as it starts."""
    app = path.parent / "broken-app"
    (app / "assist_agent").mkdir(parents=True)
    (app / "assist_agent/__init__.py").write_text(f'__version__ = "{version}"\n')
    (app / "__main__.py").write_text("import sys\nsys.exit(1)\n")
    zipapp.create_archive(app, path, interpreter="/usr/bin/env python3")


@pytest.fixture
def console(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env={"ASSIST_DELIVERY_TIMEOUT": "60"})
    yield console
    procs.stop_all()


def test_agent_updates_itself_after_the_running_command_and_rolls_back_a_broken_version(console, tmp_path):
    key = console.bootstrap()
    activation = console.create_activation(count=1)
    db = Db(tmp_path / "data/assist.sqlite3")
    root = tmp_path / "root"
    (root / "etc/cron.d").mkdir(parents=True)  # no systemd; cron.d for the start at boot
    prefix, state = root / "opt/assist-agent", root / "var/lib/assist-agent"
    env = {
        "ASSIST_ROOT": str(root),
        "ASSIST_SYSTEMCTL": "/bin/false",
        "ASSIST_AGENT_UPDATE_CHECK_INTERVAL": "1",  # the agent asks for its target every second
        "ASSIST_AGENT_UPDATE_ATTEMPTS": "2",  # the launcher rolls back after two failed starts
    }
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
        supervisor = int(pidfile.read_text())
        assert os.readlink(prefix / "current") == f"versions/{N}"
        instance_id = json.loads((state / "identity.json").read_text())["InstanceId"]
        wait_until(lambda: db.instance(instance_id)[0] == N, timeout=30, message=f"{N} online")

        # N+1 is published (not targeted yet), then a long command starts under N. It runs until the test
        # lets it end (a file appears), not for a fixed time: however slow the machine, it is still running
        # when N+1 has been installed.
        console.procs.manage("publish_agent_release", "--from-source", "--version", N1)
        go = tmp_path / "let-the-command-end"
        client = sdk_client(console, key)
        invoke_id = client.run_command(
            models.RunCommandRequest(
                region_id="local",
                type="RunShellScript",
                command_content=f"while [ ! -e '{go}' ]; do sleep 0.2; done; echo done",
                instance_id=[instance_id],
                timeout=60,
            )
        ).body.invoke_id

        def result():
            request = models.DescribeInvocationResultsRequest(region_id="local", invoke_id=invoke_id)
            body = client.describe_invocation_results(request).body
            return body.invocation.invocation_results.invocation_result[0]

        wait_until(lambda: result().invocation_status == "Running", timeout=20, message="the command to run")

        # N+1 targeted while it runs: downloaded, verified, installed, and then the agent waits.
        console.procs.manage("set_agent_target", "--account", "acme", "--version", N1)
        wait_until(
            lambda: (db.update(instance_id) or ("",))[0] == "installed", timeout=30, message=f"{N1} installed"
        )
        time.sleep(2.5)  # the agent looks for idleness every 2 s (update.IDLE_POLL): give it a chance
        assert result().invocation_status == "Running"  # the switch waits for the command
        assert (db.update(instance_id) or ("",))[0] == "installed"
        assert db.instance(instance_id)[0] == N
        assert (prefix / f"versions/{N1}/assist-agent.pyz").is_file()

        # The command finishes under N and is reported; then the agent switches and N+1 comes online.
        go.touch()
        wait_until(lambda: db.instance(instance_id)[0] == N1, timeout=30, message=f"{N1} online")
        final = result()
        assert (final.invocation_status, final.exit_code) == ("Success", 0)
        assert base64.b64decode(final.output) == b"done\n"
        wait_until(lambda: db.update(instance_id)[:2] == ("committed", N1), timeout=10, message="commit")
        assert os.readlink(prefix / "current") == f"versions/{N1}"
        assert (prefix / f"versions/{N}/assist-agent.pyz").is_file()  # the previous version is kept
        assert not (state / "update/pending").exists()
        assert alive(supervisor)  # the same supervisor restarted it
        status = client.describe_cloud_assistant_status(
            models.DescribeCloudAssistantStatusRequest(region_id="local", instance_id=[instance_id])
        ).body.instance_cloud_assistant_status_set.instance_cloud_assistant_status[0]
        assert (status.cloud_assistant_status, status.cloud_assistant_version) == ("true", N1)

        # A broken N+2: it never comes online, the launcher rolls back to N+1, the console is told.
        broken = tmp_path / "broken.pyz"
        broken_pyz(broken, N2)
        console.procs.manage("publish_agent_release", str(broken))
        console.procs.manage("set_agent_target", "--account", "acme", "--version", N2)
        wait_until(
            lambda: (db.update(instance_id) or ("",))[:2] == ("rolled_back", N2),
            timeout=40,
            message=f"{N2} rolled back",
        )
        state_, version, detail, rejected = db.update(instance_id)
        assert rejected == [N2] and f"back on {N1}" in detail
        assert os.readlink(prefix / "current") == f"versions/{N1}"
        assert db.instance(instance_id)[0] == N1
        log = (state / "agent.log").read_text()
        assert f"version {N2} did not come online in 2 starts; rolling back to {N1}" in log
        # Not offered again: the agent stays on N+1 and runs commands.
        invoke_id = client.run_command(
            models.RunCommandRequest(
                region_id="local",
                type="RunShellScript",
                command_content="echo still",
                instance_id=[instance_id],
            )
        ).body.invoke_id
        wait_until(lambda: result().invocation_status == "Success", timeout=20, message="echo still")
        assert db.update(instance_id)[:2] == ("rolled_back", N2)
        assert os.readlink(prefix / "current") == f"versions/{N1}"

        # Uninstall deregisters and removes the boot entry.
        assert (
            (root / "etc/cron.d/assist-agent")
            .read_text()
            .endswith(f"@reboot root {prefix}/bin/assist-agent-start\n")
        )
        done = run_script(console, "uninstall.sh", [], env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert db.instance(instance_id)[1] is not None
        assert not (root / "etc/cron.d/assist-agent").exists() and not prefix.exists()
        wait_until(lambda: not alive(supervisor), timeout=10, message="the supervisor to end")
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
