"""Saved commands end to end: `manage.py serve` and real agents as subprocesses, the official SDK as the
client. Parameters and built-ins are rendered per instance; StopInvocation kills a running script."""

import base64

import pytest
from alibabacloud_ecs20140526 import models

from tests.e2e.test_embedded import FAST, _alive, finished_results, results
from tests.live import embedded_console, sdk_client, wait_until

pytestmark = pytest.mark.live


@pytest.fixture
def embedded(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env=FAST)
    yield console
    procs.stop_all()


def test_invoke_command_renders_parameters_per_instance(embedded):
    key = embedded.bootstrap()
    instance_ids = embedded.add_agents(2)
    client = sdk_client(embedded, key)
    script = "echo '{{greeting}}' {{ ACS::InstanceId }} {{ACS::InstanceName}} [{{unset}}]"
    created = client.create_command(
        models.CreateCommandRequest(
            region_id="local",
            name="greet",
            type="RunShellScript",
            command_content=base64.b64encode(script.encode()).decode(),
            enable_parameter=True,
        )
    )
    invoked = client.invoke_command(
        models.InvokeCommandRequest(
            region_id="local",
            command_id=created.body.command_id,
            instance_id=instance_ids,
            parameters={"greeting": "hello $(world)"},
        )
    )
    rows = {r.instance_id: r for r in finished_results(client, invoked.body.invoke_id, 2)}
    for n, instance_id in enumerate(instance_ids):
        assert rows[instance_id].invocation_status == "Success"
        expected = f"hello $(world) {instance_id} host-{n:03d} []\n"
        assert base64.b64decode(rows[instance_id].output).decode() == expected


def test_stop_invocation_terminates_a_running_script_and_its_children(embedded, tmp_path):
    key = embedded.bootstrap()
    [instance_id] = embedded.add_agents(1)
    client = sdk_client(embedded, key, signature_v1=True)
    pid_file = tmp_path / "sleep.pid"
    ran = client.run_command(
        models.RunCommandRequest(
            region_id="local",
            type="RunShellScript",
            command_content=f"sleep 30 & echo $! > {pid_file}; wait",
            instance_id=[instance_id],
            timeout=60,
            # No TerminationMode: the default (ProcessTree) stops the whole tree.
        )
    )
    invoke_id = ran.body.invoke_id
    wait_until(lambda: results(client, invoke_id)[0].invocation_status == "Running", message="Running")
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), message="the pid file")
    sleeper = int(pid_file.read_text())
    assert _alive(sleeper)

    client.stop_invocation(models.StopInvocationRequest(region_id="local", invoke_id=invoke_id))

    def ended():
        [row] = results(client, invoke_id)
        return row if row.invocation_status not in ("Running", "Stopping") else None

    result = wait_until(ended, timeout=20, message="the stopped run to end")
    assert (result.invocation_status, result.error_code) == ("Terminated", "ExecutionInterrupted")
    assert result.stop_time and result.finished_time
    wait_until(lambda: not _alive(sleeper), timeout=5, message="the script's child to die")

    described = client.describe_invocations(
        models.DescribeInvocationsRequest(region_id="local", invoke_id=invoke_id)
    )
    [invocation] = described.body.invocations.invocation
    assert (invocation.invocation_status, invocation.invoke_status) == ("Stopped", "Stopped")
    [instance] = invocation.invoke_instances.invoke_instance
    assert (instance.invocation_status, instance.stop_time != "") == ("Terminated", True)
