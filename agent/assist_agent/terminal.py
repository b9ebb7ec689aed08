"""Interactive terminal sessions: a login shell on a PTY, relayed with credit-based flow control.

The console opens a session with ``session.open``; the agent runs the user's login shell (or the given
command line) on a new PTY, in its own session and process group, as the requested user. Output goes
back as ``session.output`` frames, but never more than ``window`` bytes beyond the last ``session.ack``:
when the window is full the agent stops reading the PTY master, the kernel's PTY buffer fills and the
producer (``yes``, ``cat`` of a big file) blocks. Input is a separate direction and is written at once.

A session ends on ``session.close``, when the shell exits, after ``idle_timeout`` seconds without input or
output, after ``max_duration``, when the connection to the console drops and when the agent stops. Ending
hangs up every process of the session (SIGHUP), then kills what is left (SIGKILL).
"""

from __future__ import annotations

import asyncio
import collections
import errno
import fcntl
import logging
import os
import pwd
import shutil
import signal
import struct
import subprocess
import termios
import threading
import time
from typing import Any, Callable

from . import protocol
from .protocol import (
    SessionAck,
    SessionClose,
    SessionClosed,
    SessionInput,
    SessionOpen,
    SessionOpened,
    SessionOutput,
    SessionResize,
)

log = logging.getLogger("assist_agent.terminal")

READ_SIZE = protocol.SESSION_CHUNK_SIZE
KILL_GRACE = 1.0  # SIGHUP to SIGKILL
MAX_SESSIONS = 32
# Input the shell has not read yet; more is dropped (a huge paste into a program that does not read).
MAX_PENDING_INPUT = 1 << 20
# A partial chunk waits this long for more output: a flood then travels in few large frames, not in
# thousands of 4 KiB ones (the PTY hands out at most a page per read).
COALESCE_SECONDS = 0.003
DRAIN_LIMIT = 256 * 1024  # output still read after the shell exited, whatever the window
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# session.closed reasons
CLIENT_CLOSED = "ClientClosed"
PROCESS_EXITED = "ProcessExited"
IDLE_TIMEOUT = "IdleTimeout"
MAX_DURATION = "MaxDuration"
AGENT_STOPPED = "AgentStopped"
CONNECTION_LOST = "AgentSocketClosed"
OPEN_FAILED = "OpenFailed"
USER_NOT_EXISTS = "UserNotExists"


class CreditWindow:
    """Output bytes sent versus acknowledged. The sender may read more only while ``room() > 0``."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("the window must be at least 1 byte")
        self.size = size
        self.sent = 0
        self.acked = 0

    @property
    def unacked(self) -> int:
        return self.sent - self.acked

    def room(self) -> int:
        return max(0, self.size - self.unacked)

    def on_sent(self, count: int) -> None:
        self.sent += count

    def on_ack(self, total: int) -> None:
        """``total`` is cumulative; a stale (smaller) ack is ignored, one beyond what was sent is capped."""
        self.acked = max(self.acked, min(total, self.sent))


class SessionRefused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def resolve_user(username: str, create: bool) -> tuple[pwd.struct_passwd, bool]:
    """The account to run as and whether the agent must switch to it (it runs as another user)."""
    current = pwd.getpwuid(os.geteuid())
    if not username or username == current.pw_name:
        return current, False
    try:
        target = pwd.getpwnam(username)
    except KeyError:
        if not (create and os.geteuid() == 0 and shutil.which("useradd")):
            raise SessionRefused(
                USER_NOT_EXISTS, f"the user {username} does not exist on this machine"
            ) from None
        _create_user(username)
        target = pwd.getpwnam(username)
    if os.geteuid() != 0:
        raise SessionRefused(
            USER_NOT_EXISTS,
            f"cannot open a shell as {username}: the agent runs as {current.pw_name}, not as root",
        )
    return target, True


def _create_user(username: str) -> None:
    log.info("creating the default terminal user %s", username)
    done = subprocess.run(
        ["useradd", "--system", "--create-home", "--shell", "/bin/bash", username],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=30,
    )
    if done.returncode != 0 and done.returncode != 9:  # 9: it appeared meanwhile
        detail = done.stdout.decode(errors="replace").strip()
        raise SessionRefused(USER_NOT_EXISTS, f"cannot create the user {username}: {detail}")


def set_window_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def session_members(sid: int) -> list[int]:
    """Live processes (not zombies) of session ``sid``, from /proc."""
    members = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 3 and fields[0] != b"Z" and int(fields[3]) == sid:
            members.append(int(name))
    return members


def _signal_session(sid: int, sig: signal.Signals) -> int:
    pids = session_members(sid)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    return len(pids)


def _exit_code(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode


class TerminalSession:
    """One shell on one PTY, from session.open to session.closed. ``run()`` never raises."""

    def __init__(self, spec: SessionOpen, send: Callable[[protocol.Frame], None]) -> None:
        self.spec = spec
        self.session_id = spec.session_id
        self.send = send
        self.window = CreditWindow(spec.window)
        self.seq = 0
        self.master = -1
        self.process: subprocess.Popen[bytes] | None = None
        self.reading = False
        self.last_activity = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended: asyncio.Future[tuple[str, str]] | None = None
        self._exited: asyncio.Future[int] | None = None
        self._pending_input = bytearray()
        self._pending_output = bytearray()
        self._closing = False
        self._flush_handle: asyncio.TimerHandle | None = None
        self._writing = False
        self._closed_by: tuple[str, str] | None = None

    # control, from the runner --------------------------------------------------------------------

    def end(self, reason: str, detail: str = "") -> None:
        if self._ended is None:
            self._closed_by = self._closed_by or (reason, detail)
        elif not self._ended.done():
            self._ended.set_result((reason, detail))

    def input(self, data: bytes) -> None:
        if self.master < 0 or not data:
            return
        self.last_activity = time.monotonic()
        room = MAX_PENDING_INPUT - len(self._pending_input)
        if room < len(data):
            log.warning(
                "session %s: the shell is not reading its input; %d bytes dropped",
                self.session_id,
                len(data) - room,
            )
            data = data[: max(0, room)]
        self._pending_input += data
        self._flush_input()

    def resize(self, cols: int, rows: int) -> None:
        if self.master >= 0:
            self.last_activity = time.monotonic()
            set_window_size(self.master, cols, rows)

    def ack(self, total: int) -> None:
        self.window.on_ack(total)
        self._update_reader()

    # lifecycle ------------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._ended = loop.create_future()
        if self._closed_by is not None:  # ended before it started
            self._ended.set_result(self._closed_by)
        try:
            self._spawn()
        except SessionRefused as refused:
            self._close_master()
            log.warning("session %s refused: %s", self.session_id, refused.detail)
            self.send(SessionClosed(self.session_id, refused.reason, refused.detail, None))
            return
        except Exception as exc:
            self._close_master()
            log.exception("session %s: cannot start the shell", self.session_id)
            self.send(SessionClosed(self.session_id, OPEN_FAILED, f"cannot start the shell: {exc}", None))
            return
        assert self.process is not None
        log.info(
            "session %s: shell %d as %s",
            self.session_id,
            self.process.pid,
            self.spec.username or "(agent user)",
        )
        self.send(SessionOpened(self.session_id, self.process.pid))
        self._exited = loop.create_future()
        threading.Thread(target=self._wait_process, name=f"wait-{self.session_id}", daemon=True).start()
        self._exited.add_done_callback(lambda _: self.end(PROCESS_EXITED))
        self._update_reader()
        watchdog = asyncio.ensure_future(self._watchdog())
        try:
            reason, detail = await self._ended
        finally:
            watchdog.cancel()
        exit_code = await self._teardown()
        log.info("session %s ended: %s %s", self.session_id, reason, detail)
        self.send(SessionClosed(self.session_id, reason, detail, exit_code))

    def _spawn(self) -> None:
        spec = self.spec
        user, switch = resolve_user(spec.username, spec.create_user)
        shell = user.pw_shell if user.pw_shell and os.path.exists(user.pw_shell) else "/bin/sh"
        argv = [shell, "-l"] + (["-c", spec.command_line] if spec.command_line else [])
        home = user.pw_dir if os.path.isdir(user.pw_dir) else "/"
        env = {
            "TERM": "xterm-256color",
            "HOME": home,
            "USER": user.pw_name,
            "LOGNAME": user.pw_name,
            "SHELL": shell,
            "PATH": DEFAULT_PATH,
            "LANG": os.environ.get("LANG", "C.UTF-8"),
        }
        uid, gid = user.pw_uid, user.pw_gid
        groups = os.getgrouplist(user.pw_name, gid) if switch else []

        def child_setup() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the PTY becomes the controlling terminal: job control, ^C
            if switch:
                os.setgroups(groups)
                os.setgid(gid)
                os.setuid(uid)

        master, slave = os.openpty()
        self.master = master
        try:
            set_window_size(slave, spec.cols, spec.rows)
            self.process = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=home,
                env=env,
                preexec_fn=child_setup,
                close_fds=True,
            )
        finally:
            os.close(slave)
        os.set_blocking(master, False)

    def _wait_process(self) -> None:
        assert self.process is not None and self._loop is not None and self._exited is not None
        code = self.process.wait()
        exited = self._exited

        def report() -> None:
            if not exited.done():
                exited.set_result(_exit_code(code))

        try:
            self._loop.call_soon_threadsafe(report)
        except RuntimeError:  # the loop is gone: the agent is exiting
            pass

    async def _watchdog(self) -> None:
        started = time.monotonic()
        while True:
            now = time.monotonic()
            if now - started >= self.spec.max_duration:
                self.end(
                    MAX_DURATION, f"the session reached its maximum duration of {self.spec.max_duration:g} s"
                )
                return
            if now - self.last_activity >= self.spec.idle_timeout:
                self.end(IDLE_TIMEOUT, f"no input or output for {self.spec.idle_timeout:g} s")
                return
            next_check = min(started + self.spec.max_duration, self.last_activity + self.spec.idle_timeout)
            await asyncio.sleep(max(0.05, min(next_check - now, 5.0)))

    async def _teardown(self) -> int | None:
        """Stop reading, drain what the shell left, hang up the whole session, reap the shell."""
        self._closing = True
        self._stop_reading()
        self._flush_output()
        if self._writing and self._loop is not None:
            self._loop.remove_writer(self.master)
            self._writing = False
        assert self.process is not None and self._exited is not None
        if self._exited.done():
            self._drain()
        sid = self.process.pid
        self._close_master()  # the kernel hangs up the terminal: SIGHUP to its foreground job
        if _signal_session(sid, signal.SIGHUP):
            deadline = time.monotonic() + KILL_GRACE
            while session_members(sid) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if _signal_session(sid, signal.SIGKILL):
                log.info("session %s: killed what SIGHUP left", self.session_id)
        try:
            return await asyncio.wait_for(asyncio.shield(self._exited), KILL_GRACE + 5)
        except asyncio.TimeoutError:
            log.error("session %s: shell %d does not exit", self.session_id, sid)
            return None

    # PTY I/O --------------------------------------------------------------------------------------

    def _update_reader(self) -> None:
        if self._loop is None or self.master < 0 or self._closing:
            return
        if self.window.room() > 0 and not self.reading:
            self._loop.add_reader(self.master, self._on_readable)
            self.reading = True
        elif self.window.room() == 0 and self.reading:
            self._stop_reading()

    def _stop_reading(self) -> None:
        if self.reading and self._loop is not None:
            self._loop.remove_reader(self.master)
        self.reading = False

    def _read(self, limit: int) -> tuple[bytes, bool]:
        """Up to ``limit`` bytes without blocking, and whether the PTY reached its end."""
        data = bytearray()
        while len(data) < limit:
            try:
                chunk = os.read(self.master, limit - len(data))
            except BlockingIOError:
                return bytes(data), False
            except OSError as exc:  # EIO: every process closed the terminal
                if exc.errno != errno.EIO:
                    log.warning("session %s: read error: %s", self.session_id, exc)
                return bytes(data), True
            if not chunk:
                return bytes(data), True
            data += chunk
        return bytes(data), False

    def _on_readable(self) -> None:
        limit = min(self.window.room(), READ_SIZE) - len(self._pending_output)
        data, eof = self._read(limit) if limit > 0 else (b"", False)
        self._pending_output += data
        if eof or len(data) >= limit:
            self._flush_output()
        elif self._pending_output and self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_later(COALESCE_SECONDS, self._flush_output)
        if eof:
            self._stop_reading()  # the shell's exit (seen by the waiter thread) ends the session
        else:
            self._update_reader()

    def _flush_output(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._pending_output:
            data = bytes(self._pending_output)
            self._pending_output.clear()
            self._emit(data)
            self._update_reader()

    def _drain(self) -> None:
        self._flush_output()
        left = DRAIN_LIMIT
        while left > 0:
            data, eof = self._read(min(left, READ_SIZE))
            if data:
                self._emit(data)
                left -= len(data)
            if eof or not data:
                return

    def _emit(self, data: bytes) -> None:
        self.seq += 1
        self.window.on_sent(len(data))
        self.last_activity = time.monotonic()
        self.send(SessionOutput(self.session_id, self.seq, data))

    def _flush_input(self) -> None:
        while self._pending_input:
            try:
                written = os.write(self.master, self._pending_input)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("session %s: write error: %s", self.session_id, exc)
                self._pending_input.clear()
                break
            del self._pending_input[:written]
        if self._loop is None:
            return
        if self._pending_input and not self._writing:
            self._loop.add_writer(self.master, self._flush_input)
            self._writing = True
        elif not self._pending_input and self._writing:
            self._loop.remove_writer(self.master)
            self._writing = False

    def _close_master(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


class Terminals:
    """The agent's sessions: dispatches session.* frames, ends them all on disconnect or stop."""

    def __init__(self, send: Callable[[protocol.Frame], None]) -> None:
        self.send = send
        self.sessions: dict[str, TerminalSession] = {}
        self._runs: set[asyncio.Future[Any]] = set()
        self._ended: collections.deque[str] = collections.deque(maxlen=256)  # a re-sent open is not a new one

    def handle(self, frame: object) -> bool:
        """Act on a session frame; False when ``frame`` is not one."""
        if isinstance(frame, SessionOpen):
            self._open(frame)
        elif isinstance(frame, (SessionInput, SessionResize, SessionAck, SessionClose)):
            session = self.sessions.get(frame.session_id)
            if session is None:
                log.debug("%s for unknown session %s: ignored", frame.type, frame.session_id)
            elif isinstance(frame, SessionInput):
                session.input(frame.data)
            elif isinstance(frame, SessionResize):
                session.resize(frame.cols, frame.rows)
            elif isinstance(frame, SessionAck):
                session.ack(frame.bytes)
            else:
                session.end(frame.reason or CLIENT_CLOSED)
        else:
            return False
        return True

    def _open(self, frame: SessionOpen) -> None:
        if frame.session_id in self.sessions or frame.session_id in self._ended:
            log.info("session.open for %s, which is open or ended: ignored", frame.session_id)
            return
        if len(self.sessions) >= MAX_SESSIONS:
            detail = f"this agent already runs {MAX_SESSIONS} sessions"
            self.send(SessionClosed(frame.session_id, OPEN_FAILED, detail, None))
            return
        session = TerminalSession(frame, self.send)
        self.sessions[frame.session_id] = session
        future = asyncio.ensure_future(session.run())
        self._runs.add(future)

        def done(f: asyncio.Future[Any]) -> None:
            self._runs.discard(f)
            self.sessions.pop(frame.session_id, None)
            self._ended.append(frame.session_id)

        future.add_done_callback(done)

    def end_all(self, reason: str, detail: str = "") -> None:
        for session in list(self.sessions.values()):
            session.end(reason, detail)

    async def wait_ended(self, timeout: float) -> None:
        if self._runs:
            await asyncio.wait(set(self._runs), timeout=timeout)
