"""A cron without a zone end to end: `manage.py serve` and two real agents as subprocesses, one started
with TZ=Asia/Shanghai and one with TZ=UTC. Each agent reports its zone in the hello (kept on the Instance
row); a cron set to a Shanghai wall-clock time a few seconds ahead runs on the Shanghai instance then,
while the UTC instance waits for that time of day in UTC, eight hours away."""

import json
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alibabacloud_ecs20140526 import models

from tests.e2e.test_embedded import FAST
from tests.live import embedded_console, sdk_client, wait_until

pytestmark = pytest.mark.live

ZONES_OF_INSTANCES = (
    "import json; from console.fleet.models import Instance; "
    "print(json.dumps(dict(Instance.objects.values_list('id', 'time_zone'))))"
)


@pytest.fixture
def embedded(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env=FAST)
    yield console
    procs.stop_all()


def start_agent_in_zone(console, name, zone):
    state = console.procs.workdir / "agents" / name
    argv = [sys.executable, "-m", "assist_agent", "run", "--state-dir", str(state)]
    console.agents[name] = console.procs.spawn(f"agent-{name}", argv, env={"TZ": zone})


def latest_status(client, invoke_id, instance_id):
    request = models.DescribeInvocationResultsRequest(
        region_id="local", invoke_id=invoke_id, instance_id=instance_id
    )
    [row] = client.describe_invocation_results(request).body.invocation.invocation_results.invocation_result
    return row.invocation_status


def test_a_zone_less_cron_runs_at_each_agents_local_time(embedded):
    key = embedded.bootstrap()
    activation = embedded.create_activation(count=2)
    shanghai = embedded.register_agent("shanghai", activation)
    utc = embedded.register_agent("utc", activation)
    start_agent_in_zone(embedded, "shanghai", "Asia/Shanghai")
    start_agent_in_zone(embedded, "utc", "UTC")

    def zones_reported():
        zones = json.loads(embedded.procs.manage("shell", "-c", ZONES_OF_INSTANCES).strip().splitlines()[-1])
        return zones if zones.get(shanghai) and zones.get(utc) else None

    zones = wait_until(zones_reported, timeout=60, message="both agents to say hello with their zone")
    assert zones == {shanghai: "Asia/Shanghai", utc: "UTC"}

    # A daily cron at the Shanghai wall-clock time 10 s from now, without a zone.
    at = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(seconds=10)
    client = sdk_client(embedded, key)
    daily = f"{at.second} {at.minute} {at.hour} * * ?"
    ran = client.run_command(
        models.RunCommandRequest(
            region_id="local", type="RunShellScript", command_content="echo on time", timeout=5,
            instance_id=[shanghai, utc], repeat_mode="Period", frequency=daily,
        )
    )  # fmt: skip
    invoke_id = ran.body.invoke_id

    def ran_on(instance_id):
        return [r for r in history(client, invoke_id) if r.instance_id == instance_id and r.repeats]

    [run] = wait_until(lambda: ran_on(shanghai), timeout=60, message="the Shanghai instance's run on time")
    assert run.invocation_status in ("Pending", "Running", "Success")
    assert latest_status(client, invoke_id, utc) == "Scheduled"  # its turn is at that time of day in UTC
    assert not ran_on(utc)


def history(client, invoke_id):
    request = models.DescribeInvocationResultsRequest(
        region_id="local", invoke_id=invoke_id, include_history=True
    )
    return client.describe_invocation_results(request).body.invocation.invocation_results.invocation_result
