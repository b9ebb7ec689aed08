"""console.invocations.delivery: the task.run frame carries the invocation's run options to the agent."""

import json

import pytest
from assist_agent import protocol

from console.invocations import services
from console.invocations.delivery import encoded_task_runs, invocation_task_runs, task_run_frame
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


@pytest.mark.parametrize(
    ("fields", "script"),
    [
        ({}, "echo hi"),
        (
            {"termination_mode": "", "working_dir": "/tmp/a b", "username": "ops"},
            'echo "quo\\"te" 中文 \\u00e9',
        ),
        ({"container_name": "web", "timeout": 7}, "printf '%s\\n' \"$HOME\"\n\tnext line"),
        ({"enable_parameter": True}, "echo {{name}}"),  # rendered per instance: each frame encoded alone
    ],
)
def test_frames_made_from_one_encoded_frame_equal_frames_encoded_one_by_one(root_principal, fields, script):
    instances = [make_instance(root_principal) for _ in range(3)]
    invocation = services.invocation_run_command(
        principal=root_principal,
        instance_ids=[i.id for i in instances],
        command_content=script,
        timeout=30,
    )
    type(invocation).objects.filter(pk=invocation.pk).update(**fields)
    results = list(InvocationResult.objects.select_related("invocation").filter(invocation=invocation))
    for n, result in enumerate(results):  # per-instance contents, as parameters render them
        InvocationResult.objects.filter(pk=result.pk).update(content=f"echo instance {n} 'é'")
    results = list(InvocationResult.objects.select_related("invocation").filter(invocation=invocation))
    rows = [(r.id, r.instance_id, r.content) for r in results]

    made = invocation_task_runs(results[0].invocation, rows)

    assert made == encoded_task_runs(results)
    contents = {json.loads(frames[0])["content"] for frames in made.values()}
    assert len(contents) == (3 if fields.get("enable_parameter") else 1)


def test_dispatch_hands_every_pending_task_its_own_frame(root_principal, monkeypatch):
    from console.invocations import events, tasks

    instances = [make_instance(root_principal) for _ in range(4)]
    ids = [i.id for i in instances]
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=ids, command_content="echo hi", timeout=30
    )
    handed: list[dict[str, list[str]]] = []
    monkeypatch.setattr(events, "deliver_tasks", handed.append)
    running = InvocationResult.objects.filter(invocation=invocation, instance_id=ids[0])
    running.update(status="Running")  # not Pending: not handed out again

    assert tasks.dispatch_invocation(invocation.id) == 3
    assert tasks.dispatch_invocation("t-does-not-exist") == 0

    frames = {
        iid: [protocol.decode(text, sender="console") for text in texts] for iid, texts in handed[0].items()
    }
    pending = InvocationResult.objects.filter(invocation=invocation, status="Pending")
    expected = {r.instance_id: [r.id] for r in pending}
    assert {iid: [f.task_id for f in fs] for iid, fs in frames.items()} == expected
    assert {f.content for fs in frames.values() for f in fs} == {"echo hi"}
