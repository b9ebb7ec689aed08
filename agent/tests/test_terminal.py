"""Terminal sessions on the agent: a real PTY and shell, driven through ``Terminals`` as the runner does."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from assist_agent import protocol as p
from assist_agent import terminal
from assist_agent.terminal import CreditWindow, Terminals

# --- the credit window (pure) ----------------------------------------------------------------------

WINDOW_CASES = [
    # (sent, acks, expected unacked, expected room)
    ([100], [], 100, 156),
    ([256], [], 256, 0),
    ([200, 100], [], 300, 0),  # a read may overshoot by less than one chunk
    ([256], [100], 156, 100),
    ([256], [100, 50], 156, 100),  # a stale ack is ignored
    ([256], [1000], 0, 256),  # an ack beyond what was sent is capped
    ([256, 256], [256, 512], 0, 256),
]


@pytest.mark.parametrize(("sent", "acks", "unacked", "room"), WINDOW_CASES)
def test_credit_window(sent: list[int], acks: list[int], unacked: int, room: int) -> None:
    window = CreditWindow(256)
    for count in sent:
        window.on_sent(count)
    for total in acks:
        window.on_ack(total)
    assert (window.unacked, window.room()) == (unacked, room)


def test_session_frames_are_strict() -> None:
    ok = p.SessionResize(session_id="s-abc123", cols=100, rows=30)
    assert p.decode(p.encode(ok), sender="console") == ok
    for bad in (
        '{"type":"session.resize","session_id":"s-abc","cols":0,"rows":30}',
        '{"type":"session.resize","session_id":"x-abc","cols":80,"rows":30}',
        '{"type":"session.ack","session_id":"s-abc","bytes":-1}',
        # the console does not send output:
        '{"type":"session.output","session_id":"s-abc","seq":1,"data":"aGk="}',
    ):
        with pytest.raises(p.ProtocolError):
            p.decode(bad, sender="console")
    big = p.SessionInput(session_id="s-abc", data=b"x" * (p.SESSION_CHUNK_SIZE + 1))
    with pytest.raises(p.ProtocolError):
        p.encode(big)


# --- real PTY sessions --------------------------------------------------------------------------------


# As root, tests open shells as the default user (created on first use), not as root: root's login profile
# may run slow or stateful things (a pyenv rehash holding a lock), and a test must not kill those midway.
TEST_USER = "assist-user" if os.geteuid() == 0 else ""


class Harness:
    def __init__(self) -> None:
        self.frames: list[p.Frame] = []
        self.terminals = Terminals(self.frames.append)
        self.acked = 0

    def open(self, session_id: str = "s-test1", **overrides: Any) -> None:
        spec = {
            "session_id": session_id,
            "username": TEST_USER,
            "create_user": bool(TEST_USER),
            "command_line": "",
            "cols": 80,
            "rows": 24,
            "idle_timeout": 60.0,
            "max_duration": 600.0,
            "window": 256 * 1024,
            **overrides,
        }
        assert self.terminals.handle(p.SessionOpen(**spec))

    def output(self, session_id: str = "s-test1") -> bytes:
        return b"".join(
            f.data for f in self.frames if isinstance(f, p.SessionOutput) and f.session_id == session_id
        )

    def closed(self, session_id: str = "s-test1") -> p.SessionClosed | None:
        found = [f for f in self.frames if isinstance(f, p.SessionClosed) and f.session_id == session_id]
        return found[0] if found else None

    def opened(self, session_id: str = "s-test1") -> p.SessionOpened | None:
        found = [f for f in self.frames if isinstance(f, p.SessionOpened) and f.session_id == session_id]
        return found[0] if found else None

    def type(self, text: str, session_id: str = "s-test1") -> None:
        self.terminals.handle(p.SessionInput(session_id=session_id, data=text.encode()))

    def ack_all(self, session_id: str = "s-test1") -> None:
        self.terminals.handle(p.SessionAck(session_id=session_id, bytes=len(self.output(session_id))))

    async def until(self, predicate: Any, timeout: float = 10.0, ack: bool = True) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            if ack:
                self.ack_all()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                tail = self.output()[-500:]
                raise AssertionError(
                    f"timed out; output tail {tail!r}; frames {[f.type for f in self.frames][-10:]}"
                )
            await asyncio.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def test_echo_resize_and_close_kill_the_whole_session() -> None:
    async def main() -> None:
        h = Harness()
        h.open(cols=91, rows=37)
        opened = await h.until(h.opened)
        h.type("echo $((6*7))\n")
        await h.until(lambda: b"42\r\n" in h.output())
        h.type("stty size\n")
        await h.until(lambda: b"37 91" in h.output())
        h.terminals.handle(p.SessionResize(session_id="s-test1", cols=120, rows=40))
        h.type("stty size; sleep 300 & sleep 301 | cat &\n")
        await h.until(lambda: b"40 120" in h.output())
        await h.until(lambda: len(terminal.session_members(opened.pid)) >= 4)
        members = terminal.session_members(opened.pid)
        h.terminals.handle(p.SessionClose(session_id="s-test1", reason="ClientClosed"))
        closed = await h.until(h.closed)
        assert closed.reason == "ClientClosed"
        assert not [pid for pid in members if _alive(pid)], "a process of the session survived"
        assert terminal.session_members(opened.pid) == []
        assert not h.terminals.sessions

    asyncio.run(main())


def test_shell_exit_ends_the_session_with_its_code() -> None:
    async def main() -> None:
        h = Harness()
        h.open(command_line="echo bye; exit 3")
        closed = await h.until(h.closed)
        assert (closed.reason, closed.exit_code) == ("ProcessExited", 3)
        assert b"bye" in h.output()

    asyncio.run(main())


def test_idle_timeout_and_max_duration() -> None:
    async def main() -> None:
        h = Harness()
        h.open("s-idle", idle_timeout=0.6)
        h.open("s-max", max_duration=0.8, command_line="while :; do echo tick; sleep 0.1; done")
        started = time.monotonic()
        idle = await h.until(lambda: h.closed("s-idle"))
        assert idle.reason == "IdleTimeout"
        assert 0.5 < time.monotonic() - started < 5
        longest = await h.until(lambda: h.closed("s-max"), ack=False)
        assert longest.reason == "MaxDuration"

    asyncio.run(main())


def test_a_full_window_stops_reading_until_acknowledged() -> None:
    async def main() -> None:
        h = Harness()
        window = 64 * 1024
        h.open(command_line="yes", window=window)
        await h.until(lambda: len(h.output()) >= window, ack=False)
        await asyncio.sleep(0.3)
        held = len(h.output())
        assert window <= held < window + p.SESSION_CHUNK_SIZE
        await asyncio.sleep(0.3)
        assert len(h.output()) == held, "the agent read past its window"
        h.ack_all()
        await h.until(lambda: len(h.output()) >= held + window, ack=False)
        h.terminals.end_all("ClientClosed")
        await h.until(h.closed, ack=False)

    asyncio.run(main())


def test_unknown_user_is_refused_with_a_reason() -> None:
    async def main() -> None:
        h = Harness()
        h.open(username="no-such-user-xyz", create_user=False)
        closed = await h.until(h.closed)
        assert closed.reason == "UserNotExists"
        assert "no-such-user-xyz" in closed.detail
        assert h.opened() is None

    asyncio.run(main())


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_the_default_user_is_created_and_the_shell_runs_as_it() -> None:
    async def main() -> None:
        h = Harness()
        h.open(username="assist-user", create_user=True, command_line="id -un; echo HOME=$HOME TERM=$TERM")
        await h.until(h.closed)
        assert b"assist-user\r\n" in h.output()
        assert b"HOME=/home/assist-user TERM=xterm-256color" in h.output()

    asyncio.run(main())
