"""console.invocations.delivery: the task.run frame carries the invocation's run options to the agent."""

import json

import pytest
from assist_agent import protocol

from console.invocations import services
from console.invocations.delivery import encoded_task_runs, task_run_frame
from console.invocations.models import InvocationResult
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db


def _result(principal, **fields):
    instance = make_instance(principal)
    invocation = services.invocation_run_command(
        principal=principal, instance_ids=[instance.id], command_content="echo hi", timeout=30
    )
    type(invocation).objects.filter(pk=invocation.pk).update(**fields)  # as the API stores them
    return InvocationResult.objects.select_related("invocation").get(invocation=invocation)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"termination_mode": "Process"}, ("Process", "", "")),
        ({"termination_mode": "ProcessTree"}, ("ProcessTree", "", "")),
        ({"termination_mode": ""}, ("ProcessTree", "", "")),  # a row from before the field
        (
            {"container_id": "docker://" + "a" * 55, "container_name": ""},
            ("Process", "docker://" + "a" * 55, ""),
        ),
        ({"container_name": "web", "termination_mode": "ProcessTree"}, ("ProcessTree", "", "web")),
    ],
)
def test_the_frame_carries_the_run_options(root_principal, fields, expected):
    fields.setdefault("termination_mode", "Process")
    result = _result(root_principal, **fields)
    frame = task_run_frame(result)
    assert (frame.termination_mode, frame.container_id, frame.container_name) == expected
    wire = json.loads(encoded_task_runs([result])[result.instance_id][0])
    assert protocol.decode(json.dumps(wire), sender="console") == frame
    assert wire.get("container_id", "") == expected[1]
