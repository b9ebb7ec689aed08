"""The agent's asyncio layer: one websocket to the console, tasks, spool replay, reconnects.

Frames are built and parsed only by ``assist_agent.protocol``; this module moves them. A malformed
frame from the console is logged and ignored, a lost connection is retried forever with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from contextlib import suppress
from typing import Any

from . import __version__, protocol, sysinfo, wsclient
from .executor import TaskOptions, TaskProcess
from .protocol import TaskAck, TaskResend, TaskResult, TaskRun, TaskStop
from .store import Store
from .wsclient import ConnectionClosed

log = logging.getLogger("assist_agent")

WELCOME_TIMEOUT = 30.0  # seconds to wait for welcome after hello
STABLE_CONNECTION = 60.0  # a connection that stayed up this long resets the backoff
PING_INTERVAL = 20.0  # websocket pings; no pong within PING_TIMEOUT drops the connection (half-open TCP)
PING_TIMEOUT = 20.0
OUTBOX_LIMIT = 8 << 20  # live output frames queued beyond this are dropped (they stay spooled)
PRUNE_EVERY = 3600.0


def ws_url(server: str) -> str:
    """``http(s)://host[:port][/prefix]`` -> ``ws(s)://host[:port][/prefix]/ws/agent/``."""
    server = server.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if server.startswith(http):
            server = ws + server[len(http) :]
            break
    return server + "/ws/agent/"


class Agent:
    def __init__(
        self,
        store: Store,
        identity: dict[str, Any],
        *,
        reconnect_initial: float = 1.0,
        reconnect_max: float = 60.0,
        task_options: TaskOptions | None = None,
    ) -> None:
        self.store = store
        self.instance_id = str(identity["InstanceId"])
        self.secret = str(identity["InstanceSecret"])
        self.url = ws_url(str(identity["Server"]))
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.task_options = task_options or TaskOptions()
        self.boot_id = sysinfo.boot_id()
        self._tasks: dict[str, TaskProcess] = {}
        self._task_futures: set[asyncio.Task[Any]] = set()
        self._session_jobs: set[asyncio.Task[Any]] = set()
        self._ws: wsclient.Connection | None = None  # the open connection after welcome, else None
        self._welcomed_at: float | None = None
        self._outbox: asyncio.Queue[str] | None = None
        self._backlog = 0
        self._last_prune = 0.0

    # lifecycle ------------------------------------------------------------------------------------

    def recover(self) -> None:
        """At start: tidy the state dir and close out tasks an earlier agent process left running."""
        self.store.ensure()
        self.store.sweep()
        self._prune()
        for task_id in self.store.spooled_ids():
            if self.store.read_result(task_id) is not None:
                continue
            pid = self.store.read_pid(task_id)
            started_at = None
            if pid is not None:
                pgid, boot_id, started_at, script = pid
                if boot_id and boot_id == self.boot_id:
                    self._kill_leftover(task_id, pgid, script)
            result = TaskResult(
                task_id=task_id,
                status=protocol.STATUS_ERROR,
                exit_code=None,
                error_code="ExecutionInterrupted",
                error_info="the agent restarted while the task ran",
                started_at=started_at,
                finished_at=time.time(),
                last_seq=self.store.last_seq(task_id),
            )
            self.store.write_result(result)
            log.warning("task %s was interrupted by an agent restart", task_id)

    def _kill_leftover(self, task_id: str, pgid: int, script: str) -> None:
        """Kill the process group of a task whose agent died, if its shell still runs our script."""
        try:
            with open(f"/proc/{pgid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            return
        if os.fsencode(script) in cmdline.split(b"\0"):
            log.warning("task %s: killing its leftover process group %d", task_id, pgid)
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)

    async def run(self, stop: asyncio.Event) -> None:
        self.recover()
        log.info("agent %s (%s) starting, console %s", __version__, self.instance_id, self.url)
        connection = asyncio.create_task(self._connect_forever())
        await stop.wait()
        log.info("stopping: %d task(s) running", len(self._tasks))
        for task in list(self._tasks.values()):
            task.stop("shutdown")
        if self._task_futures:
            await asyncio.wait(self._task_futures, timeout=self.task_options.shutdown_grace + 5)
        for _ in range(50):  # give queued results a moment to leave (they are spooled anyway)
            if self._outbox is None or self._outbox.empty():
                break
            await asyncio.sleep(0.02)
        connection.cancel()
        with suppress(asyncio.CancelledError):
            await connection
        log.info("stopped")

    async def _connect_forever(self) -> None:
        delays = protocol.backoff(self.reconnect_initial, self.reconnect_max)
        while True:
            self._welcomed_at = None
            try:
                ws = await wsclient.connect(
                    self.url,
                    open_timeout=15,
                    extra_headers={"User-Agent": f"assist-agent/{__version__}"},
                    max_size=protocol.MAX_FRAME_BYTES,
                    ping_interval=PING_INTERVAL,
                    ping_timeout=PING_TIMEOUT,
                    close_timeout=5,
                )
                async with ws:
                    await self._session(ws)
            except ConnectionClosed as exc:
                if exc.received and exc.code == 4401:
                    log.error("the console refused this agent's credentials: %s", exc.reason or "4401")
                elif exc.received and exc.code in (1000, 1001):
                    log.info("the console closed the connection: %s", exc)
                else:
                    log.warning("connection lost: %s", exc)
            except (OSError, *wsclient.TIMEOUT_ERRORS, wsclient.WebSocketError) as exc:
                log.warning("cannot connect to %s: %s", self.url, exc or type(exc).__name__)
            except Exception:
                log.exception("unexpected error in the connection")
            welcomed_at = self._welcomed_at
            if welcomed_at is not None and time.monotonic() - welcomed_at >= STABLE_CONNECTION:
                delays = protocol.backoff(self.reconnect_initial, self.reconnect_max)
            delay = next(delays)
            log.info("reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _session(self, ws: wsclient.Connection) -> None:
        """One connection: hello, welcome, then frames until it closes."""
        await ws.send(protocol.encode(self._hello()))
        try:
            first = protocol.decode(await asyncio.wait_for(ws.recv(), WELCOME_TIMEOUT), sender="console")
        except protocol.ProtocolError as exc:
            log.error("bad answer to hello: %s", exc)
            return
        if isinstance(first, protocol.Error):
            log.error("the console refused hello: %s: %s", first.code, first.message)
            return
        if not isinstance(first, protocol.Welcome):
            log.error("expected welcome, got %s", first.type)
            return
        if first.instance_id != self.instance_id:
            log.warning("welcome names instance %s, we are %s", first.instance_id, self.instance_id)
        self._welcomed_at = time.monotonic()
        interval = max(1.0, first.heartbeat_interval)
        log.info("connected to %s (heartbeat every %g s)", self.url, interval)

        queue: asyncio.Queue[str] = asyncio.Queue()
        self._ws, self._outbox, self._backlog = ws, queue, 0
        jobs = [
            asyncio.create_task(self._sender(ws, queue)),
            asyncio.create_task(self._heartbeat(interval)),
        ]
        try:
            for task_id in self.store.spooled_ids():
                if task_id not in self._tasks and (result := self.store.read_result(task_id)):
                    self._send(result)
            while True:
                self._handle(await ws.recv())
        finally:
            self._ws, self._outbox, self._backlog = None, None, 0
            for job in jobs + list(self._session_jobs):
                job.cancel()

    def _hello(self) -> protocol.Hello:
        held = set(self._tasks) | set(self.store.spooled_ids())
        return protocol.Hello(
            instance_id=self.instance_id,
            secret=self.secret,
            agent_version=__version__,
            os_type=sysinfo.os_type(),
            os_name=sysinfo.os_name(),
            hostname=sysinfo.hostname(),
            ips=tuple(sysinfo.ips()),
            boot_id=self.boot_id,
            held_tasks=tuple(sorted(held)),
        )

    # outgoing -------------------------------------------------------------------------------------

    def _send(self, frame: protocol.Frame) -> None:
        """Queue a frame for the console; without a connection it is dropped (results are spooled)."""
        queue = self._outbox
        if queue is None:
            return
        try:
            text = protocol.encode(frame)
        except protocol.ProtocolError as exc:  # a bug: never let it stop a task
            log.error("cannot encode %s: %s", frame.type, exc)
            return
        if isinstance(frame, protocol.TaskOutput) and self._backlog > OUTBOX_LIMIT:
            log.debug("backlog full: chunk %s/%d stays in the spool", frame.task_id, frame.seq)
            return
        self._backlog += len(text)
        queue.put_nowait(text)

    async def _sender(self, ws: wsclient.Connection, queue: asyncio.Queue[str]) -> None:
        try:
            while True:
                text = await queue.get()
                self._backlog -= len(text)
                await ws.send(text)
        except ConnectionClosed:
            pass  # the receive loop notices too and ends the session

    async def _heartbeat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self._send(protocol.Heartbeat())

    # incoming -------------------------------------------------------------------------------------

    def _handle(self, message: str | bytes) -> None:
        try:
            frame = protocol.decode(message, sender="console")
        except protocol.ProtocolError as exc:
            log.warning("ignoring a bad frame from the console: %s", exc)
            return
        try:
            if isinstance(frame, TaskRun):
                self._on_run(frame)
            elif isinstance(frame, TaskStop):
                self._on_stop(frame)
            elif isinstance(frame, TaskAck):
                self._on_ack(frame)
            elif isinstance(frame, TaskResend):
                self._on_resend(frame)
            elif isinstance(frame, protocol.Error):
                log.warning("the console reports %s: %s (ref %s)", frame.code, frame.message, frame.ref)
            else:
                log.debug("ignoring %s", frame.type)
        except Exception:
            log.exception("error while handling %s", frame.type)

    def _on_run(self, frame: TaskRun) -> None:
        task_id = frame.task_id
        if task_id in self._tasks:
            log.info("task %s re-delivered while running: ignored", task_id)
            return
        if self.store.journaled(task_id):
            result = self.store.read_result(task_id)
            if result is not None:
                log.info("task %s re-delivered: sending its result again", task_id)
                self._send(result)
            else:
                log.info("task %s re-delivered after its ack: ignored", task_id)
            return
        self.store.journal(task_id)  # durable before anything runs: at most once
        log.info("task %s received (%s)", task_id, frame.command_type)
        process = TaskProcess(
            frame, store=self.store, send=self._send, boot_id=self.boot_id, options=self.task_options
        )
        self._tasks[task_id] = process
        future = asyncio.create_task(process.run())
        self._task_futures.add(future)

        def done(f: asyncio.Task[Any]) -> None:
            self._task_futures.discard(f)
            self._tasks.pop(task_id, None)

        future.add_done_callback(done)

    def _on_stop(self, frame: TaskStop) -> None:
        process = self._tasks.get(frame.task_id)
        if process is None:
            log.info("task.stop for %s, which is not running: ignored", frame.task_id)
            return
        process.stop("stop")

    def _on_ack(self, frame: TaskAck) -> None:
        if frame.task_id in self._tasks:
            log.warning("task.ack for %s, which is still running: ignored", frame.task_id)
            return
        self.store.forget(frame.task_id)
        log.info("task %s acknowledged", frame.task_id)
        if time.monotonic() - self._last_prune > PRUNE_EVERY:
            self._prune()

    def _prune(self) -> None:
        self._last_prune = time.monotonic()
        removed = self.store.prune_journal()
        if removed:
            log.info("pruned %d old journal entries", removed)

    def _on_resend(self, frame: TaskResend) -> None:
        if not self.store.spool(frame.task_id).is_dir():
            log.info("task.resend for %s, which is not spooled: ignored", frame.task_id)
            return
        ws = self._ws
        if ws is None:
            return
        job = asyncio.create_task(self._resend(ws, frame))
        self._session_jobs.add(job)
        job.add_done_callback(self._session_jobs.discard)

    async def _resend(self, ws: wsclient.Connection, frame: TaskResend) -> None:
        """Send the asked chunks straight from the spool (not through the outbox), then the result."""
        task_id = frame.task_id
        try:
            for seq, data in self.store.iter_chunks(task_id, list(frame.seqs)):
                if data is None:
                    # Should not happen; an empty chunk lets the console complete the task anyway.
                    log.error("task %s: chunk %d is not in the spool; sending it empty", task_id, seq)
                    data = b""
                await ws.send(protocol.encode(protocol.TaskOutput(task_id=task_id, seq=seq, data=data)))
            if task_id not in self._tasks and (result := self.store.read_result(task_id)):
                await ws.send(protocol.encode(result))
        except ConnectionClosed:
            return  # asked again after the next connect, once the result is resent
        except Exception:
            log.exception("task %s: resend failed", task_id)
            return
        log.info("task %s: resent %d chunk(s)", task_id, len(frame.seqs))


def run_agent(store: Store, identity: dict[str, Any], **options: Any) -> None:
    """Run until SIGTERM or SIGINT."""
    agent = Agent(store, identity, **options)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await agent.run(stop)

    asyncio.run(main())
