"""Reboot tasks end to end: `manage.py serve`, a real agent whose boot id comes from $ASSIST_AGENT_BOOT_ID
(a new value is a reboot to the console), the official SDK as the client. A NextRebootOnly task waits
Scheduled until the agent comes back from another boot, runs once and is done; an EveryReboot task runs
once per boot (a reconnect from the same boot starts nothing) and lists each run with IncludeHistory."""

import base64
import os
import signal
import sys
import time

import pytest
from alibabacloud_ecs20140526 import models

from tests.e2e.test_embedded import FAST
from tests.live import embedded_console, sdk_client, wait_until

pytestmark = pytest.mark.live


@pytest.fixture
def embedded(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env=FAST)
    yield console
    procs.stop_all()


def boot_agent(console, name: str, boot_id: str) -> None:
    """(Re)start the agent ``name`` as if the machine had booted with ``boot_id``."""
    old = console.agents.get(name)
    if old is not None and old.poll() is None:
        os.killpg(old.pid, signal.SIGTERM)
        old.wait(timeout=30)
    state = console.procs.workdir / "agents" / name
    console.agents[name] = console.procs.spawn(
        f"agent-{name}-{boot_id}",
        [sys.executable, "-m", "assist_agent", "run", "--state-dir", str(state)],
        env={"ASSIST_AGENT_BOOT_ID": boot_id},
    )


def invocation(client, invoke_id):
    request = models.DescribeInvocationsRequest(region_id="local", invoke_id=invoke_id)
    [row] = client.describe_invocations(request).body.invocations.invocation
    return row


def results(client, invoke_id, history=False):
    request = models.DescribeInvocationResultsRequest(
        region_id="local", invoke_id=invoke_id, include_history=history
    )
    return client.describe_invocation_results(request).body.invocation.invocation_results.invocation_result


def online(client, instance_id):
    request = models.DescribeCloudAssistantStatusRequest(region_id="local", instance_id=[instance_id])
    statuses = client.describe_cloud_assistant_status(request).body.instance_cloud_assistant_status_set
    return statuses.instance_cloud_assistant_status[0].cloud_assistant_status == "true"


def run_at_reboot(client, instance_id, mode):
    request = models.RunCommandRequest(
        region_id="local",
        type="RunShellScript",
        command_content="echo booted $(date +%s%N)",
        instance_id=[instance_id],
        repeat_mode=mode,
        timeout=30,
    )
    return client.run_command(request).body.invoke_id


def reconnected_and_settled(client, console, name, instance_id):
    """After a restart: the agent said hello again (its connection is up) and a moment passed for a task
    that would (wrongly) start."""
    wait_until(lambda: online(client, instance_id), timeout=30, message=f"{name} to say hello")
    time.sleep(1.5)


def test_next_reboot_only_runs_once_after_the_agent_comes_back_from_another_boot(embedded):
    key = embedded.bootstrap()
    activation = embedded.create_activation(count=1)
    instance_id = embedded.register_agent("box", activation)
    client = sdk_client(embedded, key)
    boot_agent(embedded, "box", "boot-1")
    wait_until(lambda: online(client, instance_id), timeout=30, message="the agent's first hello")

    invoke_id = run_at_reboot(client, instance_id, "NextRebootOnly")
    row = invocation(client, invoke_id)
    assert (row.repeat_mode, row.invocation_status, row.timed) == ("NextRebootOnly", "Scheduled", True)

    boot_agent(embedded, "box", "boot-1")  # the agent restarts, the machine did not reboot
    reconnected_and_settled(client, embedded, "box", instance_id)
    [waiting] = results(client, invoke_id)
    assert waiting.invocation_status == "Scheduled"

    boot_agent(embedded, "box", "boot-2")  # a reboot
    done = wait_until(
        lambda: [r for r in results(client, invoke_id) if r.invocation_status == "Success"] or None,
        timeout=30,
        message="the reboot task to run",
    )
    assert base64.b64decode(done[0].output).startswith(b"booted ")
    assert done[0].repeats == 1
    row = invocation(client, invoke_id)
    assert (row.invocation_status, row.timed) == ("Success", False)

    boot_agent(embedded, "box", "boot-3")  # later boots start nothing
    reconnected_and_settled(client, embedded, "box", instance_id)
    [only] = results(client, invoke_id)
    assert (only.invocation_status, only.repeats) == ("Success", 1)


def test_every_reboot_runs_once_per_boot_until_stopped(embedded):
    key = embedded.bootstrap()
    activation = embedded.create_activation(count=1)
    instance_id = embedded.register_agent("box", activation)
    client = sdk_client(embedded, key)
    boot_agent(embedded, "box", "boot-1")
    wait_until(lambda: online(client, instance_id), timeout=30, message="the agent's first hello")
    invoke_id = run_at_reboot(client, instance_id, "EveryReboot")

    def runs():
        return [r for r in results(client, invoke_id, history=True) if r.invocation_status == "Success"]

    for number, boot in enumerate(("boot-2", "boot-3"), start=1):
        boot_agent(embedded, "box", boot)
        wait_until(lambda n=number: len(runs()) >= n or None, timeout=30, message=f"the run of {boot}")
        boot_agent(embedded, "box", boot)  # a reconnect from the same boot runs nothing more
        reconnected_and_settled(client, embedded, "box", instance_id)
        assert len(runs()) == number
    history = sorted(runs(), key=lambda r: r.repeats)
    assert [r.repeats for r in history] == [1, 2]
    outputs = [base64.b64decode(r.output) for r in history]
    assert all(text.startswith(b"booted ") for text in outputs)
    assert int(outputs[0].split()[1]) < int(outputs[1].split()[1])  # two runs, one per boot
    [latest] = results(client, invoke_id)
    assert latest.invocation_status == "Scheduled"  # waiting for the next boot

    client.stop_invocation(models.StopInvocationRequest(region_id="local", invoke_id=invoke_id))
    assert invocation(client, invoke_id).invocation_status == "Stopped"
    boot_agent(embedded, "box", "boot-4")
    reconnected_and_settled(client, embedded, "box", instance_id)
    assert len(runs()) == 2
