"""The agent protocol, version 1: frames, validation, chunking, gap detection and reconnect delays.

Sans-I/O: this module does no networking, file access, threading or asyncio. The agent
(``assist_agent.runner``) and the console's gateway consumer both wrap it, so both sides build and
parse frames the same way. ``docs/agent-protocol.md`` describes the wire format.

- ``encode(frame) -> str`` turns a frame dataclass into one compact JSON text message; it validates
  the frame first, so a side never sends what the other would refuse.
- ``decode(text) -> frame`` parses and validates strictly; anything wrong raises ``ProtocolError``.
- ``Chunker`` numbers output chunks, ``OutputAssembler``/``missing`` find gaps, ``backoff`` yields
  reconnect delays.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, Union
from typing import Callable as TypingCallable

# fmt: off
__all__ = [
    "AGENT_FRAME_TYPES", "CHUNK_SIZE", "CONSOLE_FRAME_TYPES", "ERROR", "HEARTBEAT", "HELLO",
    "MAX_FRAME_BYTES", "MAX_RESEND_SEQS", "PROTOCOL_VERSION", "STATUSES", "TASK_ACK", "TASK_OUTPUT",
    "TASK_RESEND", "TASK_RESULT", "TASK_RUN", "TASK_STARTED", "TASK_STOP", "WELCOME",
    "STATUS_SUCCESS", "STATUS_FAILED", "STATUS_TIMEOUT", "STATUS_ERROR", "STATUS_TERMINATED",
    "MALFORMED_FRAME", "UNKNOWN_TYPE", "INVALID_FIELD", "FRAME_TOO_LARGE",
    "AgentFrame", "Chunker", "ConsoleFrame", "Error", "Frame", "Heartbeat", "Hello", "OutputAssembler",
    "ProtocolError", "TaskAck", "TaskOutput", "TaskResend", "TaskResult", "TaskRun", "TaskStarted",
    "TaskStop", "Welcome",
    "backoff", "decode", "encode", "is_valid_task_id", "missing",
]
# fmt: on

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 1 << 20  # 1 MiB of UTF-8 JSON per frame, either direction
CHUNK_SIZE = 64 * 1024  # raw output bytes per task.output frame at most
MAX_RESEND_SEQS = 4096  # seqs asked for in one task.resend at most

# Frame types, agent -> console.
HELLO = "hello"
HEARTBEAT = "heartbeat"
TASK_STARTED = "task.started"
TASK_OUTPUT = "task.output"
TASK_RESULT = "task.result"
# Frame types, console -> agent.
WELCOME = "welcome"
TASK_RUN = "task.run"
TASK_STOP = "task.stop"
TASK_ACK = "task.ack"
TASK_RESEND = "task.resend"
ERROR = "error"

AGENT_FRAME_TYPES = frozenset({HELLO, HEARTBEAT, TASK_STARTED, TASK_OUTPUT, TASK_RESULT})
CONSOLE_FRAME_TYPES = frozenset({WELCOME, TASK_RUN, TASK_STOP, TASK_ACK, TASK_RESEND, ERROR})

# task.result statuses (a subset of the console's per-instance statuses).
STATUS_SUCCESS = "Success"
STATUS_FAILED = "Failed"
STATUS_TIMEOUT = "Timeout"
STATUS_ERROR = "Error"
STATUS_TERMINATED = "Terminated"
STATUSES = frozenset({STATUS_SUCCESS, STATUS_FAILED, STATUS_TIMEOUT, STATUS_ERROR, STATUS_TERMINATED})

# Error codes (ProtocolError.code, and the `code` of an `error` frame).
MALFORMED_FRAME = "MalformedFrame"
UNKNOWN_TYPE = "UnknownType"
INVALID_FIELD = "InvalidField"
FRAME_TOO_LARGE = "FrameTooLarge"

_TASK_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class ProtocolError(ValueError):
    """A frame that cannot be encoded or decoded.

    ``code`` is one of MalformedFrame, UnknownType, InvalidField, FrameTooLarge; ``ref`` is the
    frame's type when it was known (the console echoes it in the ``error`` frame).
    """

    def __init__(self, code: str, message: str, ref: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.ref = ref


def is_valid_task_id(value: object) -> bool:
    """``^[A-Za-z0-9._:-]{1,64}$`` and not made of dots only (ids name files in the agent's state dir)."""
    return isinstance(value, str) and _TASK_ID_RE.fullmatch(value) is not None and value.strip(".") != ""


# --- frames ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    type: ClassVar[str] = HELLO
    instance_id: str
    secret: str = field(repr=False)  # never in logs
    agent_version: str
    os_type: str
    os_name: str
    hostname: str
    ips: tuple[str, ...]
    boot_id: str
    held_tasks: tuple[str, ...]
    protocol: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class Heartbeat:
    type: ClassVar[str] = HEARTBEAT


@dataclass(frozen=True)
class TaskStarted:
    type: ClassVar[str] = TASK_STARTED
    task_id: str
    started_at: float


@dataclass(frozen=True)
class TaskOutput:
    type: ClassVar[str] = TASK_OUTPUT
    task_id: str
    seq: int
    data: bytes  # Base64 on the wire


@dataclass(frozen=True)
class TaskResult:
    type: ClassVar[str] = TASK_RESULT
    task_id: str
    status: str
    exit_code: int | None
    error_code: str
    error_info: str
    started_at: float | None
    finished_at: float
    last_seq: int


@dataclass(frozen=True)
class Welcome:
    type: ClassVar[str] = WELCOME
    instance_id: str
    heartbeat_interval: float


@dataclass(frozen=True)
class TaskRun:
    type: ClassVar[str] = TASK_RUN
    task_id: str
    command_type: str
    content: str
    working_dir: str
    username: str
    timeout: float


@dataclass(frozen=True)
class TaskStop:
    type: ClassVar[str] = TASK_STOP
    task_id: str


@dataclass(frozen=True)
class TaskAck:
    type: ClassVar[str] = TASK_ACK
    task_id: str


@dataclass(frozen=True)
class TaskResend:
    type: ClassVar[str] = TASK_RESEND
    task_id: str
    seqs: tuple[int, ...]


@dataclass(frozen=True)
class Error:
    type: ClassVar[str] = ERROR
    code: str
    message: str
    ref: str = ""


# typing.Union, not ``X | Y``: these aliases are evaluated at import time, and the agent runs on Python 3.8.
AgentFrame = Union[Hello, Heartbeat, TaskStarted, TaskOutput, TaskResult]
ConsoleFrame = Union[Welcome, TaskRun, TaskStop, TaskAck, TaskResend, Error]
Frame = Union[AgentFrame, ConsoleFrame]

_CLASSES: dict[str, type[Any]] = {
    cls.type: cls
    for cls in (
        Hello,
        Heartbeat,
        TaskStarted,
        TaskOutput,
        TaskResult,
        Welcome,
        TaskRun,
        TaskStop,
        TaskAck,
        TaskResend,
        Error,
    )
}

# --- field validators: JSON value -> Python value, or raise _Invalid(reason) -------------------------


class _Invalid(Exception):
    pass


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    return value


def _nonempty_str(value: object) -> str:
    if _str(value) == "":
        raise _Invalid("must be a non-empty string")
    return str(value)


def _task_id(value: object) -> str:
    if not is_valid_task_id(value):
        raise _Invalid("must match ^[A-Za-z0-9._:-]{1,64}$ and not be dots only")
    return str(value)


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Invalid("must be an integer")
    return value


def _int_min(minimum: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        number = _int(value)
        if number < minimum:
            raise _Invalid(f"must be an integer >= {minimum}")
        return number

    return check


def _optional_int(value: object) -> int | None:
    return None if value is None else _int(value)


def _number(value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _Invalid("must be a number")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise _Invalid("must be a finite number")
    return number


def _time(value: object) -> float:
    number = _number(value)
    if number < 0:
        raise _Invalid("must be seconds since the epoch (>= 0)")
    return number


def _optional_time(value: object) -> float | None:
    return None if value is None else _time(value)


def _positive(value: object) -> float:
    number = _number(value)
    if number <= 0:
        raise _Invalid("must be a number > 0")
    return number


def _status(value: object) -> str:
    if not isinstance(value, str) or value not in STATUSES:
        raise _Invalid(f"must be one of {', '.join(sorted(STATUSES))}")
    return value


def _str_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _Invalid("must be a list of strings")
    return tuple(value)


def _task_id_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(is_valid_task_id(v) for v in value):
        raise _Invalid("must be a list of task ids")
    return tuple(value)


def _seq_list(value: object) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise _Invalid("must be a list of integers >= 1")
    for v in value:
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise _Invalid("must be a list of integers >= 1")
    return tuple(value)


def _base64(value: object) -> bytes:
    if not isinstance(value, str):
        raise _Invalid("must be a Base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _Invalid("is not valid Base64 (standard alphabet, padded)") from None


_Check = TypingCallable[[object], Any]  # evaluated at import: typing's, for 3.8
_SCHEMAS: dict[str, tuple[tuple[str, _Check], ...]] = {
    HELLO: (
        ("instance_id", _nonempty_str),
        ("secret", _nonempty_str),
        ("agent_version", _str),
        ("os_type", _str),
        ("os_name", _str),
        ("hostname", _str),
        ("ips", _str_list),
        ("boot_id", _str),
        ("held_tasks", _task_id_list),
        ("protocol", _int_min(1)),
    ),
    HEARTBEAT: (),
    TASK_STARTED: (("task_id", _task_id), ("started_at", _time)),
    TASK_OUTPUT: (("task_id", _task_id), ("seq", _int_min(1)), ("data", _base64)),
    TASK_RESULT: (
        ("task_id", _task_id),
        ("status", _status),
        ("exit_code", _optional_int),
        ("error_code", _str),
        ("error_info", _str),
        ("started_at", _optional_time),
        ("finished_at", _time),
        ("last_seq", _int_min(0)),
    ),
    WELCOME: (("instance_id", _nonempty_str), ("heartbeat_interval", _positive)),
    TASK_RUN: (
        ("task_id", _task_id),
        ("command_type", _nonempty_str),
        ("content", _str),
        ("working_dir", _str),
        ("username", _str),
        ("timeout", _positive),
    ),
    TASK_STOP: (("task_id", _task_id),),
    TASK_ACK: (("task_id", _task_id),),
    TASK_RESEND: (("task_id", _task_id), ("seqs", _seq_list)),
    ERROR: (("code", _nonempty_str), ("message", _str), ("ref", _str)),
}

# --- encode / decode ---------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ProtocolError(MALFORMED_FRAME, f"JSON constant {name} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ProtocolError(MALFORMED_FRAME, f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _check_fields(type_: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Validate the fields of a frame object (without "type"); return the Python values."""
    schema = _SCHEMAS[type_]
    names = {name for name, _ in schema}
    extra = sorted(set(obj) - names)
    if extra:
        raise ProtocolError(INVALID_FIELD, f"{type_}: unexpected field(s) {', '.join(extra)}", type_)
    values: dict[str, Any] = {}
    for name, check in schema:
        if name not in obj:
            raise ProtocolError(INVALID_FIELD, f"{type_}: missing field {name}", type_)
        try:
            values[name] = check(obj[name])
        except _Invalid as exc:
            raise ProtocolError(INVALID_FIELD, f"{type_}.{name} {exc}", type_) from None
    return values


def decode(text: str | bytes, *, sender: Literal["agent", "console"] | None = None) -> Frame:
    """Parse and validate one frame.

    ``sender`` restricts the accepted types to those that side may send (the agent decodes with
    ``sender="console"``, the gateway with ``sender="agent"``). Raises ``ProtocolError``.
    """
    # A str of more than MAX_FRAME_BYTES characters is too large whatever its encoding.
    size = len(text) if len(text) > MAX_FRAME_BYTES else len(text.encode() if isinstance(text, str) else text)
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(FRAME_TOO_LARGE, f"frame is {size} bytes, the limit is {MAX_FRAME_BYTES}")
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(MALFORMED_FRAME, "frame is not valid UTF-8") from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except ProtocolError:
        raise
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(MALFORMED_FRAME, f"frame is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ProtocolError(MALFORMED_FRAME, "frame must be a JSON object")
    type_ = obj.pop("type", None)
    if not isinstance(type_, str):
        raise ProtocolError(MALFORMED_FRAME, 'frame has no string "type" field')
    if type_ not in _CLASSES:
        raise ProtocolError(UNKNOWN_TYPE, f"unknown frame type {type_!r}", type_)
    if sender == "agent" and type_ not in AGENT_FRAME_TYPES:
        raise ProtocolError(UNKNOWN_TYPE, f"frame type {type_!r} is not sent by an agent", type_)
    if sender == "console" and type_ not in CONSOLE_FRAME_TYPES:
        raise ProtocolError(UNKNOWN_TYPE, f"frame type {type_!r} is not sent by the console", type_)
    frame: Frame = _CLASSES[type_](**_check_fields(type_, obj))
    return frame


def _to_json(value: object) -> object:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple):
        return list(value)
    return value


def encode(frame: Frame) -> str:
    """One compact JSON text message: ``type`` first, then the fields in declaration order.

    The frame is validated as ``decode`` would; a bad frame raises ``ProtocolError``.
    """
    type_ = getattr(frame, "type", None)
    if type_ not in _CLASSES or not isinstance(frame, _CLASSES[type_]):
        raise ProtocolError(UNKNOWN_TYPE, f"not a protocol frame: {frame!r}")
    body = {f.name: _to_json(getattr(frame, f.name)) for f in fields(frame)}
    if isinstance(frame, TaskOutput):
        if not isinstance(frame.data, (bytes, bytearray)):
            raise ProtocolError(INVALID_FIELD, "task.output.data must be bytes", type_)
        _check_fields(type_, {**body, "data": ""})  # data comes from b64encode: no need to decode it back
    else:
        _check_fields(type_, body)
    obj: dict[str, object] = {"type": type_, **body}
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:  # pragma: no cover - the field checks catch these first
        raise ProtocolError(INVALID_FIELD, str(exc), type_) from None
    size = len(text.encode())
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(
            FRAME_TOO_LARGE, f"{type_} frame is {size} bytes, the limit is {MAX_FRAME_BYTES}", type_
        )
    return text


# --- output chunks ----------------------------------------------------------------------------------


class Chunker:
    """Cuts a task's combined output into ``task.output`` frames numbered 1, 2, 3, ...

    ``feed`` returns the frames that filled up to ``size`` bytes; ``flush`` returns what is pending
    (the I/O layer calls it on a short timer so live output stays live, and at the end).
    """

    def __init__(self, task_id: str, size: int = CHUNK_SIZE) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self.task_id = task_id
        self.size = size
        self.last_seq = 0
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes fed but not yet returned in a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[TaskOutput]:
        self._buf += data
        out: list[TaskOutput] = []
        while len(self._buf) >= self.size:
            out.append(self._cut(self.size))
        return out

    def flush(self) -> list[TaskOutput]:
        return [self._cut(len(self._buf))] if self._buf else []

    def _cut(self, n: int) -> TaskOutput:
        data = bytes(self._buf[:n])
        del self._buf[:n]
        self.last_seq += 1
        return TaskOutput(task_id=self.task_id, seq=self.last_seq, data=data)


def missing(last_seq: int, have_seqs: Iterable[int]) -> list[int]:
    """The chunk numbers in 1..last_seq that are not in ``have_seqs``, ascending."""
    have = set(have_seqs)
    return [seq for seq in range(1, last_seq + 1) if seq not in have]


class OutputAssembler:
    """Console side: what to do with the chunks and the result of one task.

    Build it with the seqs already stored. ``on_output`` says whether a chunk is new (store it) or a
    duplicate (ignore it). ``on_result`` answers ``TaskAck`` when chunks 1..last_seq are all held
    (store the result, then send the ack) or ``TaskResend`` for at most ``MAX_RESEND_SEQS`` missing ones.
    """

    def __init__(self, task_id: str, have_seqs: Iterable[int] = ()) -> None:
        self.task_id = task_id
        self.have: set[int] = set(have_seqs)

    def on_output(self, frame: TaskOutput) -> bool:
        if frame.task_id != self.task_id:
            raise ValueError(f"chunk of task {frame.task_id} given to the assembler of {self.task_id}")
        if frame.seq in self.have:
            return False
        self.have.add(frame.seq)
        return True

    def missing(self, last_seq: int) -> list[int]:
        return missing(last_seq, self.have)

    def on_result(self, frame: TaskResult) -> TaskAck | TaskResend:
        if frame.task_id != self.task_id:
            raise ValueError(f"result of task {frame.task_id} given to the assembler of {self.task_id}")
        gaps = self.missing(frame.last_seq)
        if gaps:
            return TaskResend(task_id=self.task_id, seqs=tuple(gaps[:MAX_RESEND_SEQS]))
        return TaskAck(task_id=self.task_id)


# --- reconnect delays -------------------------------------------------------------------------------


def backoff(
    initial: float = 1.0,
    maximum: float = 60.0,
    factor: float = 2.0,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Endless reconnect delays with full jitter: ``rng() * min(maximum, initial * factor**n)``.

    Start a new generator after a connection that stayed up long enough (a minute) to reset it.
    """
    cap = initial
    while True:
        yield rng() * cap
        cap = min(maximum, cap * factor)
