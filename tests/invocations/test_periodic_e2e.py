"""A periodic task end to end: `manage.py serve` and a real agent as subprocesses, the official SDK as
the client. With the test-only minimum rate (ASSIST_MIN_RATE_SECONDS=1) a rate(2s) task runs at least
twice within seconds, each run a new task for the agent with its own output; IncludeHistory lists them;
StopInvocation ends the schedule."""

import base64
import time

import pytest
from alibabacloud_ecs20140526 import models

from tests.e2e.test_embedded import FAST
from tests.live import embedded_console, sdk_client, wait_until

pytestmark = pytest.mark.live


@pytest.fixture
def embedded(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env={**FAST, "ASSIST_MIN_RATE_SECONDS": "1"})
    yield console
    procs.stop_all()


def history(client, invoke_id):
    request = models.DescribeInvocationResultsRequest(
        region_id="local", invoke_id=invoke_id, include_history=True
    )
    return client.describe_invocation_results(request).body.invocation.invocation_results.invocation_result


def overall(client, invoke_id):
    request = models.DescribeInvocationsRequest(region_id="local", invoke_id=invoke_id)
    [row] = client.describe_invocations(request).body.invocations.invocation
    return row


def test_a_rate_task_runs_twice_then_stop_ends_it(embedded):
    key = embedded.bootstrap()
    [instance_id] = embedded.add_agents(1)
    client = sdk_client(embedded, key)
    ran = client.run_command(
        models.RunCommandRequest(
            region_id="local",
            type="RunShellScript",
            command_content="echo run $(date +%s%N)",
            instance_id=[instance_id],
            repeat_mode="Period",
            frequency="rate(2s)",
            timeout=1,
        )
    )
    invoke_id = ran.body.invoke_id
    first = overall(client, invoke_id)
    assert (first.invocation_status, first.repeat_mode, first.timed) == ("Scheduled", "Period", True)

    def two_runs():
        rows = [r for r in history(client, invoke_id) if r.invocation_status == "Success"]
        return rows if len(rows) >= 2 else None

    runs = wait_until(two_runs, timeout=15, message="two executions of the rate(2s) task")
    outputs = [base64.b64decode(r.output).decode() for r in runs]
    assert all(text.startswith("run ") for text in outputs)
    assert len(set(outputs)) == len(outputs)  # each run is a new execution with its own output
    assert sorted(r.repeats for r in runs)[:2] == [1, 2]
    assert all(r.instance_id == instance_id and r.exit_code == 0 for r in runs)

    client.stop_invocation(models.StopInvocationRequest(region_id="local", invoke_id=invoke_id))
    stopped = wait_until(
        lambda: overall(client, invoke_id).invocation_status in ("Stopped", "Success"),
        timeout=10,
        message="the stopped schedule to settle",
    )
    assert stopped
    row = overall(client, invoke_id)
    assert (row.invocation_status, row.timed) == ("Stopped", False)
    count = len(history(client, invoke_id))
    time.sleep(2.5)  # more than one interval: nothing runs any more
    assert len(history(client, invoke_id)) == count


# --- Production mode: the schedule is driven by `celery beat`'s tick, runs go through the worker and Redis.


@pytest.fixture
def short_rates(monkeypatch):
    monkeypatch.setenv("ASSIST_MIN_RATE_SECONDS", "1")  # read by every process the production fixture starts


@pytest.mark.integration
def test_celery_beat_runs_a_periodic_task_on_an_agent_of_the_other_node(short_rates, production):
    _procs, (node_a, node_b) = production
    key = node_a.bootstrap()
    activation = node_a.create_activation(count=1)
    instance_id = node_a.register_agent("agent-0", activation)
    node_a.start_agent("agent-0")
    client = sdk_client(node_b, key)
    invoke_id = client.run_command(
        models.RunCommandRequest(
            region_id="local", type="RunShellScript", command_content="echo beat", instance_id=[instance_id],
            frequency="rate(2s)", timeout=1,
        )
    ).body.invoke_id  # fmt: skip

    def two_runs():
        rows = [r for r in history(client, invoke_id) if r.invocation_status == "Success"]
        return rows if len(rows) >= 2 else None

    runs = wait_until(two_runs, timeout=40, message="two executions driven by celery beat")
    assert {base64.b64decode(r.output) for r in runs} == {b"beat\n"}
    client.stop_invocation(models.StopInvocationRequest(region_id="local", invoke_id=invoke_id))
    wait_until(
        lambda: overall(client, invoke_id).invocation_status == "Stopped", timeout=20, message="the stop"
    )
