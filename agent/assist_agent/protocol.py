"""The agent protocol: frames, validation, chunking, gap detection and reconnect delays.

Sans-I/O: this module does no networking, file access, threading or asyncio. The agent
(``assist_agent.runner``) and the console's gateway consumer both wrap it, so both sides build and
parse frames the same way. ``docs/agent-protocol.md`` describes the wire format.

- ``encode(frame) -> str`` turns a frame dataclass into one compact JSON text message; it validates
  the frame first, so a side never sends what the other would refuse.
- ``decode(text) -> frame`` parses and validates strictly; anything wrong raises ``ProtocolError``.
- ``encode_binary(output) -> bytes`` / ``decode_binary(message)``: ``task.output`` as one binary message
  (protocol 4), a JSON header line followed by the raw bytes.
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
from dataclasses import dataclass, field, fields, replace
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
    "TERMINATION_MODES", "TERMINATION_PROCESS", "TERMINATION_PROCESS_TREE",
    "backoff", "decode", "decode_binary", "encode", "encode_binary", "encode_for_console",
    "is_valid_task_id", "missing",
    "task_run_for_peer", "task_run_missing_feature", "LAUNCHER_PROTOCOL", "DRY_RUN_PROTOCOL",
    "MAX_LAUNCHER_BYTES", "BINARY_OUTPUT_PROTOCOL", "TASK_RUN_PROTOCOL",
    # file transfers (docs/agent-protocol.md, "File transfers")
    "FILE_SEND", "FILE_READ", "FILE_DATA", "FILE_RESULT", "FILE_ABORT", "FILE_STATUSES", "MAX_FILE_READ",
    "FileAbort", "FileData", "FileRead", "FileResult", "FileSend",
    # terminal sessions (docs/terminals.md)
    "SESSION_OPEN", "SESSION_INPUT", "SESSION_RESIZE", "SESSION_ACK", "SESSION_CLOSE", "SESSION_OPENED",
    "SESSION_OUTPUT", "SESSION_CLOSED", "SESSION_CHUNK_SIZE", "SessionOpen", "SessionInput",
    "SessionResize", "SessionAck", "SessionClose", "SessionOpened", "SessionOutput", "SessionClosed",
    "is_valid_session_id",
    # self-update (docs/agent-protocol.md, "Self-update")
    "UPDATE_OFFER", "UPDATE_CHECK", "UPDATE_STATUS", "UPDATE_STATES", "UpdateCheck", "UpdateOffer",
    "UpdateStatus",
]
# fmt: on

# 2: task.run may carry the optional fields termination_mode, container_id and container_name.
# 3: task.run may carry the optional fields launcher and dry_run.
# 4: welcome may carry the console's protocol; when it says 4 or more, task.output may travel as one
#    binary message (encode_binary): no Base64, no JSON string of the chunk, no UTF-8 check of it.
PROTOCOL_VERSION = 4
MAX_LAUNCHER_BYTES = 1024  # the API's limit on Launcher (launcher.py checks it too)
# The first protocol whose agents run each optional task.run field (task_run_for_peer).
LAUNCHER_PROTOCOL = 3
DRY_RUN_PROTOCOL = 3
BINARY_OUTPUT_PROTOCOL = 4  # welcome.protocol from which the agent sends task.output as binary
TASK_RUN_PROTOCOL = 3  # the last protocol that changed task.run: older agents get it rewritten
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
# File transfers: the console sends file.send/file.data/file.abort, the agent file.read/file.result.
FILE_SEND = "file.send"
FILE_READ = "file.read"
FILE_DATA = "file.data"
FILE_RESULT = "file.result"
FILE_ABORT = "file.abort"
MAX_FILE_READ = 256 * 1024  # raw bytes asked for in one file.read at most (Base64 keeps file.data < 1 MiB)
FILE_STATUSES = frozenset({"Success", "Failed", "Error", "Timeout", "Invalid"})

AGENT_FRAME_TYPES = frozenset(
    {HELLO, HEARTBEAT, TASK_STARTED, TASK_OUTPUT, TASK_RESULT, FILE_READ, FILE_RESULT}
)
CONSOLE_FRAME_TYPES = frozenset(
    {WELCOME, TASK_RUN, TASK_STOP, TASK_ACK, TASK_RESEND, ERROR, FILE_SEND, FILE_DATA, FILE_ABORT}
)

# Terminal sessions (docs/terminals.md): console -> agent open/input/resize/ack/close, agent -> console
# opened/output/closed.
SESSION_OPEN = "session.open"
SESSION_INPUT = "session.input"
SESSION_RESIZE = "session.resize"
SESSION_ACK = "session.ack"
SESSION_CLOSE = "session.close"
SESSION_OPENED = "session.opened"
SESSION_OUTPUT = "session.output"
SESSION_CLOSED = "session.closed"
SESSION_CHUNK_SIZE = 32 * 1024  # raw terminal bytes per session.output / session.input frame at most
AGENT_FRAME_TYPES |= {SESSION_OPENED, SESSION_OUTPUT, SESSION_CLOSED}
CONSOLE_FRAME_TYPES |= {SESSION_OPEN, SESSION_INPUT, SESSION_RESIZE, SESSION_ACK, SESSION_CLOSE}

# Self-update (docs/agent-protocol.md, "Self-update"): the console offers a version, the agent asks now and
# then and reports how an update goes. Agents that predate these frames ignore update.offer.
UPDATE_OFFER = "update.offer"
UPDATE_CHECK = "update.check"
UPDATE_STATUS = "update.status"
UPDATE_DOWNLOADING = "downloading"
UPDATE_VERIFYING = "verifying"
UPDATE_INSTALLED = "installed"
UPDATE_SWITCHING = "switching"
UPDATE_COMMITTED = "committed"
UPDATE_ROLLED_BACK = "rolled_back"
UPDATE_FAILED = "failed"
UPDATE_STATES = frozenset(
    {UPDATE_DOWNLOADING, UPDATE_VERIFYING, UPDATE_INSTALLED, UPDATE_SWITCHING, UPDATE_COMMITTED,
     UPDATE_ROLLED_BACK, UPDATE_FAILED}
)  # fmt: skip
AGENT_FRAME_TYPES |= {UPDATE_CHECK, UPDATE_STATUS}
CONSOLE_FRAME_TYPES |= {UPDATE_OFFER}

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
_SESSION_ID_RE = re.compile(r"s-[a-z0-9]{1,62}")


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


def is_valid_session_id(value: object) -> bool:
    """``^s-[a-z0-9]{1,62}$``: the console's terminal session ids."""
    return isinstance(value, str) and _SESSION_ID_RE.fullmatch(value) is not None


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
    # Optional (see _OPTIONAL): the machine's time zone, as a Frequency names one (an IANA name, UTC or
    # GMT+H:MM); "" when unknown. A cron Frequency without a zone runs in it (sysinfo.time_zone).
    time_zone: str = ""


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
    # Optional since protocol 4 (see _OPTIONAL): the console's protocol, said only to an agent whose hello
    # said 4 or more (an older agent refuses the field); 0 when absent: a console before protocol 4.
    protocol: int = 0


TERMINATION_PROCESS = "Process"  # on timeout or stop, kill the script's process only
TERMINATION_PROCESS_TREE = "ProcessTree"  # kill the script and everything it started (its process group)
TERMINATION_MODES = frozenset({TERMINATION_PROCESS, TERMINATION_PROCESS_TREE})


@dataclass(frozen=True)
class TaskRun:
    type: ClassVar[str] = TASK_RUN
    task_id: str
    command_type: str
    content: str
    working_dir: str
    username: str
    timeout: float
    # Optional since protocol 2 (see _OPTIONAL): absent on the wire when they hold these defaults, so an
    # agent of protocol 1 still accepts every task.run that does not use them.
    termination_mode: str = TERMINATION_PROCESS_TREE
    container_id: str = ""  # as the API got it, runtime prefix (docker://, containerd://, cri-o://) kept
    container_name: str = ""
    # Optional since protocol 3: the command line that starts the script (launcher.py), and a dry run
    # (check that the task could run, run nothing).
    launcher: str = ""
    dry_run: bool = False


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


# --- file transfer frames ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FileSend:
    type: ClassVar[str] = FILE_SEND
    task_id: str
    name: str
    target_dir: str
    owner: str
    group: str
    mode: str
    overwrite: bool
    size: int
    sha256: str
    timeout: float


@dataclass(frozen=True)
class FileRead:
    type: ClassVar[str] = FILE_READ
    task_id: str
    offset: int
    length: int


@dataclass(frozen=True)
class FileData:
    type: ClassVar[str] = FILE_DATA
    task_id: str
    offset: int
    data: bytes  # Base64 on the wire; empty past the end of the file


@dataclass(frozen=True)
class FileResult:
    type: ClassVar[str] = FILE_RESULT
    task_id: str
    status: str
    error_code: str
    error_info: str
    started_at: float | None
    finished_at: float


@dataclass(frozen=True)
class FileAbort:
    type: ClassVar[str] = FILE_ABORT
    task_id: str
    reason: str


# --- terminal session frames (docs/terminals.md) ---------------------------------------------------


@dataclass(frozen=True)
class SessionOpen:
    type: ClassVar[str] = SESSION_OPEN
    session_id: str
    username: str
    create_user: bool  # the console's default user: an agent running as root may create it
    command_line: str  # "" = the user's login shell
    cols: int
    rows: int
    idle_timeout: float
    max_duration: float
    window: int  # output bytes the agent may send beyond the last session.ack


@dataclass(frozen=True)
class SessionInput:
    type: ClassVar[str] = SESSION_INPUT
    session_id: str
    data: bytes  # Base64 on the wire


@dataclass(frozen=True)
class SessionResize:
    type: ClassVar[str] = SESSION_RESIZE
    session_id: str
    cols: int
    rows: int


@dataclass(frozen=True)
class SessionAck:
    type: ClassVar[str] = SESSION_ACK
    session_id: str
    bytes: int  # total output bytes the client has consumed since the session opened


@dataclass(frozen=True)
class SessionClose:
    type: ClassVar[str] = SESSION_CLOSE
    session_id: str
    reason: str


@dataclass(frozen=True)
class SessionOpened:
    type: ClassVar[str] = SESSION_OPENED
    session_id: str
    pid: int


@dataclass(frozen=True)
class SessionOutput:
    type: ClassVar[str] = SESSION_OUTPUT
    session_id: str
    seq: int
    data: bytes  # Base64 on the wire


@dataclass(frozen=True)
class SessionClosed:
    type: ClassVar[str] = SESSION_CLOSED
    session_id: str
    reason: str
    detail: str
    exit_code: int | None


_SESSION_CLASSES = (
    SessionOpen,
    SessionInput,
    SessionResize,
    SessionAck,
    SessionClose,
    SessionOpened,
    SessionOutput,
    SessionClosed,
)


# --- self-update frames (docs/agent-protocol.md, "Self-update") -----------------------------------------


@dataclass(frozen=True)
class UpdateOffer:
    type: ClassVar[str] = UPDATE_OFFER
    version: str
    sha256: str  # hex, of the zipapp
    signature: bytes  # Base64 on the wire: Ed25519 over assist_agent.update.release_statement
    size: int
    url: str  # path on the console, fetched with the instance's credentials


@dataclass(frozen=True)
class UpdateCheck:
    type: ClassVar[str] = UPDATE_CHECK


@dataclass(frozen=True)
class UpdateStatus:
    type: ClassVar[str] = UPDATE_STATUS
    state: str
    version: str
    detail: str


_UPDATE_CLASSES = (UpdateOffer, UpdateCheck, UpdateStatus)

# typing.Union, not ``X | Y``: these aliases are evaluated at import time, and the agent runs on Python 3.8.
AgentFrame = Union[Hello, Heartbeat, TaskStarted, TaskOutput, TaskResult]
ConsoleFrame = Union[Welcome, TaskRun, TaskStop, TaskAck, TaskResend, Error]
SessionFrame = Union[
    SessionOpen,
    SessionInput,
    SessionResize,
    SessionAck,
    SessionClose,
    SessionOpened,
    SessionOutput,
    SessionClosed,
]
FileFrame = Union[FileSend, FileRead, FileData, FileResult, FileAbort]
UpdateFrame = Union[UpdateOffer, UpdateCheck, UpdateStatus]
Frame = Union[AgentFrame, ConsoleFrame, SessionFrame, FileFrame, UpdateFrame]

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
        FileSend,
        FileRead,
        FileData,
        FileResult,
        FileAbort,
        *_SESSION_CLASSES,
        *_UPDATE_CLASSES,
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


def _time_zone(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_+:./-]{0,64}", value):
        raise _Invalid("must be a time zone name of at most 64 characters of [A-Za-z0-9_+:./-], or empty")
    return value


def _termination_mode(value: object) -> str:
    if not isinstance(value, str) or value not in TERMINATION_MODES:
        raise _Invalid(f"must be one of {', '.join(sorted(TERMINATION_MODES))}")
    return value


def _container_ref(value: object) -> str:
    if len(_str(value)) > 255:
        raise _Invalid("must be at most 255 characters")
    return str(value)


def _launcher(value: object) -> str:
    if len(_str(value).encode("utf-8", "surrogateescape")) > MAX_LAUNCHER_BYTES:
        raise _Invalid(f"must be at most {MAX_LAUNCHER_BYTES} bytes")
    return str(value)


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


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def _sha256(value: object) -> str:
    if not isinstance(value, str) or re.fullmatch(r"[0-9a-f]{64}", value) is None:
        raise _Invalid("must be 64 lowercase hex digits")
    return value


def _read_length(value: object) -> int:
    number = _int(value)
    if not 1 <= number <= MAX_FILE_READ:
        raise _Invalid(f"must be an integer from 1 to {MAX_FILE_READ}")
    return number


def _file_status(value: object) -> str:
    if not isinstance(value, str) or value not in FILE_STATUSES:
        raise _Invalid(f"must be one of {', '.join(sorted(FILE_STATUSES))}")
    return value


def _session_id(value: object) -> str:
    if not is_valid_session_id(value):
        raise _Invalid("must match ^s-[a-z0-9]{1,62}$")
    return str(value)


def _terminal_size(value: object) -> int:
    number = _int(value)
    if not 1 <= number <= 1000:
        raise _Invalid("must be an integer from 1 to 1000")
    return number


def _session_data(value: object) -> bytes:
    data = _base64(value)
    if len(data) > SESSION_CHUNK_SIZE:
        raise _Invalid(f"must hold at most {SESSION_CHUNK_SIZE} bytes")
    return data


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
        ("time_zone", _time_zone),
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
    WELCOME: (("instance_id", _nonempty_str), ("heartbeat_interval", _positive), ("protocol", _int_min(1))),
    TASK_RUN: (
        ("task_id", _task_id),
        ("command_type", _nonempty_str),
        ("content", _str),
        ("working_dir", _str),
        ("username", _str),
        ("timeout", _positive),
        ("termination_mode", _termination_mode),
        ("container_id", _container_ref),
        ("container_name", _container_ref),
        ("launcher", _launcher),
        ("dry_run", _bool),
    ),
    TASK_STOP: (("task_id", _task_id),),
    TASK_ACK: (("task_id", _task_id),),
    TASK_RESEND: (("task_id", _task_id), ("seqs", _seq_list)),
    ERROR: (("code", _nonempty_str), ("message", _str), ("ref", _str)),
    FILE_SEND: (
        ("task_id", _task_id),
        ("name", _nonempty_str),
        ("target_dir", _nonempty_str),
        ("owner", _str),
        ("group", _str),
        ("mode", _str),
        ("overwrite", _bool),
        ("size", _int_min(0)),
        ("sha256", _sha256),
        ("timeout", _positive),
    ),
    FILE_READ: (("task_id", _task_id), ("offset", _int_min(0)), ("length", _read_length)),
    FILE_DATA: (("task_id", _task_id), ("offset", _int_min(0)), ("data", _base64)),
    FILE_RESULT: (
        ("task_id", _task_id),
        ("status", _file_status),
        ("error_code", _str),
        ("error_info", _str),
        ("started_at", _optional_time),
        ("finished_at", _time),
    ),
    FILE_ABORT: (("task_id", _task_id), ("reason", _str)),
    SESSION_OPEN: (
        ("session_id", _session_id),
        ("username", _str),
        ("create_user", _bool),
        ("command_line", _str),
        ("cols", _terminal_size),
        ("rows", _terminal_size),
        ("idle_timeout", _positive),
        ("max_duration", _positive),
        ("window", _int_min(SESSION_CHUNK_SIZE)),
    ),
    SESSION_INPUT: (("session_id", _session_id), ("data", _session_data)),
    SESSION_RESIZE: (("session_id", _session_id), ("cols", _terminal_size), ("rows", _terminal_size)),
    SESSION_ACK: (("session_id", _session_id), ("bytes", _int_min(0))),
    SESSION_CLOSE: (("session_id", _session_id), ("reason", _str)),
    SESSION_OPENED: (("session_id", _session_id), ("pid", _int_min(1))),
    SESSION_OUTPUT: (("session_id", _session_id), ("seq", _int_min(1)), ("data", _session_data)),
    SESSION_CLOSED: (
        ("session_id", _session_id),
        ("reason", _nonempty_str),
        ("detail", _str),
        ("exit_code", _optional_int),
    ),
}


def _update_version(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}", value):
        raise _Invalid("must be 1-32 characters of [0-9A-Za-z.+_-], starting with a letter or digit")
    return value


def _update_sha256(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
        raise _Invalid("must be 64 lowercase hex digits")
    return value


def _update_signature(value: object) -> bytes:
    data = _base64(value)
    if len(data) != 64:
        raise _Invalid("must be a 64-byte Ed25519 signature in Base64")
    return data


def _update_path(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//") or len(value) > 512:
        raise _Invalid("must be a path on the console (starting with a single /)")
    return value


def _update_state(value: object) -> str:
    if not isinstance(value, str) or value not in UPDATE_STATES:
        raise _Invalid(f"must be one of {', '.join(sorted(UPDATE_STATES))}")
    return value


def _update_detail(value: object) -> str:
    if len(_str(value)) > 1000:
        raise _Invalid("must be at most 1000 characters")
    return str(value)


_SCHEMAS.update(
    {
        UPDATE_OFFER: (
            ("version", _update_version),
            ("sha256", _update_sha256),
            ("signature", _update_signature),
            ("size", _int_min(1)),
            ("url", _update_path),
        ),
        UPDATE_CHECK: (),
        UPDATE_STATUS: (("state", _update_state), ("version", _update_version), ("detail", _update_detail)),
    }
)

# Fields a frame may omit, with the value that applies then. encode() leaves out such a field when it holds
# that value, so a peer that predates the field gets the frame it knows (docs/agent-protocol.md, "Optional
# fields").
_OPTIONAL: dict[str, dict[str, object]] = {
    HELLO: {"time_zone": ""},
    WELCOME: {"protocol": 0},
    TASK_RUN: {
        "termination_mode": TERMINATION_PROCESS_TREE,
        "container_id": "",
        "container_name": "",
        "launcher": "",
        "dry_run": False,
    },
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
    optional = _OPTIONAL.get(type_, {})
    for name, check in schema:
        if name not in obj and name in optional:
            values[name] = optional[name]
            continue
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
    type_, obj = _typed_object(text, sender)
    frame: Frame = _CLASSES[type_](**_check_fields(type_, obj))
    return frame


def _typed_object(
    text: str | bytes, sender: Literal["agent", "console"] | None
) -> tuple[str, dict[str, Any]]:
    """The JSON object of a frame without its "type", and that type, checked against ``sender``."""
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
    return type_, obj


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
    # An optional field holding its default is left out (and not checked: the default of welcome's
    # protocol, 0, means "not said" and is not a value the wire may carry).
    for name, default in _OPTIONAL.get(type_, {}).items():
        if body.get(name) == default:
            del body[name]
    if isinstance(frame, (TaskOutput, FileData)):
        if not isinstance(frame.data, (bytes, bytearray)):
            raise ProtocolError(INVALID_FIELD, f"{type_}.data must be bytes", type_)
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


# A binary message holds one task.output: its JSON header (type, task_id, seq) on one line, then the raw
# bytes of the chunk. json.dumps never writes a raw newline, so the first b"\n" ends the header.
_BINARY_HEADER_END = b"\n"
_MAX_BINARY_HEADER = 256  # type, a task id of at most 64 characters and a seq fit with room to spare


def encode_binary(frame: TaskOutput) -> bytes:
    """``task.output`` as one binary message (protocol 4), validated as ``encode`` validates it."""
    if not isinstance(frame, TaskOutput):
        raise ProtocolError(UNKNOWN_TYPE, f"only task.output travels as binary, not {frame!r}")
    if not isinstance(frame.data, (bytes, bytearray)):
        raise ProtocolError(INVALID_FIELD, f"{TASK_OUTPUT}.data must be bytes", TASK_OUTPUT)
    _check_fields(TASK_OUTPUT, {"task_id": frame.task_id, "seq": frame.seq, "data": ""})
    header = json.dumps(
        {"type": TASK_OUTPUT, "task_id": frame.task_id, "seq": frame.seq}, separators=(",", ":")
    )
    message = header.encode() + _BINARY_HEADER_END + frame.data
    if len(message) > MAX_FRAME_BYTES:
        raise ProtocolError(
            FRAME_TOO_LARGE,
            f"{TASK_OUTPUT} frame is {len(message)} bytes, the limit is {MAX_FRAME_BYTES}",
            TASK_OUTPUT,
        )
    return message


def decode_binary(message: bytes, *, sender: Literal["agent", "console"] | None = None) -> TaskOutput:
    """Parse and validate one binary message (``encode_binary``); anything wrong raises ``ProtocolError``.

    Only ``task.output`` travels as binary, so only agents send binary messages."""
    if len(message) > MAX_FRAME_BYTES:
        raise ProtocolError(FRAME_TOO_LARGE, f"frame is {len(message)} bytes, the limit is {MAX_FRAME_BYTES}")
    end = message.find(_BINARY_HEADER_END, 0, _MAX_BINARY_HEADER)
    if end < 0:
        raise ProtocolError(
            MALFORMED_FRAME,
            "a binary frame must start with a JSON header line (task.output's type, task_id, seq)",
        )
    type_, header = _typed_object(message[:end], sender)
    if type_ != TASK_OUTPUT:
        raise ProtocolError(UNKNOWN_TYPE, f"only {TASK_OUTPUT} may be a binary frame, not {type_!r}", type_)
    if "data" in header:
        raise ProtocolError(
            INVALID_FIELD, f"{TASK_OUTPUT}: data follows the header line of a binary frame", type_
        )
    fields_ = _check_fields(TASK_OUTPUT, {**header, "data": ""})
    return TaskOutput(task_id=fields_["task_id"], seq=fields_["seq"], data=bytes(message[end + 1 :]))


def encode_for_console(frame: Frame, console_protocol: int) -> str | bytes:
    """``frame`` as the agent sends it to a console whose welcome said ``console_protocol`` (0: it said
    none): ``task.output`` as one binary message from protocol 4 on, everything else as text."""
    if console_protocol >= BINARY_OUTPUT_PROTOCOL and isinstance(frame, TaskOutput):
        return encode_binary(frame)
    return encode(frame)


def task_run_for_peer(frame: TaskRun, peer_protocol: int) -> TaskRun | None:
    """The ``task.run`` to send to an agent whose hello said ``peer_protocol``, or None if it cannot run it.

    An older agent refuses the optional fields it does not know, so they must hold their defaults:
    ``termination_mode`` becomes ProcessTree for protocol 1 (all such an agent does; a stop or timeout still
    ends the script), and a task in a container (protocol 1), with a launcher or a dry run (before protocol
    3) cannot run there at all: the console reports ``ClientNeedUpgrade`` (task_run_missing_feature says
    why). Running such a task without its launcher would run the script with the wrong interpreter, and a
    dry run without its flag would run the script for real.
    """
    if task_run_missing_feature(frame, peer_protocol):
        return None
    if peer_protocol >= 2:
        return frame
    return replace(frame, termination_mode=TERMINATION_PROCESS_TREE)


def task_run_missing_feature(frame: TaskRun, peer_protocol: int) -> str:
    """What of ``frame`` an agent of ``peer_protocol`` cannot do, in words ("" when it can run it)."""
    if peer_protocol < DRY_RUN_PROTOCOL and frame.dry_run:
        return "a dry run (RepeatMode=DryRun)"
    if peer_protocol < LAUNCHER_PROTOCOL and frame.launcher:
        return "a command with a Launcher"
    if peer_protocol < 2 and (frame.container_id or frame.container_name):
        return "a command in a container"
    return ""


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
