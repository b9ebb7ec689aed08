"""The agent's asyncio layer: one websocket to the console, tasks, spool replay, reconnects.

Frames are built and parsed only by ``assist_agent.protocol``; this module moves them. A malformed
frame from the console is logged and ignored, a lost connection is retried forever with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
import time
from collections import OrderedDict
from contextlib import suppress
from typing import Any

from . import __version__, dryrun, protocol, runplan, sysinfo, wsclient
from .executor import TaskOptions, TaskProcess, _user_context
from .files import FileTransfers
from .protocol import TaskAck, TaskResend, TaskResult, TaskRun, TaskStop
from .store import Store
from .terminal import AGENT_STOPPED, CONNECTION_LOST, Terminals
from .update import Updater
from .wsclient import ConnectionClosed

log = logging.getLogger("assist_agent")

WELCOME_TIMEOUT = 30.0  # seconds to wait for welcome after hello
STABLE_CONNECTION = 60.0  # a connection that stayed up this long resets the backoff
# A ping after this long without a frame from the console (before welcome; after it, two heartbeat
# intervals if longer); no pong within PING_TIMEOUT drops the connection (half-open TCP).
PING_INTERVAL = 30.0
PING_TIMEOUT = 20.0


def ping_interval_after_welcome(heartbeat_interval: float) -> float:
    """The console hears our heartbeats and does not ping a connection that beats, so a ping from us is
    the only frame an idle connection carries: one per two beats at most (thousands of agents' pings
    cost a node more than their heartbeats)."""
    return max(PING_INTERVAL, 2 * heartbeat_interval)


# Live output queued beyond this is not queued: it waits in the spool, and the sender reads it back from
# there, in order, once the queue has room again (a task printing faster than the network never grows
# the agent's memory, and its output still arrives once, in order, before its result).
OUTBOX_LIMIT = 8 << 20
PRUNE_EVERY = 3600.0
# How long a sent result waits for its ack before its spool is forced to disk. An acknowledged spool is
# deleted, so forcing it first is wasted work (five fsyncs per task, the largest cost of a burst of short
# tasks on a busy machine); what a power cut can take is a result the console has not confirmed yet.
RESULT_FORCE_AFTER = 2.0
POWER_ACK_WAIT = (
    10.0  # seconds a power action waits for the console's ack of the result (it is durable anyway)
)
POWER_COMMAND_TIMEOUT = 60.0  # seconds one power command may take before the next one is tried
DRY_RUNS_KEPT = 256  # answers of dry runs kept in memory for a task.resend until their ack


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
        power_commands: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.instance_id = str(identity["InstanceId"])
        self.secret = str(identity["InstanceSecret"])
        self.url = ws_url(str(identity["Server"]))
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.task_options = task_options or TaskOptions()
        self.os_type = self.task_options.os_type or sysinfo.os_type()
        # Exit codes 193/194 (3009/3010 on Windows): the command line configured for each action, "" for
        # the system's (runplan.power_commands).
        self.power_commands = power_commands or {}
        self._acked: dict[str, asyncio.Event] = {}  # results a power action waits to see acknowledged
        self._unforced: dict[str, asyncio.TimerHandle] = {}  # sent results not yet acked nor forced to disk
        self._powering = 0  # power actions under way: no self-update restarts the agent meanwhile
        self.boot_id = sysinfo.boot_id()
        self._tasks: dict[str, TaskProcess] = {}
        # Dry runs are never journaled nor spooled: their frames stay here, for a task.resend, until acked.
        self._dry_runs: OrderedDict[str, list[protocol.Frame]] = OrderedDict()
        self._task_futures: set[asyncio.Task[Any]] = set()
        self._session_jobs: set[asyncio.Task[Any]] = set()
        self._ws: wsclient.Connection | None = None  # the open connection after welcome, else None
        self._welcomed_at: float | None = None
        self._outbox: asyncio.Queue[str | bytes] | None = None
        self._console_protocol = 0  # what this connection's welcome said (protocol.encode_for_console)
        self._backlog = 0
        # Running tasks whose live output outran the outbox: the first chunk number not queued yet (the
        # sender catches up from the spool), and their result, held until the chunks before it are queued.
        self._lagging: dict[str, int] = {}
        self._held_results: dict[str, str | bytes] = {}
        self._last_prune = 0.0
        self.terminals = Terminals(self._send)  # interactive sessions (terminal.py)
        self.files = FileTransfers(store.root, send=self._send)
        # Self-update (update.py): switches only while _idle(), by stopping with exit_code.
        self.exit_code = 0
        self._stop: asyncio.Event | None = None
        # Set by the first SIGTERM: no new task is taken; running ones finish and report, then the
        # agent exits. ``_fast`` (SIGINT or a second SIGTERM) ends the drain: running tasks are stopped.
        self.draining = False
        self._fast: asyncio.Event | None = None
        self.updater = Updater(store.root, identity, send=self._send, is_idle=self._idle, exit=self._exit)

    # lifecycle ------------------------------------------------------------------------------------

    def recover(self) -> None:
        """At start: tidy the state dir and close out tasks an earlier agent process left running."""
        self.store.ensure()
        self.store.sweep()
        self._prune()
        self.files.recover()
        for task_id in self.store.spooled_ids():
            if self.store.read_result(task_id) is not None:
                continue
            pid = self.store.read_pid(task_id)
            started_at = None
            if pid is not None:
                pgid, boot_id, started_at, script, tree = pid
                if boot_id and boot_id == self.boot_id:
                    self._kill_leftover(task_id, pgid, script, tree)
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

    def _kill_leftover(self, task_id: str, pgid: int, script: str, tree: bool = True) -> None:
        """Kill the process group of a task whose agent died (its shell only with TerminationMode Process),
        if its shell still runs our script."""
        try:
            with open(f"/proc/{pgid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            return
        marker = os.fsencode(script)
        args = cmdline.split(b"\0")
        # The script path is an argument of its shell, or inside the command line a Launcher ran through
        # ``sh -c`` (which may have exec'd the launcher's program).
        if marker in args or (os.sep.encode() in marker and any(marker in arg for arg in args)):
            what = "process group" if tree else "process"
            log.warning("task %s: killing its leftover %s %d", task_id, what, pgid)
            with suppress(ProcessLookupError, PermissionError):
                if tree:
                    os.killpg(pgid, signal.SIGKILL)
                else:
                    os.kill(pgid, signal.SIGKILL)

    def _idle(self) -> bool:
        """No command, terminal session or file transfer in progress: an update may restart the agent."""
        return (
            not self._tasks and not self.terminals.sessions and not self.files.active and not self._powering
        )

    def _exit(self, code: int) -> None:
        self.exit_code = code
        if self._stop is not None:
            self._stop.set()

    async def run(self, stop: asyncio.Event, fast: asyncio.Event | None = None) -> None:
        """Run until ``stop``; then drain (running tasks finish and report) unless ``fast`` is set or gets set
        meanwhile, which stops them as interrupted. Without ``fast`` the stop is fast, as before."""
        self._stop = stop
        self._fast = fast
        self.recover()
        self.updater.start()
        from . import budget  # the agent's own CPU and memory budget; over it and idle, restart

        budget_watch = budget.start(self._idle, self._exit)
        log.info("agent %s (%s) starting, console %s", __version__, self.instance_id, self.url)
        connection = asyncio.create_task(self._connect_forever())
        await stop.wait()
        if budget_watch is not None:
            budget_watch.cancel()
        await self._drain()
        log.info("stopping: %d task(s) running", len(self._tasks))
        for task in list(self._tasks.values()):
            task.stop("shutdown")
        self.terminals.end_all(AGENT_STOPPED, "the agent is stopping")
        await self.terminals.wait_ended(timeout=5)
        self.files.stop()
        if self._task_futures:
            await asyncio.wait(self._task_futures, timeout=self.task_options.shutdown_grace + 5)
        for _ in range(50):  # give queued results a moment to leave (they are spooled anyway)
            if self._outbox is None or self._outbox.empty():
                break
            await asyncio.sleep(0.02)
        # asyncio.wait_for (the welcome wait) can swallow a cancel that lands as its frame arrives
        # (CPython gh-86296): cancel again until the connection task has really ended.
        while not connection.done():
            connection.cancel()
            await asyncio.wait({connection}, timeout=1)
        self.updater.stopping()
        with suppress(asyncio.CancelledError):
            await connection
        log.info("stopped")

    def _tasks_running(self) -> bool:
        return bool(self._tasks or self._task_futures or self._powering)

    async def _drain(self) -> None:
        """Stopping must not kill commands (issue 9): take no new task, keep the connection so that running
        tasks report their output and result, and return once none runs or a fast stop is asked for."""
        fast = self._fast
        if fast is None or fast.is_set() or not self._tasks_running():
            return
        self.draining = True
        log.info(
            "stopping once %d running task(s) end; new tasks are left for the next start "
            "(SIGINT or a second SIGTERM stops them now)",
            len(self._tasks),
        )
        fast_wait = asyncio.create_task(fast.wait())
        try:
            while self._tasks_running() and not fast.is_set():
                await asyncio.wait({fast_wait}, timeout=0.1)
        finally:
            fast_wait.cancel()
        if fast.is_set() and self._tasks:
            log.info("fast stop asked while draining")

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
        ws.set_ping_interval(ping_interval_after_welcome(interval))

        queue: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._ws, self._outbox, self._backlog = ws, queue, 0
        self._console_protocol = first.protocol
        jobs = [
            asyncio.create_task(self._sender(ws, queue)),
            asyncio.create_task(self._heartbeat(interval)),
        ]
        try:
            for task_id in self.store.spooled_ids():
                if task_id not in self._tasks and (result := self.store.read_result(task_id)):
                    self._send(result)
            for dry_frames in self._dry_runs.values():  # not acked before the cut: their result again
                self._send(dry_frames[-1])
            self.files.on_connected()
            self.updater.on_welcome()
            while True:
                self._handle(await ws.recv())
        finally:
            # Sessions are not replayed like tasks: without the console nobody sees or types into them.
            self.terminals.end_all(CONNECTION_LOST, "the connection to the console was lost")
            self._ws, self._outbox, self._backlog = None, None, 0
            # The next connection's hello and spooled results make the console ask for what is missing.
            self._lagging.clear()
            self._held_results.clear()
            for job in jobs + list(self._session_jobs):
                job.cancel()

    def _hello(self) -> protocol.Hello:
        held = set(self._tasks) | set(self.store.spooled_ids()) | set(self._dry_runs)
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
            time_zone=sysinfo.time_zone(),
        )

    # outgoing -------------------------------------------------------------------------------------

    def _send(self, frame: protocol.Frame) -> None:
        """Queue a frame for the console; without a connection it is dropped (results are spooled)."""
        queue = self._outbox
        if queue is None:
            return
        try:
            text = self._encode(frame)
        except protocol.ProtocolError as exc:  # a bug: never let it stop a task
            log.error("cannot encode %s: %s", frame.type, exc)
            return
        if isinstance(frame, protocol.TaskOutput):
            if frame.task_id in self._lagging:
                return  # queued later from the spool, in order
            if self._backlog > OUTBOX_LIMIT:
                if frame.task_id in self._tasks:  # spooled: caught up from there
                    self._lagging[frame.task_id] = frame.seq
                else:  # a dry run's output: the console asks for it again (task.resend)
                    log.debug("backlog full: chunk %s/%d dropped", frame.task_id, frame.seq)
                return
        elif isinstance(frame, TaskResult) and frame.task_id in self._lagging:
            self._held_results[frame.task_id] = text  # after its chunks
            return
        self._queue(queue, text)

    def _encode(self, frame: protocol.Frame) -> str | bytes:
        return protocol.encode_for_console(frame, self._console_protocol)

    def _queue(self, queue: asyncio.Queue[str | bytes], text: str | bytes) -> None:
        self._backlog += len(text)
        queue.put_nowait(text)

    async def _sender(self, ws: wsclient.Connection, queue: asyncio.Queue[str | bytes]) -> None:
        try:
            while True:
                if self._lagging and self._backlog <= OUTBOX_LIMIT // 2:
                    self._catch_up(queue)
                text = await queue.get()
                self._backlog -= len(text)
                await ws.send(text)
        except ConnectionClosed:
            pass  # the receive loop notices too and ends the session

    def _catch_up(self, queue: asyncio.Queue[str | bytes]) -> None:
        """Queue lagging tasks' chunks from the spool while the outbox has room; a task whose spool is
        all queued is live again (its held result, if it ended, goes right after its last chunk)."""
        for task_id, first in list(self._lagging.items()):
            last = self.store.last_seq(task_id)
            next_seq = first
            for seq, data in self.store.iter_chunks(task_id, list(range(first, last + 1))):
                if self._backlog > OUTBOX_LIMIT:
                    break
                if data is None:  # not spooled (disk trouble): the console asks for it, gets it empty
                    log.error("task %s: chunk %d is not in the spool", task_id, seq)
                else:
                    self._queue(queue, self._encode(protocol.TaskOutput(task_id=task_id, seq=seq, data=data)))
                next_seq = seq + 1
            if next_seq <= last:
                self._lagging[task_id] = next_seq
                return  # the outbox is full again
            del self._lagging[task_id]
            held = self._held_results.pop(task_id, None)
            if held is not None:
                self._queue(queue, held)

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
            elif self.terminals.handle(frame):
                pass
            elif isinstance(frame, protocol.FileSend):
                self.files.on_send(frame)
            elif isinstance(frame, protocol.FileData):
                self.files.on_data(frame)
            elif isinstance(frame, protocol.FileAbort):
                self.files.on_abort(frame)
            elif isinstance(frame, protocol.UpdateOffer):
                self.updater.on_offer(frame)
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
        if self.updater.switching:  # not journaled: the console delivers it again to the new version
            log.info("task %s arrived while switching versions: left for the next version", task_id)
            return
        if self.draining:  # not journaled either: the console delivers it again after the restart
            log.info("task %s arrived while the agent is stopping: left for the next start", task_id)
            return
        if frame.dry_run:
            self._dry_run(frame)
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
        log.debug("task %s received (%s)", task_id, frame.command_type)
        process = TaskProcess(
            frame, store=self.store, send=self._send, boot_id=self.boot_id, options=self.task_options
        )
        self._tasks[task_id] = process
        future = asyncio.create_task(self._run_task(process))
        self._task_futures.add(future)

        def done(f: asyncio.Task[Any]) -> None:
            self._task_futures.discard(f)
            self._tasks.pop(task_id, None)
            self.updater.poke()

        future.add_done_callback(done)

    def _dry_run(self, frame: TaskRun) -> None:
        """RepeatMode=DryRun: check, run nothing, answer at once (dryrun.py). Delivered again, it answers
        what it found the first time."""
        task_id = frame.task_id
        frames = self._dry_runs.get(task_id)
        if frames is None:
            started_at = time.time()
            outcome = dryrun.check(
                frame,
                os_type=self.os_type,
                script_dir=self.store.work_dir,
                user_context=_user_context,
                which=shutil.which,
            )
            chunker = protocol.Chunker(task_id)
            frames = [*chunker.feed(outcome.output), *chunker.flush()]
            failure = outcome.failure
            frames.append(
                TaskResult(
                    task_id=task_id,
                    status=protocol.STATUS_SUCCESS if failure is None else failure.status,
                    exit_code=0 if failure is None else None,
                    error_code="" if failure is None else failure.error_code,
                    error_info="" if failure is None else failure.error_info,
                    started_at=started_at,
                    finished_at=time.time(),
                    last_seq=chunker.last_seq,
                )
            )
            self._dry_runs[task_id] = frames
            while len(self._dry_runs) > DRY_RUNS_KEPT:
                self._dry_runs.popitem(last=False)
            log.info("task %s: dry run %s", task_id, "passed" if failure is None else failure.error_code)
        for dry_frame in frames:
            self._send(dry_frame)

    async def _run_task(self, process: TaskProcess) -> None:
        result = await process.run()
        spec = process.spec
        self._tasks.pop(spec.task_id, None)  # ended: its ack is welcome now (the power action waits for it)
        self._unforced[spec.task_id] = asyncio.get_running_loop().call_later(
            RESULT_FORCE_AFTER, self._force_unacknowledged, spec.task_id
        )
        in_container = bool(spec.container_id or spec.container_name)
        # Only a script that ended by itself asks for a power action; in a container it ends the container's
        # process, never the host's power (as in the original).
        if result.error_code == "ExitCodeNonzero" and not in_container:
            action = runplan.power_action(result.exit_code, self.os_type)
            if action:
                await self._power(action, result)

    def _force_to_disk(self, task_id: str) -> bool:
        """Force a task's spool to disk now (its result is unacknowledged, or a power action follows);
        False when the disk refused."""
        self._cancel_late_force(task_id)
        try:
            self.store.make_durable(task_id)
        except OSError as exc:
            log.error("task %s: cannot force the result to disk: %s", task_id, exc)
            return False
        return True

    def _cancel_late_force(self, task_id: str) -> None:
        if (unforced := self._unforced.pop(task_id, None)) is not None:
            unforced.cancel()

    def _force_unacknowledged(self, task_id: str) -> None:
        if self.store.spool(task_id).is_dir() and self._force_to_disk(task_id):
            log.info(
                "task %s: not acknowledged after %g s: spool forced to disk", task_id, RESULT_FORCE_AFTER
            )

    async def _power(self, action: str, result: TaskResult) -> None:
        """Power off or reboot after the result is safe: on disk (fsynced, so it is reported again after the
        boot if the console has not taken it) and, unless the console takes longer than POWER_ACK_WAIT,
        acknowledged. The task is journaled, so after the reboot it never runs again."""
        task_id = result.task_id
        log.warning("task %s exited with %s: %s requested", task_id, result.exit_code, action)
        self._powering += 1
        try:
            await self._power_after_ack(action, result)
        finally:
            self._powering -= 1
            self.updater.poke()

    async def _power_after_ack(self, action: str, result: TaskResult) -> None:
        task_id = result.task_id
        acked = self._acked.setdefault(task_id, asyncio.Event())
        try:
            self._force_to_disk(task_id)
            if self.store.spool(task_id).is_dir():  # otherwise the ack came already
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(acked.wait(), POWER_ACK_WAIT)
        finally:
            self._acked.pop(task_id, None)
        configured = self.power_commands.get(action, "")
        for argv in runplan.power_commands(action, self.os_type, configured):
            if await self._run_power_command(argv):
                log.warning("%s started (%s); the agent stops", action, " ".join(argv))
                self._exit(runplan.AGENT_EXIT[action])
                return
        log.error(
            "task %s asked for %s, and no power command worked; the agent keeps running", task_id, action
        )

    async def _run_power_command(self, argv: list[str]) -> bool:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            log.warning("power command %s cannot start: %s", argv[0], exc)
            return False
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), POWER_COMMAND_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("power command %s did not finish within %g s", argv[0], POWER_COMMAND_TIMEOUT)
            with suppress(ProcessLookupError):
                proc.kill()
            return False
        if proc.returncode != 0:
            text = out.decode("utf-8", "replace").strip()[:500]
            log.warning("power command %s failed (exit code %s): %s", " ".join(argv), proc.returncode, text)
            return False
        return True

    def _on_stop(self, frame: TaskStop) -> None:
        process = self._tasks.get(frame.task_id)
        if process is None:
            log.info("task.stop for %s, which is not running: ignored", frame.task_id)
            return
        process.stop("stop")

    def _on_ack(self, frame: TaskAck) -> None:
        if self.files.on_ack(frame.task_id):
            return
        if self._dry_runs.pop(frame.task_id, None) is not None:
            log.info("task %s (dry run) acknowledged", frame.task_id)
            return
        if frame.task_id in self._tasks:
            log.warning("task.ack for %s, which is still running: ignored", frame.task_id)
            return
        self._cancel_late_force(frame.task_id)
        self.store.forget(frame.task_id)
        log.debug("task %s acknowledged", frame.task_id)
        if (acked := self._acked.get(frame.task_id)) is not None:
            acked.set()
        if time.monotonic() - self._last_prune > PRUNE_EVERY:
            self._prune()

    def _prune(self) -> None:
        self._last_prune = time.monotonic()
        removed = self.store.prune_journal()
        if removed:
            log.info("pruned %d old journal entries", removed)

    def _on_resend(self, frame: TaskResend) -> None:
        dry_frames = self._dry_runs.get(frame.task_id)
        if dry_frames is not None:
            for dry_frame in dry_frames:
                if not isinstance(dry_frame, protocol.TaskOutput) or dry_frame.seq in frame.seqs:
                    self._send(dry_frame)
            return
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
                await ws.send(self._encode(protocol.TaskOutput(task_id=task_id, seq=seq, data=data)))
            if task_id not in self._tasks and (result := self.store.read_result(task_id)):
                await ws.send(protocol.encode(result))
        except ConnectionClosed:
            return  # asked again after the next connect, once the result is resent
        except Exception:
            log.exception("task %s: resend failed", task_id)
            return
        log.info("task %s: resent %d chunk(s)", task_id, len(frame.seqs))


def _watch_children_with_pidfds() -> None:
    """Before Python 3.12 asyncio waits for each script in a thread of its own (ThreadedChildWatcher);
    a pidfd in the event loop costs a burst of short tasks less. 3.12 chooses pidfds by itself; Python
    3.8 and kernels without pidfd_open keep the thread."""
    # getattr: both exist from Python 3.9 on, and the agent still runs on 3.8.
    pidfd_open = getattr(os, "pidfd_open", None)
    watcher_class = getattr(asyncio, "PidfdChildWatcher", None)
    if sys.version_info >= (3, 12) or pidfd_open is None or watcher_class is None:
        return
    try:
        os.close(pidfd_open(os.getpid()))
    except OSError:  # the kernel has no pidfds (before 5.3) or a sandbox refuses them
        return
    watcher = watcher_class()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)  # type: ignore[attr-defined,unused-ignore]


def run_agent(store: Store, identity: dict[str, Any], **options: Any) -> int:
    """Run until SIGTERM or SIGINT (exit code 0), or until an update switched versions (its exit code).

    SIGTERM (``systemctl stop``, a supervisor's stop) drains: running commands finish and are reported
    first. SIGINT, or a second SIGTERM, stops at once: running commands are ended as interrupted."""
    agent = Agent(store, identity, **options)

    async def main() -> None:
        stop, fast = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_sigterm() -> None:
            if stop.is_set():
                fast.set()
            stop.set()

        def on_sigint() -> None:
            fast.set()
            stop.set()

        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        _watch_children_with_pidfds()
        try:
            await agent.run(stop, fast)
        finally:
            if sys.version_info < (3, 12):  # the next loop in this process gets asyncio's default
                asyncio.set_child_watcher(None)  # type: ignore[arg-type,attr-defined,unused-ignore]

    asyncio.run(main())
    return agent.exit_code
