"""task.run's optional run options (protocol 2): termination_mode, container_id, container_name.

An option left at its default is absent on the wire, so a protocol 1 agent still accepts the frame; a frame
without them (a protocol 1 console) decodes with the defaults.
"""

from __future__ import annotations

import json

import pytest
from assist_agent import protocol as p

BASE = {
    "type": "task.run",
    "task_id": "t-1",
    "command_type": "RunShellScript",
    "content": "echo hi",
    "working_dir": "",
    "username": "",
    "timeout": 60,
}


def _frame(**options: object) -> p.TaskRun:
    return p.TaskRun("t-1", "RunShellScript", "echo hi", "", "", 60.0, **options)  # type: ignore[arg-type]


def test_a_protocol_1_frame_decodes_with_the_defaults() -> None:
    frame = p.decode(json.dumps(BASE), sender="console")
    assert isinstance(frame, p.TaskRun)
    assert (frame.termination_mode, frame.container_id, frame.container_name) == ("ProcessTree", "", "")


def test_defaults_are_left_out_on_the_wire() -> None:
    assert json.loads(p.encode(_frame())) == {**BASE, "timeout": 60.0}


@pytest.mark.parametrize(
    ("options", "wire"),
    [
        ({"termination_mode": "Process"}, {"termination_mode": "Process"}),
        ({"termination_mode": "ProcessTree"}, {}),
        ({"container_id": "docker://abc"}, {"container_id": "docker://abc"}),
        ({"container_name": "web"}, {"container_name": "web"}),
        (
            {"termination_mode": "Process", "container_id": "c1", "container_name": "web"},
            {"termination_mode": "Process", "container_id": "c1", "container_name": "web"},
        ),
    ],
)
def test_options_round_trip(options: dict[str, str], wire: dict[str, str]) -> None:
    frame = _frame(**options)
    text = p.encode(frame)
    assert json.loads(text) == {**BASE, "timeout": 60.0, **wire}
    assert p.decode(text, sender="console") == frame


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("termination_mode", "Group", "task.run.termination_mode must be one of Process, ProcessTree"),
        ("termination_mode", "", "task.run.termination_mode must be one of Process, ProcessTree"),
        ("termination_mode", None, "task.run.termination_mode must be one of Process, ProcessTree"),
        ("container_id", 5, "task.run.container_id must be a string"),
        ("container_name", "x" * 256, "task.run.container_name must be at most 255 characters"),
    ],
)
def test_bad_options_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(p.ProtocolError) as caught:
        p.decode(json.dumps({**BASE, field: value}), sender="console")
    assert caught.value.code == "InvalidField"
    assert caught.value.message == message


def test_an_unknown_field_is_still_refused() -> None:
    with pytest.raises(p.ProtocolError, match="unexpected field"):
        p.decode(json.dumps({**BASE, "oss_output_delivery": "x"}), sender="console")


def test_the_hello_says_protocol_4() -> None:
    assert p.PROTOCOL_VERSION == 4


@pytest.mark.parametrize(
    ("options", "peer", "expected"),
    [
        ({}, 1, {}),
        ({"termination_mode": "Process"}, 1, {}),  # a protocol 1 agent kills the tree: still stops
        ({"termination_mode": "Process"}, 2, {"termination_mode": "Process"}),
        ({"container_id": "c1"}, 1, None),  # cannot run in a container: ClientNeedUpgrade
        ({"container_name": "web"}, 1, None),
        ({"container_name": "web"}, 2, {"container_name": "web"}),
        # Protocol 3: launcher and dry_run. An older agent would run the script with its default shell, or
        # for real: never sent to it (ClientNeedUpgrade).
        ({"launcher": "python3"}, 2, None),
        ({"launcher": "python3"}, 1, None),
        ({"dry_run": True}, 2, None),
        ({"launcher": "python3"}, 3, {"launcher": "python3"}),
        ({"dry_run": True}, 3, {"dry_run": True}),
    ],
)
def test_task_run_for_peer(options: dict[str, object], peer: int, expected: dict[str, object] | None) -> None:
    sent = p.task_run_for_peer(_frame(**options), peer)
    if expected is None:
        assert sent is None
        return
    assert sent is not None
    assert json.loads(p.encode(sent)) == {**BASE, "timeout": 60.0, **expected}


@pytest.mark.parametrize(
    ("options", "peer", "feature"),
    [
        ({"container_id": "c1"}, 1, "a command in a container"),
        ({"container_id": "c1"}, 2, ""),
        ({"launcher": "python3"}, 2, "a command with a Launcher"),
        ({"dry_run": True, "launcher": "python3"}, 2, "a dry run (RepeatMode=DryRun)"),
        ({"dry_run": True}, 3, ""),
    ],
)
def test_task_run_missing_feature(options: dict[str, object], peer: int, feature: str) -> None:
    assert p.task_run_missing_feature(_frame(**options), peer) == feature
