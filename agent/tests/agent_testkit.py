"""Test helpers: a fake console (websockets server on 127.0.0.1) and a real agent process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from assist_agent import protocol
from websockets.asyncio.server import Server, ServerConnection, serve

INSTANCE_ID = "mi-test0001"
SECRET = "test-secret"


class FakeConsole:
    """Accepts the agent's hello, answers welcome, and queues every later frame for the test.

    It speaks ``console_protocol`` as the real console does: an agent of protocol 4 or more is told the
    console's protocol in welcome, and may then send binary ``task.output`` messages (counted in
    ``binary_messages``); an older console (3) says nothing, and a binary message is then a failure."""

    def __init__(
        self, heartbeat_interval: float = 30.0, console_protocol: int = protocol.PROTOCOL_VERSION
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.console_protocol = console_protocol
        self.binary_messages = 0
        self.port = 0
        self.hellos: list[protocol.Hello] = []
        self.frames: asyncio.Queue[protocol.Frame] = asyncio.Queue()
        self.seen: list[protocol.Frame] = []
        self.ws: ServerConnection | None = None
        self.connected = asyncio.Event()
        self.reading = asyncio.Event()  # cleared: the console stops reading (TCP pushes back on the agent)
        self.reading.set()
        self._server: Server | None = None

    async def start(self, port: int = 0) -> None:
        self.connected.clear()
        self._server = await serve(self._handle, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1] if port == 0 else port

    async def stop(self) -> None:
        """Close the listener and every connection (a network cut, as the agent sees it)."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        self.ws = None
        self.connected.clear()

    async def _handle(self, ws: ServerConnection) -> None:
        hello = protocol.decode(await ws.recv(), sender="agent")
        assert isinstance(hello, protocol.Hello)
        self.hellos.append(hello)
        says_protocol = min(self.console_protocol, hello.protocol) >= protocol.BINARY_OUTPUT_PROTOCOL
        welcome = protocol.Welcome(
            hello.instance_id, self.heartbeat_interval, protocol=self.console_protocol if says_protocol else 0
        )
        await ws.send(protocol.encode(welcome))
        self.ws = ws
        self.connected.set()
        async for message in ws:
            await self.reading.wait()
            if isinstance(message, bytes):
                assert says_protocol, "a binary message to a console that did not say protocol 4"
                self.binary_messages += 1
                frame = protocol.decode_binary(message, sender="agent")
            else:
                frame = protocol.decode(message, sender="agent")
            self.seen.append(frame)
            await self.frames.put(frame)

    async def wait_connected(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.connected.wait(), timeout)

    async def send(self, frame: protocol.Frame | str | bytes) -> None:
        assert self.ws is not None, "the agent is not connected"
        await self.ws.send(frame if isinstance(frame, str | bytes) else protocol.encode(frame))

    async def expect(
        self, cls: type[Any], task_id: str | None = None, timeout: float = 5.0, **fields: Any
    ) -> Any:
        """The next frame of this class (and task, and field values); other frames are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {cls.__name__} {task_id or ''} {fields or ''} within {timeout} s")
            try:
                frame = await asyncio.wait_for(self.frames.get(), remaining)
            except TimeoutError:
                continue
            if not isinstance(frame, cls) or (task_id is not None and frame.task_id != task_id):
                continue
            if all(getattr(frame, k) == v for k, v in fields.items()):
                return frame

    async def collect_task(self, task_id: str, timeout: float = 5.0) -> tuple[bytes, protocol.TaskResult]:
        """Wait for a task's result; return (its output chunks joined in seq order, the result)."""
        result = await self.expect(protocol.TaskResult, task_id, timeout)
        chunks = {
            f.seq: f.data for f in self.seen if isinstance(f, protocol.TaskOutput) and f.task_id == task_id
        }
        assert sorted(chunks) == list(range(1, result.last_seq + 1)), sorted(chunks)
        return b"".join(chunks[s] for s in sorted(chunks)), result

    async def quiet(self, seconds: float) -> list[protocol.Frame]:
        """Frames (other than heartbeats) that arrive within ``seconds``."""
        got: list[protocol.Frame] = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frame = await asyncio.wait_for(self.frames.get(), remaining)
            except TimeoutError:
                break
            if not isinstance(frame, protocol.Heartbeat):
                got.append(frame)
        return got


def run_task(
    task_id: str, content: str, *, timeout: float = 10.0, working_dir: str = "", username: str = ""
) -> protocol.TaskRun:
    return protocol.TaskRun(task_id, "RunShellScript", content, working_dir, username, timeout)


class AgentProcess:
    """``python -m assist_agent.cli run`` on a state dir registered with the fake console."""

    def __init__(self, state_dir: Path, log_path: Path) -> None:
        self.state_dir = state_dir
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def register(self, port: int) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        identity = {
            "InstanceId": INSTANCE_ID,
            "InstanceSecret": SECRET,
            "RegionId": "local",
            "Server": f"http://127.0.0.1:{port}",
        }
        (self.state_dir / "identity.json").write_text(json.dumps(identity))

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "assist_agent.cli",
                "run",
                "--state-dir",
                str(self.state_dir),
                "--log-level",
                "DEBUG",
                "--reconnect-initial",
                "0.2",
                "--reconnect-max",
                "0.5",
            ],
            stdout=log,
            stderr=log,
            env=env,
        )
        log.close()

    def signal(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # the fast stop (SIGTERM waits for running tasks)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (PID 1 here may not reap orphans promptly)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members
