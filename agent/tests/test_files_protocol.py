"""The file transfer frames are as strict as the others: each bad field is refused with InvalidField, and
each side may only send its own frames."""

import json

import pytest
from assist_agent import protocol as p

SEND = {
    "type": "file.send", "task_id": "fr-1", "name": "a", "target_dir": "/a", "owner": "", "group": "",
    "mode": "0644", "overwrite": False, "size": 0, "sha256": "0" * 64, "timeout": 60,
}  # fmt: skip
READ = {"type": "file.read", "task_id": "fr-1", "offset": 0, "length": 1}
DATA = {"type": "file.data", "task_id": "fr-1", "offset": 0, "data": ""}
RESULT = {
    "type": "file.result", "task_id": "fr-1", "status": "Success", "error_code": "", "error_info": "",
    "started_at": None, "finished_at": 1.0,
}  # fmt: skip
ABORT = {"type": "file.abort", "task_id": "fr-1", "reason": ""}

BAD = [
    (SEND, "overwrite", "true"),
    (SEND, "overwrite", 1),
    (SEND, "size", -1),
    (SEND, "size", 1.0),
    (SEND, "sha256", "A" * 64),
    (SEND, "sha256", "0" * 63),
    (SEND, "timeout", 0),
    (SEND, "name", ""),
    (SEND, "target_dir", ""),
    (SEND, "task_id", "../x"),
    (READ, "length", 0),
    (READ, "length", p.MAX_FILE_READ + 1),
    (READ, "offset", -1),
    (DATA, "data", "not base64"),
    (DATA, "offset", None),
    (RESULT, "status", "Running"),
    (RESULT, "status", "Terminated"),
    (RESULT, "finished_at", None),
    (ABORT, "reason", None),
]


@pytest.mark.parametrize(("base", "name", "value"), BAD, ids=[f"{b['type']}.{n}={v!r}" for b, n, v in BAD])
def test_a_bad_field_is_refused(base, name, value):
    with pytest.raises(p.ProtocolError) as caught:
        p.decode(json.dumps({**base, name: value}))
    assert caught.value.code == p.INVALID_FIELD
    assert name in caught.value.message


@pytest.mark.parametrize("base", [SEND, READ, DATA, RESULT, ABORT], ids=lambda b: b["type"])
def test_extra_or_missing_fields_are_refused(base):
    with pytest.raises(p.ProtocolError):
        p.decode(json.dumps({**base, "extra": 1}))
    with pytest.raises(p.ProtocolError):
        p.decode(json.dumps({k: v for k, v in base.items() if k != "task_id"}))


def test_each_side_sends_only_its_own_frames():
    for frame in (READ, RESULT):
        p.decode(json.dumps(frame), sender="agent")
        with pytest.raises(p.ProtocolError):
            p.decode(json.dumps(frame), sender="console")
    for frame in (SEND, DATA, ABORT):
        p.decode(json.dumps(frame), sender="console")
        with pytest.raises(p.ProtocolError):
            p.decode(json.dumps(frame), sender="agent")


def test_a_full_read_fits_in_a_frame():
    frame = p.FileData(task_id="fr-" + "x" * 61, offset=2**53, data=b"\xff" * p.MAX_FILE_READ)
    assert len(p.encode(frame)) < p.MAX_FRAME_BYTES
