"""Run as another OS user, in a working directory, end to end: the embedded console, a real agent running
as root, the official SDK, and a throwaway OS user made for the test (useradd; removed afterwards).

The agent switches user and group before the script starts (uid, gid, supplementary groups, HOME), runs
it in WorkingDir, and refuses an unknown user (AccountNotExists) or a missing directory
(DirectoryNotExists) without running anything."""

import base64
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from alibabacloud_ecs20140526 import models

from tests.e2e.test_agent_run_options import finished, new_agent
from tests.live import embedded_console, sdk_client

pytestmark = pytest.mark.live


@pytest.fixture
def throwaway_user():
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs as root with useradd: the run-as-user test must run there")
        pytest.skip("needs root and useradd to make a throwaway OS user")
    name = f"assist-t{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


@pytest.fixture
def embedded(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env={"ASSIST_DELIVERY_TIMEOUT": "10"})
    yield console
    procs.stop_all()


def run(client, instance_id, content, **options):
    request = models.RunCommandRequest(
        region_id="local",
        type="RunShellScript",
        command_content=content,
        instance_id=[instance_id],
        **options,
    )
    return client.run_command(request).body.invoke_id


def test_runs_as_a_throwaway_user_in_its_working_dir_and_refuses_bad_ones(embedded, throwaway_user, tmp_path):
    client = sdk_client(embedded, embedded.bootstrap())
    instance_id, _ = new_agent(embedded, "runas", {})
    workdir = Path(f"/home/{throwaway_user}/work")  # pytest's tmp dirs are closed to other users
    workdir.mkdir()
    shutil.chown(workdir, user=throwaway_user)

    invoke_id = run(
        client,
        instance_id,
        'id -un; id -u; echo "$HOME"; pwd; touch made-here',
        username=throwaway_user,
        working_dir=str(workdir),
    )
    result = finished(client, invoke_id)
    assert (result.invocation_status, result.exit_code) == ("Success", 0), result.error_info
    name, uid, home, cwd = base64.b64decode(result.output).decode().split()
    assert (name, uid) == (
        throwaway_user,
        str(subprocess.check_output(["id", "-u", throwaway_user]).decode().strip()),
    )
    assert home == f"/home/{throwaway_user}" and cwd == str(workdir)
    made = workdir / "made-here"
    assert made.is_file() and made.owner() == throwaway_user  # written as that user, not as root

    unknown = finished(client, run(client, instance_id, "touch /tmp/never", username="no-such-user-assist"))
    assert (unknown.invocation_status, unknown.error_code) == ("Error", "AccountNotExists")
    missing = finished(client, run(client, instance_id, "echo never", working_dir=str(tmp_path / "absent")))
    assert (missing.invocation_status, missing.error_code) == ("Failed", "DirectoryNotExists")
    assert base64.b64decode(missing.output) == b""
