"""Rate control end to end: `manage.py serve`, three real agents, RunCommand with this server's extra
parameters MaxConcurrency and MaxErrors sent through the official SDK's generic call (its typed request
has no such fields). MaxConcurrency=1 never runs two at once (each script stamps its own start and end
with nanoseconds); MaxErrors=0 cancels the instances not yet started after the first failure."""

import base64

import pytest
from alibabacloud_ecs20140526 import models
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_util import models as util_models

from tests.e2e.test_embedded import FAST, finished_results
from tests.integration.test_production_mode import (  # noqa: F401 - fixtures of the production test
    database,
    production,
    redis_url,
)
from tests.live import embedded_console, sdk_client

pytestmark = pytest.mark.live


@pytest.fixture
def embedded(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env=FAST)
    yield console
    procs.stop_all()


def run_with_rate_control(client, instance_ids, content, **extra):
    """RunCommand with the extra parameters, signed and sent by the SDK's generic RPC call."""
    params = open_api_models.Params(
        action="RunCommand", version="2014-05-26", protocol="HTTP", pathname="/", method="POST",
        auth_type="AK", style="RPC", req_body_type="formData", body_type="json",
    )  # fmt: skip
    query = {"RegionId": "local", "Type": "RunShellScript", "CommandContent": content, "Timeout": "60"}
    query.update({f"InstanceId.{n}": i for n, i in enumerate(instance_ids, start=1)})
    query.update(extra)
    answer = client.call_api(
        params, open_api_models.OpenApiRequest(query=query), util_models.RuntimeOptions()
    )
    return answer["body"]["InvokeId"]


def test_max_concurrency_one_never_runs_two_at_once(embedded):
    key = embedded.bootstrap()
    instance_ids = embedded.add_agents(3)
    client = sdk_client(embedded, key)
    assert_one_at_a_time(client, instance_ids)


def assert_one_at_a_time(client, instance_ids):
    script = "echo start $(date +%s%N); sleep 1; echo end $(date +%s%N)"
    invoke_id = run_with_rate_control(client, instance_ids, script, MaxConcurrency="1")
    row = client.describe_invocations(
        models.DescribeInvocationsRequest(region_id="local", invoke_id=invoke_id)
    ).body.invocations.invocation[0]
    assert row.invocation_status in ("Pending", "Running")
    rows = finished_results(client, invoke_id, 3, timeout=60)
    assert {r.invocation_status for r in rows} == {"Success"}
    spans = []
    for result in rows:
        words = base64.b64decode(result.output).split()
        assert (words[0], words[2]) == (b"start", b"end")
        spans.append((int(words[1]), int(words[3]), result.instance_id))
    spans.sort()
    for (_, previous_end, _), (next_start, _, _) in zip(spans, spans[1:], strict=False):
        assert next_start >= previous_end, f"two ran at once: {spans}"
    # They ran in instance id order, one slot at a time.
    assert [instance for _, _, instance in spans] == sorted(instance_ids)


def test_max_errors_zero_cancels_the_rest_after_one_failure(embedded):
    key = embedded.bootstrap()
    instance_ids = embedded.add_agents(3)
    client = sdk_client(embedded, key)
    invoke_id = run_with_rate_control(
        client, instance_ids, "echo failing; exit 4", MaxConcurrency="1", MaxErrors="0"
    )
    rows = {r.instance_id: r for r in finished_results(client, invoke_id, 3, timeout=60)}
    first, *rest = sorted(instance_ids)
    assert (rows[first].invocation_status, rows[first].exit_code) == ("Failed", 4)
    for instance_id in rest:
        assert (rows[instance_id].invocation_status, rows[instance_id].error_code) == (
            "Cancelled",
            "MaxErrorsExceeded",
        )
        assert "MaxErrors=0" in rows[instance_id].error_info
        assert rows[instance_id].output == ""  # it never ran
    row = client.describe_invocations(
        models.DescribeInvocationsRequest(region_id="local", invoke_id=invoke_id)
    ).body.invocations.invocation[0]
    assert row.invocation_status == "Failed"


@pytest.mark.integration
def test_max_concurrency_in_production_mode_across_nodes(production):  # noqa: F811 - the fixture
    """PostgreSQL row locks, the Celery worker's dispatch and Redis: the agents' results reach two daphne
    nodes, each release is dispatched through the worker to the agent's node."""
    _procs, (node_a, node_b) = production
    key = node_a.bootstrap()
    activation = node_a.create_activation(count=3)
    homes = [node_a, node_b, node_a]
    instance_ids = [home.register_agent(f"agent-{n}", activation) for n, home in enumerate(homes)]
    for n, home in enumerate(homes):
        home.start_agent(f"agent-{n}")
    assert_one_at_a_time(sdk_client(node_b, key), instance_ids)
