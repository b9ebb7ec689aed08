"""The sans-I/O protocol core: byte-exact frames, strict validation, chunks, gaps, backoff."""

from __future__ import annotations

import itertools
import json

import pytest
from assist_agent import protocol as p

# --- byte-exact round trips ----------------------------------------------------------------------

ROUND_TRIPS = [
    (
        p.Hello(
            instance_id="mi-0123",
            secret="s3cr3t",
            agent_version="0.1.0",
            os_type="Linux",
            os_name="Debian GNU/Linux 12 (bookworm)",
            hostname="web-1",
            ips=("10.0.0.5", "fd00::5"),
            boot_id="dee4d5da-4ed3-4b55-96db-4b21ee9937ae",
            held_tasks=("t-1:mi-0123", "t-2.x_y"),
        ),
        '{"type":"hello","instance_id":"mi-0123","secret":"s3cr3t","agent_version":"0.1.0",'
        '"os_type":"Linux","os_name":"Debian GNU/Linux 12 (bookworm)","hostname":"web-1",'
        '"ips":["10.0.0.5","fd00::5"],"boot_id":"dee4d5da-4ed3-4b55-96db-4b21ee9937ae",'
        '"held_tasks":["t-1:mi-0123","t-2.x_y"],"protocol":4}',
    ),
    (p.Heartbeat(), '{"type":"heartbeat"}'),
    (
        p.TaskStarted(task_id="t-1", started_at=1700000000.25),
        '{"type":"task.started","task_id":"t-1","started_at":1700000000.25}',
    ),
    (
        p.TaskOutput(task_id="t-1", seq=1, data=b"hello\n\xff\x00"),
        '{"type":"task.output","task_id":"t-1","seq":1,"data":"aGVsbG8K/wA="}',
    ),
    (
        p.TaskOutput(task_id="t-1", seq=7, data=b""),
        '{"type":"task.output","task_id":"t-1","seq":7,"data":""}',
    ),
    (
        p.TaskResult(
            task_id="t-1",
            status="Failed",
            exit_code=3,
            error_code="ExitCodeNonzero",
            error_info="the command execution exit code is not zero (exit code 3)",
            started_at=1700000000.5,
            finished_at=1700000001.0,
            last_seq=2,
        ),
        '{"type":"task.result","task_id":"t-1","status":"Failed","exit_code":3,'
        '"error_code":"ExitCodeNonzero","error_info":"the command execution exit code is not zero '
        '(exit code 3)","started_at":1700000000.5,"finished_at":1700000001.0,"last_seq":2}',
    ),
    (
        p.TaskResult(
            task_id="t-2",
            status="Error",
            exit_code=None,
            error_code="DirectoryNotExists",
            error_info="",
            started_at=None,
            finished_at=5.0,
            last_seq=0,
        ),
        '{"type":"task.result","task_id":"t-2","status":"Error","exit_code":null,'
        '"error_code":"DirectoryNotExists","error_info":"","started_at":null,"finished_at":5.0,"last_seq":0}',
    ),
    (
        p.Welcome(instance_id="mi-0123", heartbeat_interval=30.0),
        '{"type":"welcome","instance_id":"mi-0123","heartbeat_interval":30.0}',
    ),
    (  # protocol 4: the console says its protocol to an agent of 4 or more
        p.Welcome(instance_id="mi-0123", heartbeat_interval=30.0, protocol=4),
        '{"type":"welcome","instance_id":"mi-0123","heartbeat_interval":30.0,"protocol":4}',
    ),
    (
        p.TaskRun(
            task_id="t-1",
            command_type="RunShellScript",
            content='echo "héllo"\nexit 3\n',
            working_dir="/tmp",
            username="",
            timeout=60.0,
        ),
        '{"type":"task.run","task_id":"t-1","command_type":"RunShellScript",'
        '"content":"echo \\"héllo\\"\\nexit 3\\n","working_dir":"/tmp","username":"","timeout":60.0}',
    ),
    (p.TaskStop(task_id="t-1"), '{"type":"task.stop","task_id":"t-1"}'),
    (p.TaskAck(task_id="t-1"), '{"type":"task.ack","task_id":"t-1"}'),
    (
        p.TaskResend(task_id="t-1", seqs=(1, 3)),
        '{"type":"task.resend","task_id":"t-1","seqs":[1,3]}',
    ),
    (
        p.Error(code="InvalidField", message="task.output.seq must be an integer >= 1", ref="task.output"),
        '{"type":"error","code":"InvalidField","message":"task.output.seq must be an integer >= 1",'
        '"ref":"task.output"}',
    ),
]
# Terminal session frames (docs/terminals.md).
ROUND_TRIPS += [
    (
        p.SessionOpen(
            session_id="s-abc1",
            username="assist-user",
            create_user=True,
            command_line="",
            cols=80,
            rows=24,
            idle_timeout=600.0,
            max_duration=10800.0,
            window=262144,
        ),
        '{"type":"session.open","session_id":"s-abc1","username":"assist-user","create_user":true,'
        '"command_line":"","cols":80,"rows":24,"idle_timeout":600.0,"max_duration":10800.0,"window":262144}',
    ),
    (
        p.SessionInput(session_id="s-abc1", data=b"ls\r"),
        '{"type":"session.input","session_id":"s-abc1","data":"bHMN"}',
    ),
    (
        p.SessionResize(session_id="s-abc1", cols=120, rows=40),
        '{"type":"session.resize","session_id":"s-abc1","cols":120,"rows":40}',
    ),
    (
        p.SessionAck(session_id="s-abc1", bytes=4096),
        '{"type":"session.ack","session_id":"s-abc1","bytes":4096}',
    ),
    (
        p.SessionClose(session_id="s-abc1", reason="ClientClosed"),
        '{"type":"session.close","session_id":"s-abc1","reason":"ClientClosed"}',
    ),
    (
        p.SessionOpened(session_id="s-abc1", pid=4242),
        '{"type":"session.opened","session_id":"s-abc1","pid":4242}',
    ),
    (
        p.SessionOutput(session_id="s-abc1", seq=1, data=b"\x1b[1mhi"),
        '{"type":"session.output","session_id":"s-abc1","seq":1,"data":"G1sxbWhp"}',
    ),
    (
        p.SessionClosed(session_id="s-abc1", reason="ProcessExited", detail="", exit_code=None),
        '{"type":"session.closed","session_id":"s-abc1","reason":"ProcessExited","detail":"","exit_code":null}',
    ),
]
# File transfer frames (docs/agent-protocol.md, "File transfers").
_SHA = "a" * 64
ROUND_TRIPS += [
    (
        p.FileSend(
            task_id="fr-1", name="app.conf", target_dir="/etc/app", owner="root", group="root", mode="0644",
            overwrite=False, size=10, sha256=_SHA, timeout=60.0,
        ),
        '{"type":"file.send","task_id":"fr-1","name":"app.conf","target_dir":"/etc/app","owner":"root",'
        f'"group":"root","mode":"0644","overwrite":false,"size":10,"sha256":"{_SHA}","timeout":60.0}}',
    ),
    (
        p.FileRead(task_id="fr-1", offset=0, length=262144),
        '{"type":"file.read","task_id":"fr-1","offset":0,"length":262144}',
    ),
    (
        p.FileData(task_id="fr-1", offset=0, data=b"key=value\n"),
        '{"type":"file.data","task_id":"fr-1","offset":0,"data":"a2V5PXZhbHVlCg=="}',
    ),
    (
        p.FileResult(
            task_id="fr-1", status="Failed", error_code="FileAlreadyExists",
            error_info="File already exists: /etc/app/app.conf", started_at=1700000000.5,
            finished_at=1700000001.0,
        ),
        '{"type":"file.result","task_id":"fr-1","status":"Failed","error_code":"FileAlreadyExists",'
        '"error_info":"File already exists: /etc/app/app.conf","started_at":1700000000.5,'
        '"finished_at":1700000001.0}',
    ),
    (
        p.FileAbort(task_id="fr-1", reason="The file is no longer on the server."),
        '{"type":"file.abort","task_id":"fr-1","reason":"The file is no longer on the server."}',
    ),
]  # fmt: skip
# Self-update frames (docs/agent-protocol.md, "Self-update").
ROUND_TRIPS += [
    (
        p.UpdateOffer(version="0.2.0", sha256=_SHA, signature=b"\x01" * 64, size=123456,
                      url="/agent/releases/0.2.0/assist-agent.pyz"),
        f'{{"type":"update.offer","version":"0.2.0","sha256":"{_SHA}","signature":"{"AQEB" * 21 + "AQ=="}",'
        '"size":123456,"url":"/agent/releases/0.2.0/assist-agent.pyz"}',
    ),
    (p.UpdateCheck(), '{"type":"update.check"}'),
    (
        p.UpdateStatus(state="rolled_back", version="0.2.0", detail="back on 0.1.0"),
        '{"type":"update.status","state":"rolled_back","version":"0.2.0","detail":"back on 0.1.0"}',
    ),
]  # fmt: skip


@pytest.mark.parametrize(("frame", "wire"), ROUND_TRIPS, ids=[f.type for f, _ in ROUND_TRIPS])
def test_round_trip_is_byte_exact(frame: p.Frame, wire: str) -> None:
    assert p.encode(frame) == wire
    assert p.decode(wire) == frame
    assert p.decode(wire.encode()) == frame
    assert p.encode(p.decode(wire)) == wire


def test_every_frame_type_has_a_round_trip_case() -> None:
    assert {f.type for f, _ in ROUND_TRIPS} == p.AGENT_FRAME_TYPES | p.CONSOLE_FRAME_TYPES


def test_integer_times_decode_as_floats() -> None:
    frame = p.decode('{"type":"task.started","task_id":"t","started_at":17}')
    assert frame == p.TaskStarted(task_id="t", started_at=17.0)
    assert isinstance(frame.started_at, float)  # type: ignore[union-attr]


# --- malformed frames ----------------------------------------------------------------------------

RUN = {
    "type": "task.run",
    "task_id": "t-1",
    "command_type": "RunShellScript",
    "content": "echo hi",
    "working_dir": "",
    "username": "",
    "timeout": 60,
}
OUTPUT = {"type": "task.output", "task_id": "t-1", "seq": 1, "data": "aGk="}
RESULT = json.loads(ROUND_TRIPS[5][1])


def _with(base: dict[str, object], **changes: object) -> str:
    obj = {**base, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not DROP})


DROP = object()

MALFORMED = [
    ("not json", "{nope", "MalformedFrame"),
    ("empty", "", "MalformedFrame"),
    ("array", "[]", "MalformedFrame"),
    ("string", '"hello"', "MalformedFrame"),
    ("no type", '{"task_id":"t-1"}', "MalformedFrame"),
    ("type not a string", '{"type":1}', "MalformedFrame"),
    ("NaN", '{"type":"welcome","instance_id":"mi-1","heartbeat_interval":NaN}', "MalformedFrame"),
    ("duplicate key", '{"type":"task.ack","task_id":"a","task_id":"b"}', "MalformedFrame"),
    ("bad utf-8", b'{"type":"heartbeat","x":"\xff"}', "MalformedFrame"),
    ("unknown type", '{"type":"task.explode"}', "UnknownType"),
    ("missing field", _with(RUN, timeout=DROP), "InvalidField"),
    ("extra field", _with(RUN, container="c1"), "InvalidField"),
    ("extra field on heartbeat", '{"type":"heartbeat","at":1}', "InvalidField"),
    ("content not a string", _with(RUN, content=5), "InvalidField"),
    ("timeout a string", _with(RUN, timeout="60"), "InvalidField"),
    ("timeout zero", _with(RUN, timeout=0), "InvalidField"),
    ("timeout a bool", _with(RUN, timeout=True), "InvalidField"),
    ("timeout infinite", _with(RUN, timeout=1.5).replace("1.5", "1e400"), "InvalidField"),
    ("empty command type", _with(RUN, command_type=""), "InvalidField"),
    ("task id empty", _with(RUN, task_id=""), "InvalidField"),
    ("task id with slash", _with(RUN, task_id="../etc"), "InvalidField"),
    ("task id dots only", _with(RUN, task_id=".."), "InvalidField"),
    ("task id too long", _with(RUN, task_id="t" * 65), "InvalidField"),
    ("task id with space", _with(RUN, task_id="t 1"), "InvalidField"),
    ("task id not a string", _with(RUN, task_id=7), "InvalidField"),
    ("seq zero", _with(OUTPUT, seq=0), "InvalidField"),
    ("seq negative", _with(OUTPUT, seq=-1), "InvalidField"),
    ("seq a float", _with(OUTPUT, seq=1.0), "InvalidField"),
    ("bad base64 chars", _with(OUTPUT, data="a*b="), "InvalidField"),
    ("bad base64 padding", _with(OUTPUT, data="aGk"), "InvalidField"),
    ("data not a string", _with(OUTPUT, data=[1]), "InvalidField"),
    ("unknown status", _with(RESULT, status="Done"), "InvalidField"),
    ("last_seq negative", _with(RESULT, last_seq=-1), "InvalidField"),
    ("exit code a string", _with(RESULT, exit_code="3"), "InvalidField"),
    ("finished_at null", _with(RESULT, finished_at=None), "InvalidField"),
    ("started_at negative", _with(RESULT, started_at=-1), "InvalidField"),
    ("resend seq zero", '{"type":"task.resend","task_id":"t","seqs":[1,0]}', "InvalidField"),
    ("resend seqs not a list", '{"type":"task.resend","task_id":"t","seqs":1}', "InvalidField"),
    ("held task id bad", _with(json.loads(ROUND_TRIPS[0][1]), held_tasks=["a/b"]), "InvalidField"),
    ("ips not strings", _with(json.loads(ROUND_TRIPS[0][1]), ips=[1]), "InvalidField"),
    ("protocol zero", _with(json.loads(ROUND_TRIPS[0][1]), protocol=0), "InvalidField"),
    (
        "welcome protocol zero",
        '{"type":"welcome","instance_id":"m","heartbeat_interval":1,"protocol":0}',
        "InvalidField",
    ),
    (
        "welcome protocol a string",
        '{"type":"welcome","instance_id":"m","heartbeat_interval":1,"protocol":"4"}',
        "InvalidField",
    ),
    ("empty secret", _with(json.loads(ROUND_TRIPS[0][1]), secret=""), "InvalidField"),
    (
        "heartbeat interval negative",
        '{"type":"welcome","instance_id":"m","heartbeat_interval":-1}',
        "InvalidField",
    ),
    ("error without code", '{"type":"error","code":"","message":"","ref":""}', "InvalidField"),
    ("too large", _with(RUN, content="x" * p.MAX_FRAME_BYTES), "FrameTooLarge"),
    (
        "too large in UTF-8",
        _with(RUN, content="é" * (p.MAX_FRAME_BYTES // 2)).replace("\\u00e9", "é"),
        "FrameTooLarge",
    ),
]


@pytest.mark.parametrize(
    ("text", "code"), [(t, c) for _, t, c in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
def test_malformed_frames_raise_the_right_code(text: str | bytes, code: str) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode(text)
    assert info.value.code == code
    assert info.value.message
    assert str(info.value).startswith(code + ": ")


def test_error_names_the_frame_type_and_field() -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode(_with(OUTPUT, seq=-1))
    assert info.value.ref == "task.output"
    assert "seq" in info.value.message


@pytest.mark.parametrize(
    ("sender", "text"),
    [
        ("agent", '{"type":"task.ack","task_id":"t"}'),
        ("console", '{"type":"heartbeat"}'),
    ],
)
def test_decode_refuses_frames_of_the_other_direction(sender: str, text: str) -> None:
    p.decode(text)  # valid without a direction
    with pytest.raises(p.ProtocolError) as info:
        p.decode(text, sender=sender)  # type: ignore[arg-type]
    assert info.value.code == "UnknownType"


ENCODE_ERRORS = [
    (p.TaskRun("t/1", "RunShellScript", "", "", "", 1.0), "InvalidField"),
    (p.TaskOutput("t", 0, b"x"), "InvalidField"),
    (p.TaskOutput("t", 1, "text"), "InvalidField"),  # type: ignore[arg-type]
    (p.TaskResult("t", "Done", 0, "", "", None, 1.0, 0), "InvalidField"),
    (p.Welcome("mi-1", float("nan")), "InvalidField"),
    (p.TaskRun("t", "RunShellScript", "x" * p.MAX_FRAME_BYTES, "", "", 1.0), "FrameTooLarge"),
    ("not a frame", "UnknownType"),
]


@pytest.mark.parametrize(("frame", "code"), ENCODE_ERRORS)
def test_encode_refuses_what_decode_would_refuse(frame: p.Frame, code: str) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.encode(frame)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("task_id", "valid"),
    [
        ("t-1", True),
        ("a.b:c_d-E9", True),
        ("x" * 64, True),
        ("...", False),
        (".", False),
        ("a/b", False),
        ("", False),
    ],
)
def test_task_ids(task_id: str, valid: bool) -> None:
    assert p.is_valid_task_id(task_id) is valid


# --- chunker -------------------------------------------------------------------------------------


def test_chunker_cuts_at_the_size_and_numbers_from_one() -> None:
    c = p.Chunker("t", size=4)
    assert c.feed(b"ab") == []
    assert c.pending == 2
    assert c.feed(b"cdefghij") == [p.TaskOutput("t", 1, b"abcd"), p.TaskOutput("t", 2, b"efgh")]
    assert c.pending == 2
    assert c.flush() == [p.TaskOutput("t", 3, b"ij")]
    assert c.flush() == []
    assert c.feed(b"k") == []
    assert c.flush() == [p.TaskOutput("t", 4, b"k")]
    assert c.last_seq == 4


def test_chunker_default_size_is_64_kib_and_frames_fit() -> None:
    c = p.Chunker("t")
    chunks = c.feed(b"\xff" * (p.CHUNK_SIZE * 2 + 1)) + c.flush()
    assert [len(ch.data) for ch in chunks] == [p.CHUNK_SIZE, p.CHUNK_SIZE, 1]
    assert len(p.encode(chunks[0])) < p.MAX_FRAME_BYTES


# --- gaps ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_seq", "have", "expected"),
    [
        (0, [], []),
        (0, [1, 2], []),
        (3, [], [1, 2, 3]),
        (3, [1, 2, 3], []),
        (5, [2, 4], [1, 3, 5]),
        (3, [1, 2, 3, 4, 9], []),
        (4, {4, 1}, [2, 3]),
    ],
)
def test_missing(last_seq: int, have: list[int], expected: list[int]) -> None:
    assert p.missing(last_seq, have) == expected


def _result(last_seq: int) -> p.TaskResult:
    return p.TaskResult("t", "Success", 0, "", "", 1.0, 2.0, last_seq)


def test_assembler_drops_duplicates_and_asks_for_gaps_then_acks() -> None:
    a = p.OutputAssembler("t", have_seqs=[1])
    assert a.on_output(p.TaskOutput("t", 1, b"a")) is False
    assert a.on_output(p.TaskOutput("t", 3, b"c")) is True
    assert a.on_output(p.TaskOutput("t", 3, b"c")) is False
    assert a.on_result(_result(4)) == p.TaskResend("t", (2, 4))
    assert a.on_output(p.TaskOutput("t", 2, b"b")) is True
    assert a.on_output(p.TaskOutput("t", 4, b"d")) is True
    assert a.on_result(_result(4)) == p.TaskAck("t")
    assert p.OutputAssembler("t").on_result(_result(0)) == p.TaskAck("t")


def test_assembler_caps_one_resend() -> None:
    answer = p.OutputAssembler("t").on_result(_result(p.MAX_RESEND_SEQS + 10))
    assert isinstance(answer, p.TaskResend)
    assert answer.seqs == tuple(range(1, p.MAX_RESEND_SEQS + 1))
    assert len(p.encode(answer)) < p.MAX_FRAME_BYTES


def test_assembler_refuses_another_tasks_frames() -> None:
    with pytest.raises(ValueError):
        p.OutputAssembler("t").on_output(p.TaskOutput("u", 1, b""))


# --- backoff -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "rng_value", "expected"),
    [
        ({}, 1.0, [1, 2, 4, 8, 16, 32, 60, 60, 60]),
        ({}, 0.5, [0.5, 1, 2, 4, 8, 16, 30, 30, 30]),
        ({}, 0.0, [0] * 9),
        ({"initial": 0.2, "maximum": 0.5}, 1.0, [0.2, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
        ({"factor": 3.0, "maximum": 20}, 1.0, [1, 3, 9, 20, 20, 20, 20, 20, 20]),
    ],
)
def test_backoff_full_jitter(kwargs: dict[str, float], rng_value: float, expected: list[float]) -> None:
    delays = list(itertools.islice(p.backoff(rng=lambda: rng_value, **kwargs), 9))
    assert delays == pytest.approx(expected)


def test_backoff_jitter_uses_the_rng_each_time() -> None:
    values = iter([0.1, 0.9, 0.3])
    delays = list(itertools.islice(p.backoff(rng=lambda: next(values)), 3))
    assert delays == pytest.approx([0.1, 1.8, 1.2])


# --- binary task.output (protocol 4) -------------------------------------------------------------------

BINARY_ROUND_TRIPS = [
    (
        p.TaskOutput(task_id="t-1", seq=1, data=b"hello\n\xff\x00"),
        b'{"type":"task.output","task_id":"t-1","seq":1}\nhello\n\xff\x00',
    ),
    (p.TaskOutput(task_id="t-1", seq=7, data=b""), b'{"type":"task.output","task_id":"t-1","seq":7}\n'),
    (
        p.TaskOutput(task_id="t-1", seq=2, data=b"\n\n{}\n"),
        b'{"type":"task.output","task_id":"t-1","seq":2}\n\n\n{}\n',
    ),
    (
        p.TaskOutput(task_id="t" * 64, seq=2**40, data=bytes(range(256)) * 256),
        b'{"type":"task.output","task_id":"' + b"t" * 64 + b'","seq":1099511627776}\n'
        + bytes(range(256)) * 256,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("frame", "wire"), BINARY_ROUND_TRIPS, ids=range(len(BINARY_ROUND_TRIPS)))
def test_binary_output_round_trip_is_byte_exact(frame: p.TaskOutput, wire: bytes) -> None:
    assert p.encode_binary(frame) == wire
    assert p.decode_binary(wire, sender="agent") == frame
    assert p.decode_binary(bytearray(wire)) == frame
    # the same chunk as a text frame decodes to the same frame: the console takes either
    assert p.decode(p.encode(frame), sender="agent") == frame


HEADER = b'{"type":"task.output","task_id":"t-1","seq":1}'
BINARY_MALFORMED = [
    ("no header line", HEADER + b"data", "MalformedFrame"),
    ("empty", b"", "MalformedFrame"),
    ("header line too long", HEADER[:-1] + b" " * 300 + b"}\nx", "MalformedFrame"),
    ("header not json", b"{nope\nx", "MalformedFrame"),
    ("header not utf-8", b'{"type":"task.output","task_id":"\xff","seq":1}\nx', "MalformedFrame"),
    ("header an array", b"[]\nx", "MalformedFrame"),
    ("header without type", b'{"task_id":"t-1","seq":1}\nx', "MalformedFrame"),
    ("a text frame sent as binary", b'{"type":"heartbeat"}', "MalformedFrame"),
    ("heartbeat as binary", b'{"type":"heartbeat"}\n', "UnknownType"),
    ("a console frame as binary", b'{"type":"task.ack","task_id":"t-1"}\n', "UnknownType"),
    ("data in the header", b'{"type":"task.output","task_id":"t-1","seq":1,"data":""}\nx', "InvalidField"),
    ("seq missing", b'{"type":"task.output","task_id":"t-1"}\nx', "InvalidField"),
    ("seq zero", b'{"type":"task.output","task_id":"t-1","seq":0}\nx', "InvalidField"),
    ("task id bad", b'{"type":"task.output","task_id":"../x","seq":1}\nx', "InvalidField"),
    ("extra field", b'{"type":"task.output","task_id":"t-1","seq":1,"at":2}\nx', "InvalidField"),
    ("too large", HEADER + b"\n" + b"x" * p.MAX_FRAME_BYTES, "FrameTooLarge"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("message", "code"), [(m, c) for _, m, c in BINARY_MALFORMED], ids=[n for n, _, _ in BINARY_MALFORMED]
)
def test_malformed_binary_messages_raise_the_right_code(message: bytes, code: str) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_binary(message, sender="agent")
    assert info.value.code == code


def test_the_agent_refuses_a_binary_task_output_from_the_console() -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_binary(HEADER + b"\nx", sender="console")
    assert info.value.code == "UnknownType"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (p.TaskOutput(task_id="t/1", seq=1, data=b"x"), "InvalidField"),
        (p.TaskOutput(task_id="t-1", seq=0, data=b"x"), "InvalidField"),
        (p.TaskOutput(task_id="t-1", seq=1, data="text"), "InvalidField"),  # type: ignore[arg-type]
        (p.TaskOutput(task_id="t-1", seq=1, data=b"x" * p.MAX_FRAME_BYTES), "FrameTooLarge"),
        (p.Heartbeat(), "UnknownType"),
    ],
    ids=["bad task id", "seq zero", "data not bytes", "too large", "not task.output"],
)
def test_encode_binary_refuses_what_decode_binary_would(frame: p.Frame, code: str) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.encode_binary(frame)  # type: ignore[arg-type]
    assert info.value.code == code


@pytest.mark.parametrize(
    ("frame", "console_protocol", "binary"),
    [
        (p.TaskOutput(task_id="t-1", seq=1, data=b"x"), 0, False),  # a welcome that said nothing
        (p.TaskOutput(task_id="t-1", seq=1, data=b"x"), 3, False),
        (p.TaskOutput(task_id="t-1", seq=1, data=b"x"), 4, True),
        (p.TaskOutput(task_id="t-1", seq=1, data=b"x"), 9, True),
        (p.TaskResult("t-1", "Success", 0, "", "", 1.0, 2.0, 1), 4, False),
        (p.Heartbeat(), 4, False),
    ],
)
def test_the_agent_sends_output_as_binary_only_to_a_console_of_protocol_4(
    frame: p.Frame, console_protocol: int, binary: bool
) -> None:
    sent = p.encode_for_console(frame, console_protocol)
    assert sent == (p.encode_binary(frame) if binary else p.encode(frame))  # type: ignore[arg-type]
