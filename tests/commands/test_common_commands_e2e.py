"""Common commands end to end: `manage.py serve` and a real agent as subprocesses, the official SDK as the
client. InvokeCommand names a public command by its name (the newest version runs) or by a version's id;
the agent runs the shipped script and reports its output."""

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


def output(row) -> str:
    return base64.b64decode(row.output).decode()


def test_invoke_public_commands_by_name_and_by_id_on_a_real_agent(embedded):
    key = embedded.bootstrap()
    [instance_id] = embedded.add_agents(1)
    client = sdk_client(embedded, key)

    listed = client.describe_commands(
        models.DescribeCommandsRequest(
            region_id="local", provider="AlibabaCloud", name="InstanceHealthCheck-for-linux", latest=True
        )
    ).body.commands.command
    assert [(c.name, c.version, c.latest, c.category) for c in listed] == [
        ("ACS-ECS-InstanceHealthCheck-for-linux.sh", 2, True, "Diagnose")
    ]

    health = client.invoke_command(
        models.InvokeCommandRequest(
            region_id="local",
            command_id="ACS-ECS-InstanceHealthCheck-for-linux.sh",
            instance_id=[instance_id],
            parameters={"disk_threshold": 100},
        )
    )
    [row] = finished_results(client, health.body.invoke_id, 1, timeout=60)
    assert (row.invocation_status, row.exit_code, row.command_id) == (
        "Success",
        0,
        "c-acs-healthcheck-linux-v2",
    )
    text = output(row)
    assert "== health check of " in text and "threshold 100%" in text
    assert "agent: running" in text  # the agent that runs the script is an assist_agent process
    assert text.rstrip().splitlines()[-1].startswith("health: ")

    plan = client.invoke_command(
        models.InvokeCommandRequest(
            region_id="local",
            command_id="c-acs-installpackage-linux-v1",
            instance_id=[instance_id],
            parameters={"packages": "curl", "dry_run": True},
        )
    )
    [row] = finished_results(client, plan.body.invoke_id, 1, timeout=60)
    assert row.invocation_status == "Success", output(row)
    lines = output(row).splitlines()
    assert lines[0].startswith("package manager: ")
    assert any(line.startswith("would run: ") and line.endswith(" curl") for line in lines)
    assert not any(line.startswith("running: ") for line in lines)
