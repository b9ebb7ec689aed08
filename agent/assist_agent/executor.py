"""Runs one task: script file, process group, output chunks to spool and console, result."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import launcher as launchers
from . import protocol, runplan, sysinfo
from .protocol import TaskResult, TaskRun
from .runplan import Refused as _Refused
from .store import SpoolWriter, Store, overwrite

log = logging.getLogger("assist_agent.task")

SHELL = runplan.SHELL
CONTAINER_CHECK_TIMEOUT = 10.0  # seconds for the runtime CLI to answer inspect/ps (the original: 10 s)


@dataclass(frozen=True)
class TaskOptions:
    flush_interval: float = 0.05  # seconds pending output waits before it is sent as a chunk
    started_delay: float = 0.05  # a task that ends sooner reports no task.started (the result carries it)
    kill_grace: float = 2.0  # SIGTERM to SIGKILL, for timeout and task.stop
    shutdown_grace: float = 1.0  # the same when the agent itself stops
    drain_grace: float = 1.0  # how long output is still read after the shell exited
    os_type: str = ""  # "" = this machine's (sysinfo.os_type()); tests name another OS


@dataclass(frozen=True)
class _RunAs:
    """Another user a task runs as (the agent runs as root)."""

    uid: int
    gid: int
    groups: list[int]

    def popen_kwargs(self) -> dict[str, Any]:
        if sys.version_info >= (3, 9):
            return {"user": self.uid, "group": self.gid, "extra_groups": self.groups}
        # Python 3.8's Popen has no user/group/extra_groups: switch in the child before exec.
        uid, gid, groups = self.uid, self.gid, self.groups

        def demote() -> None:  # pragma: no cover - Python 3.8 only
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)

        return {"preexec_fn": demote}


def _user_context(username: str) -> tuple[_RunAs | None, dict[str, str], str]:
    """Who to run as (None: the agent's own user), environment additions and home dir for ``username``."""
    if os.name == "nt":  # pragma: no cover - Windows: no pwd; another user needs a password we do not have
        if username:
            raise _Refused(
                protocol.STATUS_ERROR,
                "AccountNotExists",
                f"cannot run as {username}: this agent runs Windows commands as its own account only",
            )
        return None, {}, os.path.expanduser("~")
    import pwd

    current = pwd.getpwuid(os.geteuid())
    if not username or username == current.pw_name:
        return None, {}, current.pw_dir
    try:
        target = pwd.getpwnam(username)
    except KeyError:
        raise _Refused(
            protocol.STATUS_ERROR,
            "AccountNotExists",
            f"the specified account does not exist: {username}",
        ) from None
    if os.geteuid() != 0:
        raise _Refused(
            protocol.STATUS_ERROR,
            "AccountNotExists",
            f"cannot run as {username}: the agent runs as {current.pw_name}, not as root",
        )
    run_as = _RunAs(target.pw_uid, target.pw_gid, os.getgrouplist(target.pw_name, target.pw_gid))
    env = {
        "HOME": target.pw_dir,
        "USER": target.pw_name,
        "LOGNAME": target.pw_name,
        "SHELL": target.pw_shell or SHELL,
    }
    return run_as, env, target.pw_dir


def _searchable_by(directory: Path, uid: int, gids: list[int]) -> bool:
    """Whether ``uid`` (with groups ``gids``) may enter every directory above ``directory``."""
    for parent in directory.parents:
        st = os.stat(parent)
        bit = 0o100 if st.st_uid == uid else 0o010 if st.st_gid in gids else 0o001
        if not st.st_mode & bit:
            return False
    return True


def _kill(pid: int, sig: signal.Signals, *, tree: bool) -> None:
    """Signal the script's process group (``tree``: TerminationMode ProcessTree) or its process alone."""
    if os.name == "nt":  # pragma: no cover - Windows has no process groups to signal
        if tree:
            subprocess.run(["taskkill", "/T", "/F", "/PID", str(pid)], capture_output=True, check=False)
        else:
            os.kill(pid, signal.SIGTERM)  # TerminateProcess
        return
    try:
        if tree:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def _capture(argv: list[str]) -> tuple[int, str]:
    """Run a runtime CLI query: (exit code, stdout and stderr). A CLI that cannot start or hangs is
    ContainerConnectFailed."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    except OSError as exc:
        raise _Refused(
            protocol.STATUS_ERROR,
            "ContainerConnectFailed",
            f"Unable to connect to container to invoke command: cannot run {argv[0]}: {exc}",
        ) from None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), CONTAINER_CHECK_TIMEOUT)
    except asyncio.TimeoutError:
        with suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise _Refused(
            protocol.STATUS_ERROR,
            "ContainerConnectFailed",
            f"Unable to connect to container to invoke command: {argv[0]} did not answer within "
            f"{CONTAINER_CHECK_TIMEOUT:g} s",
        ) from None
    return proc.returncode or 0, out.decode("utf-8", "replace")


def _launcher(text: str) -> launchers.Launcher | None:
    """The task's launcher, checked again (the console checked it with the same rules)."""
    try:
        return launchers.parse(text)
    except launchers.LauncherError as error:
        raise _Refused(
            protocol.STATUS_FAILED, "InvalidLauncher", f"the Launcher is not valid: {error}"
        ) from None


def _exit_code(returncode: int) -> int:
    """As a shell reports it: a death by signal N is 128 + N."""
    return returncode if returncode >= 0 else 128 - returncode


class TaskProcess:
    """One task from task.run to task.result. ``run()`` never raises (except on cancellation)."""

    def __init__(
        self,
        run: TaskRun,
        *,
        store: Store,
        send: Callable[[protocol.Frame], None],
        boot_id: str,
        options: TaskOptions,
    ) -> None:
        self.spec = run
        self.task_id = run.task_id
        self.store = store
        self.send = send
        self.boot_id = boot_id
        self.options = options
        self.chunker = protocol.Chunker(run.task_id)
        self.started_at: float | None = None
        self.stop_reason: str | None = None  # "stop", "shutdown" or "timeout"
        self._stop_requested = asyncio.Event()
        self._writer: SpoolWriter | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._started_handle: asyncio.TimerHandle | None = None
        self._temp_dir: Path | None = None

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop_requested.set()

    async def run(self) -> TaskResult:
        try:
            result = await self._run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or disk trouble: still report something
            log.exception("task %s: unexpected error", self.task_id)
            result = self._result(protocol.STATUS_ERROR, None, "ExecutionException", f"agent error: {exc}")
        finally:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            if self._temp_dir is not None:
                shutil.rmtree(self._temp_dir, ignore_errors=True)
        try:
            self.store.write_result(result, durable=False)  # forced later if the ack is slow (runner)
        except OSError as exc:  # the console still gets it now, but not again after a cut
            log.error("task %s: cannot spool the result: %s", self.task_id, exc)
        self.send(result)
        log.info(
            "task %s finished: %s exit_code=%s %s",
            self.task_id,
            result.status,
            result.exit_code,
            result.error_code,
        )
        return result

    def _result(self, status: str, exit_code: int | None, error_code: str, error_info: str) -> TaskResult:
        return TaskResult(
            task_id=self.task_id,
            status=status,
            exit_code=exit_code,
            error_code=error_code,
            error_info=error_info,
            started_at=self.started_at,
            finished_at=time.time(),
            last_seq=self.chunker.last_seq,
        )

    async def _run(self) -> TaskResult:
        spec = self.spec
        os_type = self.options.os_type or sysinfo.os_type()
        stdin: int = subprocess.DEVNULL
        user_env: dict[str, str] = {}
        in_container: tuple[runplan.Container, str] | None = (
            None  # the runtime, and the id or name to exec in
        )
        launcher: launchers.Launcher | None = None
        try:
            if spec.launcher and (spec.container_id or spec.container_name):
                raise runplan.not_applicable(spec.command_type, os_type, " with a Launcher in a container")
            if spec.container_id or spec.container_name:
                # In a container, Username and WorkingDir do not apply (reference 3.2): the runtime's
                # defaults do. The runtime's CLI runs here as the agent's user, from /.
                container = runplan.container_for(
                    spec.container_id,
                    spec.container_name,
                    command_type=spec.command_type,
                    os_type=os_type,
                    which=shutil.which,
                )
                in_container = (container, await self._container_ref(container))
                run_as, cwd = None, "/"
                script_file = runplan.ScriptFile("script.sh", spec.content.encode("utf-8", "surrogateescape"))
            else:
                script_file = runplan.script_file(spec.command_type, spec.content, os_type)
                launcher = _launcher(spec.launcher)
                name = launchers.script_file_name(script_file.name, launcher)
                script_file = runplan.ScriptFile(name, script_file.data)
                run_as, user_env, home = _user_context(spec.username)
                cwd = spec.working_dir or home
                if not os.path.isdir(cwd):
                    cwd = cwd if spec.working_dir else "/"
                if not os.path.isdir(cwd):
                    raise _Refused(
                        protocol.STATUS_FAILED,
                        "DirectoryNotExists",
                        f"the specified directory does not exist: {spec.working_dir}",
                    )
        except _Refused as refused:
            log.info("task %s refused: %s", self.task_id, refused.error_info)
            return self._result(refused.status, None, refused.error_code, refused.error_info)

        script = self._write_script(script_file, run_as)
        if in_container is not None:
            argv = runplan.exec_argv(*in_container)
            stdin = os.open(script, os.O_RDONLY)  # sh -s reads the script from stdin
        elif launcher is not None:
            line = launchers.command_line(launcher, str(script), os_type)
            argv = launchers.shell_argv(line, os_type)
        else:
            argv = runplan.host_argv(spec.command_type, str(script))
        popen_kwargs = run_as.popen_kwargs() if run_as is not None else {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSIST_AGENT_")}
        env.update(user_env)
        read_fd, write_fd = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=stdin,
                stdout=write_fd,
                stderr=write_fd,
                cwd=cwd,
                env=env,
                start_new_session=True,
                **popen_kwargs,
            )
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            os.close(read_fd)
            log.warning("task %s: cannot start: %s", self.task_id, exc)
            return self._result(
                protocol.STATUS_ERROR, None, "ExecutionException", f"cannot start the script: {exc}"
            )
        finally:
            os.close(write_fd)
            if stdin >= 0:  # DEVNULL is negative
                os.close(stdin)

        self.started_at = time.time()
        pgid = proc.pid  # start_new_session: the shell leads its own session and process group
        # What marks our process in /proc/<pid>/cmdline after an agent restart: the script path, or for a
        # container the container's id or name (the script goes through stdin there).
        marker = str(script) if in_container is None else in_container[1]
        tree = spec.termination_mode != protocol.TERMINATION_PROCESS
        self.store.write_pid(self.task_id, pgid, self.boot_id, self.started_at, marker, tree)
        self._writer = self.store.open_output(self.task_id)
        # Announced only once the script has run a moment: a quick task (most of a big fan-out) then costs
        # two frames on each side instead of three, and its result says when it started anyway.
        started = protocol.TaskStarted(task_id=self.task_id, started_at=self.started_at)
        self._started_handle = asyncio.get_running_loop().call_later(
            self.options.started_delay, self.send, started
        )
        log.info("task %s started: pid %d, cwd %s, timeout %ss", self.task_id, pgid, cwd, spec.timeout)

        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=protocol.CHUNK_SIZE)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
        killed_for = ""  # why the agent killed the process group, if it did
        pump = asyncio.ensure_future(self._pump(reader))
        exited = asyncio.ensure_future(proc.wait())
        stop_wait = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait({exited, stop_wait}, timeout=spec.timeout, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                killed_for = self.stop_reason or "timeout"
                grace = self.options.shutdown_grace if killed_for == "shutdown" else self.options.kill_grace
                tree = spec.termination_mode != protocol.TERMINATION_PROCESS
                what = "process group" if tree else "process"
                log.info("task %s: killing %s %d (%s)", self.task_id, what, pgid, killed_for)
                _kill(pgid, signal.SIGTERM, tree=tree)
                # ProcessTree: wait for the shell and every holder of the output pipe, then kill what is
                # left. Process: only the shell matters; what it started keeps running (and may keep the
                # pipe open: the drain below stops reading after its grace).
                await asyncio.wait({exited, pump} if tree else {exited}, timeout=grace)
                if tree or not exited.done():
                    _kill(pgid, signal.SIGKILL, tree=tree)
                await exited
            # The shell is gone; read what the pipe still holds. Background processes the script left
            # running (it exited normally) may keep the pipe open: stop reading after a short grace.
            await asyncio.wait({pump}, timeout=self.options.drain_grace)
            if not pump.done():
                log.info("task %s: background processes keep the output open; not waiting", self.task_id)
        finally:
            for fut in (pump, exited, stop_wait):
                if not fut.done():
                    fut.cancel()
            transport.close()
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_handle = None
            if self._started_handle is not None:
                self._started_handle.cancel()
        self._flush()

        code = _exit_code(proc.returncode if proc.returncode is not None else -signal.SIGKILL)
        if killed_for == "timeout":
            return self._result(
                protocol.STATUS_TIMEOUT,
                code,
                "ExecutionTimeout",
                f"the command execution has been timeout (after {spec.timeout:g} s)",
            )
        if killed_for == "stop":
            return self._result(
                protocol.STATUS_TERMINATED,
                code,
                "ExecutionInterrupted",
                "the command execution has been interrupted (task.stop)",
            )
        if killed_for == "shutdown":
            return self._result(
                protocol.STATUS_ERROR, code, "ExecutionInterrupted", "the agent stopped while the task ran"
            )
        if code == 0:
            return self._result(protocol.STATUS_SUCCESS, 0, "", "")
        killed = proc.returncode is not None and proc.returncode < 0
        how = f"killed by signal {code - 128}" if killed else f"exit code {code}"
        info = f"the command execution exit code is not zero ({how})"
        return self._result(protocol.STATUS_FAILED, code, "ExitCodeNonzero", info)

    async def _container_ref(self, container: runplan.Container) -> str:
        """Ask the runtime whether the container exists and runs; the id or name to exec in."""
        ref = container.ref
        if container.runtime == runplan.CRICTL and not container.container_id:
            code, out = await _capture(runplan.crictl_find_argv(container))
            ref = runplan.check_found(container, code, out)
            container = runplan.Container(container.runtime, container.cli, ref, container.container_name)
        code, out = await _capture(runplan.inspect_argv(container))
        runplan.check_inspected(container, code, out)
        return ref

    def _write_script(self, script_file: runplan.ScriptFile, run_as: _RunAs | None) -> Path:
        # As the agent's own user, the task's private spool dir (made when it was journaled) holds the
        # script: one directory fewer to make and remove per task. Another user gets work/<task_id>, which
        # it can reach.
        directory = self.store.spool(self.task_id) if run_as is None else self.store.work_dir / self.task_id
        if run_as is not None and not _searchable_by(directory, run_as.uid, run_as.groups):
            # The state dir sits below a directory the user cannot enter (e.g. a 0700 one):
            # give the script a private dir of its own in /tmp, removed when the task ends.
            import tempfile  # rarely needed: not loaded by an idle agent

            directory = Path(tempfile.mkdtemp(prefix=f"assist-agent-{self.task_id}-", dir="/tmp"))
            self._temp_dir = directory
        directory.mkdir(mode=0o700, exist_ok=True)
        script = directory / script_file.name
        overwrite(script, script_file.data, mode=0o700)  # maybe a blanked one of a reused spool dir
        if run_as is not None:  # the script's user must be able to read it
            for path in (directory, script):
                os.chown(path, run_as.uid, run_as.gid)
        return script

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        while data := await reader.read(protocol.CHUNK_SIZE):
            for frame in self.chunker.feed(data):
                self._emit(frame)
            if self.chunker.pending and self._flush_handle is None:
                self._flush_handle = loop.call_later(self.options.flush_interval, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        for frame in self.chunker.flush():
            self._emit(frame)

    def _emit(self, frame: protocol.TaskOutput) -> None:
        if self._writer is not None:
            try:
                self._writer.append(frame.seq, frame.data)
            except OSError as exc:  # disk full: keep streaming live, the spool will have a gap
                log.error("task %s: cannot spool chunk %d: %s", self.task_id, frame.seq, exc)
        self.send(frame)
