"""File transfers (``file.send``): the agent pulls the file in chunks, writes it atomically, reports once.

The agent never trusts the console: it checks the name, the target dir, the mode and the owner and group
again; a request that fails those checks ends ``Invalid`` before anything is touched, one whose file cannot
be created ends ``Failed``. The file is streamed into a temporary file *in the target dir*
(``.assist-<task_id>.tmp``, created with ``O_EXCL``, mode 0600), its size and SHA-256 are verified, it is
fsynced, given its owner, group and mode, and only then put at the target path: ``os.replace`` when
overwriting, ``os.link`` + unlink otherwise (so a file that appeared meanwhile is never clobbered), then the
directory is fsynced. A half-sent file therefore never appears at the target path.

Delivery is at least once and the effect at most once, as for commands: the task id is journaled (fsynced)
before anything is written; the result is spooled until ``task.ack``; a re-delivered ``file.send`` gets the
spooled result again, or nothing after the ack. State lives in ``<state-dir>/files/``::

    journal/<task_id>               one file per transfer ever received (fsynced before it starts)
    spool/<task_id>/transfer.json   where the temporary file and the target are, and the expected digest
    spool/<task_id>/result.json     the encoded file.result, until task.ack

An agent killed mid-transfer leaves only its temporary file, which the next start removes (its path is in
``transfer.json``) before reporting the transfer as interrupted.
"""

from __future__ import annotations

import asyncio
import grp
import json
import logging
import os
import posixpath
import pwd
import re
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from . import protocol
from .protocol import FileAbort, FileData, FileRead, FileResult, FileSend
from .store import write_atomic

log = logging.getLogger("assist_agent.files")

READ_SIZE = protocol.MAX_FILE_READ
WINDOW = 4  # file.read requests outstanding at most: the console never has more than 1 MiB in flight
JOURNAL_MAX_AGE = 7 * 24 * 3600.0
PRUNE_EVERY = 3600.0  # journal entries older than JOURNAL_MAX_AGE are dropped at most this often
TEMP_PREFIX = ".assist-"
TEMP_SUFFIX = ".tmp"
MAX_NAME = 255
MAX_DIR = 4096

SUCCESS = "Success"
FAILED = "Failed"  # the file could not be created (the file system said no, or the content was wrong)
INVALID = "Invalid"  # the request cannot be done on this machine: a bad name, dir, mode, owner or group
ERROR = "Error"
TIMEOUT = "Timeout"

_MODE = re.compile(r"^[0-7]{3,4}$")


class Refusal(Exception):
    """A transfer that cannot be done: its status, error code and error info."""

    def __init__(self, status: str, code: str, info: str) -> None:
        super().__init__(f"{code}: {info}")
        self.status = status
        self.code = code
        self.info = info


def temp_name(task_id: str) -> str:
    return f"{TEMP_PREFIX}{task_id}{TEMP_SUFFIX}"


# --- checks (the agent's own; it does not trust the console) -----------------------------------------


def check_name(name: str) -> str:
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name or len(name) > MAX_NAME:
        raise Refusal(INVALID, "FileNameInvalid", f"File name is invalid: {name!r}")
    return name


def check_target_dir(target_dir: str) -> str:
    if (
        not target_dir.startswith("/")
        or "\0" in target_dir
        or ".." in target_dir.split("/")
        or len(target_dir) > MAX_DIR
    ):
        raise Refusal(INVALID, "FilePathInvalid", f"File path is invalid: {target_dir!r}")
    return posixpath.normpath(target_dir)


def check_mode(mode: str) -> int:
    if not _MODE.match(mode or "0644"):
        raise Refusal(INVALID, "FileAuthorityInvalid", f"Mode is invalid: {mode!r}")
    return int(mode or "0644", 8)


def resolve_owner(owner: str, group: str) -> tuple[int, int]:
    """uid and gid for the file. An empty owner or group means the agent's own. Without root the agent can
    only give a file its own user and one of its own groups."""
    euid, egid = os.geteuid(), os.getegid()
    uid, gid = euid, egid
    if owner:
        try:
            uid = pwd.getpwnam(owner).pw_uid
        except KeyError:
            raise Refusal(INVALID, "UserGroupNotExists", f"Owner not exists: {owner}") from None
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise Refusal(INVALID, "UserGroupNotExists", f"Group not exists: {group}") from None
    if euid != 0 and (uid != euid or (gid != egid and gid not in os.getgroups())):
        raise Refusal(
            INVALID,
            "FileAuthorityInvalid",
            f"the authority of file is invalid: the agent does not run as root and cannot give the file "
            f"to {owner or '(itself)'}:{group or '(its group)'}",
        )
    return uid, gid


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256() -> Any:
    import hashlib  # here, not at the top: hashlib maps OpenSSL into the agent, needed only to send files

    return hashlib.sha256()


def file_sha256(path: str) -> str | None:
    digest = _sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    hexdigest: str = digest.hexdigest()
    return hexdigest


# --- the agent's file state ------------------------------------------------------------------------


class FileStore:
    """``<state-dir>/files/``: journal and spool of file transfers (blocking, small files)."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "files"
        self.journal_dir = self.root / "journal"
        self.spool_dir = self.root / "spool"

    def ensure(self) -> None:
        for path in (self.root, self.journal_dir, self.spool_dir):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(path, 0o700)

    def journaled(self, task_id: str) -> bool:
        return (self.journal_dir / task_id).exists()

    def journal(self, task_id: str) -> None:
        (self.spool_dir / task_id).mkdir(mode=0o700, exist_ok=True)
        write_atomic(self.journal_dir / task_id, f"{time.time():.3f}\n".encode())

    def spooled_ids(self) -> list[str]:
        try:
            names = os.listdir(self.spool_dir)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if protocol.is_valid_task_id(n))

    def write_transfer(self, task_id: str, info: dict[str, Any]) -> None:
        write_atomic(self.spool_dir / task_id / "transfer.json", json.dumps(info).encode())

    def read_transfer(self, task_id: str) -> dict[str, Any] | None:
        try:
            info = json.loads((self.spool_dir / task_id / "transfer.json").read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def write_result(self, result: FileResult) -> None:
        write_atomic(self.spool_dir / result.task_id / "result.json", protocol.encode(result).encode())

    def read_result(self, task_id: str) -> FileResult | None:
        try:
            frame = protocol.decode((self.spool_dir / task_id / "result.json").read_bytes())
        except FileNotFoundError:
            return None
        except protocol.ProtocolError as exc:
            log.error("file transfer %s: spooled result is damaged: %s", task_id, exc)
            return None
        return frame if isinstance(frame, FileResult) else None

    def forget(self, task_id: str) -> None:
        shutil.rmtree(self.spool_dir / task_id, ignore_errors=True)

    def prune_journal(self, now: float | None = None, max_age: float = JOURNAL_MAX_AGE) -> int:
        cutoff = (time.time() if now is None else now) - max_age
        removed = 0
        try:
            entries = list(os.scandir(self.journal_dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if entry.stat().st_mtime < cutoff and not (self.spool_dir / entry.name).exists():
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
        return removed


# --- one transfer ----------------------------------------------------------------------------------


class Transfer:
    """One ``file.send`` on this agent: pulls chunks with at most WINDOW reads outstanding, writes each
    chunk as it arrives (memory stays flat), then commits or reports why not."""

    def __init__(
        self,
        frame: FileSend,
        store: FileStore,
        send: Callable[[protocol.Frame], None],
        done: Callable[[str], None],
    ) -> None:
        self.frame = frame
        self.task_id = frame.task_id
        self.store = store
        self.send = send
        self.done = done
        self.started_at = time.time()
        self.received = 0  # bytes written so far (the next offset expected)
        self.requested = 0  # the next offset to ask for
        self.outstanding: dict[int, int] = {}  # offset -> length of the reads not answered yet
        self.digest = _sha256()
        self.fd: int | None = None
        self.directory = ""
        self.target = ""
        self.temp = ""
        self.uid = -1
        self.gid = -1
        self.mode = 0o644
        self.finished = False
        self.timer: asyncio.TimerHandle | None = None

    # lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        frame = self.frame
        try:
            name = check_name(frame.name)
            self.directory = check_target_dir(frame.target_dir)
            self.mode = check_mode(frame.mode)
            self.uid, self.gid = resolve_owner(frame.owner, frame.group)
            self.target = os.path.join(self.directory, name)
            self.temp = os.path.join(self.directory, temp_name(self.task_id))
            self._prepare_dir()
            self._refuse_existing()
            self.store.write_transfer(
                self.task_id,
                {"temp": self.temp, "target": self.target, "sha256": frame.sha256, "size": frame.size},
            )
            self.fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except Refusal as refusal:
            self._finish(refusal.status, refusal.code, refusal.info)
            return
        except OSError as exc:
            self._finish(FAILED, "FileCreateFail", f"the file could not be created: {exc}")
            return
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(frame.timeout, self._on_timeout)
        if frame.size == 0:
            self._commit()
        else:
            self._request_more()

    def _prepare_dir(self) -> None:
        try:
            os.makedirs(self.directory, mode=0o755, exist_ok=True)
        except FileExistsError:
            raise Refusal(
                FAILED, "FilePathInvalid", f"File path is invalid: {self.directory} is not a directory"
            ) from None
        except OSError as exc:
            raise Refusal(FAILED, "FilePathInvalid", f"File path is invalid: {exc}") from None
        if not os.path.isdir(self.directory):
            raise Refusal(
                FAILED, "FilePathInvalid", f"File path is invalid: {self.directory} is not a directory"
            )

    def _refuse_existing(self) -> None:
        if os.path.isdir(self.target) and not os.path.islink(self.target):
            raise Refusal(FAILED, "FileCreateFail", f"{self.target} is a directory")
        if not self.frame.overwrite and os.path.lexists(self.target):
            raise Refusal(FAILED, "FileAlreadyExists", f"File already exists: {self.target}")

    def resume(self) -> None:
        """After a reconnect: the reads sent on the old connection are lost; ask again from where we are."""
        if self.finished or self.fd is None:
            return
        self.outstanding.clear()
        self.requested = self.received
        self._request_more()

    def abort(self, reason: str) -> None:
        if not self.finished:
            self._finish(FAILED, "FileCreateFail", f"the console aborted the transfer: {reason}")

    def stop(self) -> None:
        """The agent is stopping: drop the temporary file; the next start reports the interruption."""
        if self.timer is not None:
            self.timer.cancel()
        self._discard_temp()
        self.finished = True

    # chunks ---------------------------------------------------------------------------------------

    def _request_more(self) -> None:
        size = self.frame.size
        while len(self.outstanding) < WINDOW and self.requested < size:
            length = min(READ_SIZE, size - self.requested)
            self.outstanding[self.requested] = length
            self.send(FileRead(task_id=self.task_id, offset=self.requested, length=length))
            self.requested += length

    def on_data(self, frame: FileData) -> None:
        if self.finished or self.fd is None:
            return
        expected = self.outstanding.get(frame.offset)
        if frame.offset != self.received or expected is None:
            log.debug(
                "file %s: chunk at %d ignored (expecting %d)", self.task_id, frame.offset, self.received
            )
            return
        del self.outstanding[frame.offset]
        data = frame.data
        if len(data) != expected:
            self._finish(
                FAILED,
                "FileContentInvalid",
                f"the content of file is invalid: the console's copy is not {self.frame.size} bytes long",
            )
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            self._finish(FAILED, "FileCreateFail", f"the file could not be written: {exc}")
            return
        self.digest.update(data)
        self.received += len(data)
        if self.received == self.frame.size:
            self._commit()
        else:
            self._request_more()

    # the end --------------------------------------------------------------------------------------

    def _commit(self) -> None:
        fd = self.fd
        assert fd is not None
        if self.digest.hexdigest() != self.frame.sha256:
            self._finish(
                FAILED,
                "FileContentInvalid",
                f"the content of file is invalid: SHA-256 {self.digest.hexdigest()} "
                f"instead of {self.frame.sha256}",
            )
            return
        try:
            os.fsync(fd)
            if os.geteuid() == 0:
                os.fchown(fd, self.uid, self.gid)
            os.fchmod(fd, self.mode)  # after chown, which clears set-id bits
            os.close(fd)
            self.fd = None
            if self.frame.overwrite:
                os.replace(self.temp, self.target)
            else:
                try:
                    os.link(self.temp, self.target)
                except FileExistsError:
                    raise Refusal(
                        FAILED, "FileAlreadyExists", f"File already exists: {self.target}"
                    ) from None
                os.unlink(self.temp)
            _fsync_dir(self.directory)
        except Refusal as refusal:
            self._finish(refusal.status, refusal.code, refusal.info)
            return
        except OSError as exc:
            self._finish(FAILED, "FileCreateFail", f"the file could not be created: {exc}")
            return
        log.info("file %s: %s written (%d bytes)", self.task_id, self.target, self.frame.size)
        self._finish(SUCCESS, "", "")

    def _on_timeout(self) -> None:
        if not self.finished:
            self._finish(
                TIMEOUT,
                "ExecutionTimeout",
                f"the file transfer did not finish within {self.frame.timeout:g} s "
                f"({self.received} of {self.frame.size} bytes received)",
            )

    def _discard_temp(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
        if self.temp:
            try:
                os.unlink(self.temp)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("file %s: cannot remove %s: %s", self.task_id, self.temp, exc)

    def _finish(self, status: str, code: str, info: str) -> None:
        if self.finished:
            return
        self.finished = True
        if self.timer is not None:
            self.timer.cancel()
        if status != SUCCESS:
            self._discard_temp()
            log.warning("file %s: %s %s: %s", self.task_id, status, code, info)
        result = FileResult(
            task_id=self.task_id,
            status=status,
            error_code=code,
            error_info=info[:500],
            started_at=self.started_at,
            finished_at=time.time(),
        )
        try:
            self.store.write_result(result)
        except OSError as exc:  # the result still goes out; it just would not survive a restart
            log.error("file %s: cannot spool the result: %s", self.task_id, exc)
        self.send(result)
        self.done(self.task_id)


# --- all transfers of this agent -------------------------------------------------------------------


class FileTransfers:
    """What the runner calls: one method per frame, plus recovery at start and replay after a connect."""

    def __init__(self, state_dir: Path, send: Callable[[protocol.Frame], None]) -> None:
        self.store = FileStore(state_dir)
        self.send = send
        self.active: dict[str, Transfer] = {}
        self._pruned_at = time.monotonic()

    def recover(self) -> None:
        """At start: remove temporary files an earlier agent process left, and report what it left undone."""
        self.store.ensure()
        self.store.prune_journal()
        for task_id in self.store.spooled_ids():
            if not self.store.journaled(task_id):
                self.store.forget(task_id)
                continue
            if self.store.read_result(task_id) is not None:
                continue
            self.store.write_result(self._interrupted(task_id))

    def _interrupted(self, task_id: str) -> FileResult:
        info = self.store.read_transfer(task_id) or {}
        temp, target = str(info.get("temp", "")), str(info.get("target", ""))
        if temp and os.path.basename(temp) == temp_name(task_id):
            try:
                os.unlink(temp)
                log.warning(
                    "file %s: removed the temporary file %s left by an interrupted agent", task_id, temp
                )
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.error("file %s: cannot remove %s: %s", task_id, temp, exc)
        now = time.time()
        # Died after the file was put in place but before the result was written: it is there, whole.
        if target and info.get("sha256") and file_sha256(target) == info.get("sha256"):
            return FileResult(
                task_id=task_id,
                status=SUCCESS,
                error_code="",
                error_info="",
                started_at=None,
                finished_at=now,
            )
        return FileResult(
            task_id=task_id,
            status=FAILED,
            error_code="FileCreateFail",
            error_info="the agent restarted while the file was written; nothing was put at the target path",
            started_at=None,
            finished_at=now,
        )

    def on_connected(self) -> None:
        """After welcome: send every spooled result again and re-ask for the chunks of running transfers."""
        for task_id in self.store.spooled_ids():
            if task_id in self.active:
                continue
            result = self.store.read_result(task_id)
            if result is not None:
                self.send(result)
        for transfer in list(self.active.values()):
            transfer.resume()

    def on_send(self, frame: FileSend) -> None:
        task_id = frame.task_id
        running = self.active.get(task_id)
        if running is not None:
            log.info("file %s re-delivered while running: asking for its chunks again", task_id)
            running.resume()
            return
        if self.store.journaled(task_id):
            result = self.store.read_result(task_id)
            if result is not None:
                log.info("file %s re-delivered: sending its result again", task_id)
                self.send(result)
            else:
                log.info("file %s re-delivered after its ack: ignored", task_id)
            return
        self.store.journal(task_id)  # durable before anything is written: at most once
        log.info("file %s received: %s/%s (%d bytes)", task_id, frame.target_dir, frame.name, frame.size)
        transfer = Transfer(frame, self.store, self.send, self._done)
        self.active[task_id] = transfer
        transfer.start()

    def _done(self, task_id: str) -> None:
        self.active.pop(task_id, None)

    def on_data(self, frame: FileData) -> None:
        transfer = self.active.get(frame.task_id)
        if transfer is not None:
            transfer.on_data(frame)

    def on_abort(self, frame: FileAbort) -> None:
        transfer = self.active.get(frame.task_id)
        if transfer is not None:
            transfer.abort(frame.reason)

    def holds(self, task_id: str) -> bool:
        return task_id in self.active or (self.store.spool_dir / task_id).is_dir()

    def on_ack(self, task_id: str) -> bool:
        """True when the ack was for a file transfer (its spool is dropped, the journal entry kept)."""
        if task_id in self.active:
            return True
        if not (self.store.spool_dir / task_id).is_dir():
            return False
        self.store.forget(task_id)
        log.info("file %s acknowledged", task_id)
        if time.monotonic() - self._pruned_at > PRUNE_EVERY:
            self._pruned_at = time.monotonic()
            self.store.prune_journal()
        return True

    def stop(self) -> None:
        for transfer in list(self.active.values()):
            transfer.stop()
        self.active.clear()


__all__ = ["FileStore", "FileTransfers", "Refusal", "Transfer", "temp_name"]
