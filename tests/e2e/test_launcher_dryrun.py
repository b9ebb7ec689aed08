"""Launcher and RepeatMode=DryRun end to end: the embedded console (`manage.py serve`), a real agent, the
official SDK. A launcher runs the script with python3; a dry run checks without running (a script that
would create a file does not), and a dry run in a missing working directory fails with DirectoryNotExists.
"""

import base64

import pytest
from alibabacloud_ecs20140526 import models

from tests.e2e.test_embedded import FAST, finished_results
from tests.live import embedded_console, sdk_client

pytestmark = pytest.mark.live


@pytest.fixture
def embedded(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env=FAST)
    yield console
    procs.stop_all()


def test_run_command_with_a_python_launcher(embedded):
    key = embedded.bootstrap()
    [instance_id] = embedded.add_agents(1)
    client = sdk_client(embedded, key)
    launcher = "python3 -u {{ACS::ScriptFileName|Ext(.py)}}"
    ran = client.run_command(
        models.RunCommandRequest(
            region_id="local",
            type="RunShellScript",
            command_content="import sys; print(sys.version_info[0])",
            instance_id=[instance_id],
            launcher=launcher,
        )
    )
    [row] = finished_results(client, ran.body.invoke_id, 1)
    assert (row.invocation_status, row.exit_code, row.error_code) == ("Success", 0, "")
    assert base64.b64decode(row.output).decode() == "3\n"
    assert row.launcher == launcher
    described = client.describe_invocations(
        models.DescribeInvocationsRequest(region_id="local", invoke_id=ran.body.invoke_id)
    )
    assert described.body.invocations.invocation[0].launcher == launcher


def test_dry_runs_check_without_running(embedded, tmp_path):
    key = embedded.bootstrap()
    [instance_id] = embedded.add_agents(1)
    client = sdk_client(embedded, key)
    created = tmp_path / "created-by-the-script"

    def dry_run(working_dir: str) -> str:
        ran = client.run_command(
            models.RunCommandRequest(
                region_id="local",
                type="RunShellScript",
                command_content=f"touch {created}",
                instance_id=[instance_id],
                working_dir=working_dir,
                repeat_mode="DryRun",
            )
        )
        return ran.body.invoke_id

    checked = dry_run(str(tmp_path))
    [row] = finished_results(client, checked, 1)
    assert (row.invocation_status, row.exit_code, row.error_code) == ("Success", 0, "")
    output = base64.b64decode(row.output).decode()
    assert output.startswith("dry run: nothing was run\n") and f"working directory: {tmp_path}" in output
    assert not created.exists()

    missing = dry_run("/nonexistent")
    [row] = finished_results(client, missing, 1)
    assert (row.invocation_status, row.error_code) == ("Failed", "DirectoryNotExists")
    assert "/nonexistent" in row.error_info
    assert not created.exists()

    described = client.describe_invocations(
        models.DescribeInvocationsRequest(region_id="local", repeat_mode="DryRun")
    )
    assert {i.invoke_id: i.repeat_mode for i in described.body.invocations.invocation} == {
        checked: "DryRun",
        missing: "DryRun",
    }
