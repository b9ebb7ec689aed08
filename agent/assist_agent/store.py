"""The agent's state directory: identity, journal, spool and work dirs (blocking file I/O, small).

Layout of ``<state-dir>``::

    identity.json              InstanceId, InstanceSecret, RegionId, Server (mode 0600)
    journal.log                one "task_id time" line per task id ever received (fdatasynced before
                               the task starts)
    spool/<task_id>/output     the task's combined output, appended chunk after chunk
    spool/<task_id>/chunks     one "task_id seq offset length" line per chunk (an agent before spool
                               dirs were reused wrote "index", "seq offset length" lines, still read)
    spool/<task_id>/pid        JSON: pgid, boot_id, started_at, script path of the started shell
    spool/<task_id>/result.json  the encoded task.result frame, once the task has ended
    spool/<task_id>/script.sh  the script, when it runs as the agent's own user
    work/<task_id>/script.sh   the script, when it runs as another user (work/ is traversable)
    spool/<task_id>~free       a spool dir kept for the next task, its small files blanked

The spool dir is made (or reused) before the journal entry, and both exist until ``task.ack``; the ack
clears the spool dir (kept for reuse) and removes the work dir but keeps the journal entry (pruned after
7 days), so a re-delivered task id is recognised and never run twice. Temporary files end in ``~tmp``,
a character no task id has.

Files are made once and reused, not made and deleted for every task: on ext4, creating a file shortly
after many were deleted scans the recently freed inodes (``recently_deleted`` in the kernel), which was
most of an agent's system time in a burst of short tasks (docs/performance.md). So the journal is one
file appended to (agents before it kept ``journal/<task_id>`` files, moved into the log the first time the
store is opened), and an acknowledged task's spool dir is renamed to ``<task_id>~free``, then to the next
task's id. Its files are overwritten, not truncated: ext4 writes a file truncated to nothing out to disk
when it is closed after a write (``auto_da_alloc``), which cost as much as making it. So the small files
(``pid``, ``result.json``, the script) are blanked with spaces when the task is acknowledged and padded
with spaces when rewritten (JSON allows it; an all-blank result means none), and ``output`` and ``chunks``
are appended to, each line of ``chunks`` naming its task; only past ``SPOOL_TRIM_BYTES`` are they
truncated.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import protocol

log = logging.getLogger("assist_agent.store")

IDENTITY_FILE = "identity.json"
JOURNAL_FILE = "journal.log"
FREE_SUFFIX = "~free"  # no task id has a "~"
MAX_FREE_SPOOLS = 64  # spool dirs kept for reuse; beyond, an acknowledged spool is deleted
SPOOL_TRIM_BYTES = 1 << 20  # a reused output or chunks file larger than this is truncated
APPENDED = ("output", "chunks")  # the spool files appended to; the others are overwritten
LEGACY_INDEX = "index"  # an earlier agent's chunk index, removed when its spool dir is reused
JOURNAL_MAX_AGE = 7 * 24 * 3600.0


def default_state_dir() -> Path:
    """``$ASSIST_AGENT_STATE_DIR``, else /var/lib/assist-agent for root, else ~/.assist-agent."""
    env = os.environ.get("ASSIST_AGENT_STATE_DIR")
    if env:
        return Path(env)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/assist-agent")
    return Path.home() / ".assist-agent"


# fdatasync where the system has it: the log's appended bytes and its size, not its times.
_datasync = getattr(os, "fdatasync", os.fsync)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """os.write until all of ``data`` is written (a write to a file may be partial)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def overwrite(path: Path, data: bytes, mode: int = 0o600, pad: bool = False) -> None:
    """Write ``data`` over the start of ``path`` (made if missing) without truncating it to nothing first
    (see the module's docstring). Where the file is longer, ``pad`` fills the rest with spaces; otherwise
    the file is cut to ``data``'s length."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, mode)
    try:
        size = os.fstat(fd).st_size
        if pad and size > len(data):
            data += b" " * (size - len(data))
        write_all(fd, data)
        if size > len(data):
            os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def _clear_spool(directory: Path) -> None:
    """Make a spool dir ready for another task: the small files blanked (result first: a blank result
    means none), the appended ones truncated only when large, anything else removed."""
    with os.scandir(directory) as scan:
        entries = sorted(scan, key=lambda e: e.name != "result.json")
    for entry in entries:
        if entry.is_file(follow_symlinks=False):
            size = entry.stat(follow_symlinks=False).st_size
            if entry.name in APPENDED:
                if size > SPOOL_TRIM_BYTES:
                    os.truncate(entry.path, 0)
            elif entry.name == LEGACY_INDEX:
                os.unlink(entry.path)
            elif size:
                overwrite(Path(entry.path), b"", pad=True)
        elif entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


def _journal_lines(entries: dict[str, float]) -> bytes:
    return "".join(f"{task_id} {when:.3f}\n" for task_id, when in entries.items()).encode()


def write_atomic(path: Path, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Write ``path`` through a temporary file and a rename, so readers never see half a file. ``durable``
    also fsyncs the file and its directory, so the write survives a power cut, not only a crash."""
    tmp = path.with_name(path.name + "~tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        write_all(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        _fsync_dir(path.parent)


class SpoolWriter:
    """Appends the chunks of one running task to its spool dir."""

    def __init__(self, directory: Path, task_id: str) -> None:
        self._task_id = task_id
        self._output = open(directory / "output", "ab", buffering=0)  # closed in close()
        self._index = open(directory / "chunks", "a", buffering=1, encoding="ascii")

    def append(self, seq: int, data: bytes) -> None:
        offset = self._output.seek(0, os.SEEK_END)
        view = memoryview(data)
        while view:
            view = view[self._output.write(view) or 0 :]
        self._index.write(f"{self._task_id} {seq} {offset} {len(data)}\n")

    def close(self) -> None:
        """Flush both files to the OS and close them. No fsync per chunk: the spool has to survive the
        agent's death, which the page cache already guarantees; the final result forces the whole spool
        to disk (Store.write_result). A power cut while the task runs leaves the journal, so the task is
        reported as interrupted rather than run again."""
        for f in (self._output, self._index):
            try:
                f.flush()
            except OSError as exc:  # pragma: no cover - disk trouble
                log.warning("spool flush failed: %s", exc)
            f.close()


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.journal_path = root / JOURNAL_FILE
        self.legacy_journal_dir = root / "journal"
        self.spool_dir = root / "spool"
        self.work_dir = root / "work"
        self._journal: dict[str, float] | None = None  # task id -> time journaled, loaded on first use
        self._journal_fd: int | None = None
        self._free_spools: list[str] | None = None  # names of spare spool dirs, found on first use
        self._cleared: set[str] = set()  # spares cleared by this process (others may hold a task's files)

    def ensure(self) -> None:
        # root and work/ are traversable (not listable) by others, so a script run as another user
        # can reach work/<task_id>/ (owned by that user, 0700); spool/ and journal.log stay private.
        for path, mode in (
            (self.root, 0o711),
            (self.spool_dir, 0o700),
            (self.work_dir, 0o711),
        ):
            path.mkdir(mode=mode, parents=True, exist_ok=True)
            os.chmod(path, mode)

    # identity -------------------------------------------------------------------------------------

    def read_identity(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.root / IDENTITY_FILE).read_text("utf-8"))
        except FileNotFoundError:
            return None
        return data if isinstance(data, dict) else None

    def write_identity(self, identity: dict[str, Any]) -> None:
        self.root.mkdir(mode=0o711, parents=True, exist_ok=True)
        write_atomic(self.root / IDENTITY_FILE, json.dumps(identity, indent=2).encode() + b"\n", 0o600)

    # journal --------------------------------------------------------------------------------------

    def journaled(self, task_id: str) -> bool:
        return task_id in self._entries()

    def journaled_ids(self) -> set[str]:
        return set(self._entries())

    def journal(self, task_id: str, now: float | None = None) -> None:
        """Record the task id durably (the log's line fdatasynced) before the task starts."""
        entries = self._entries()
        self._claim_spool(task_id)
        when = time.time() if now is None else now
        fd = self._journal_fd if self._journal_fd is not None else self._open_journal()
        write_all(fd, f"{task_id} {when:.3f}\n".encode())
        _datasync(fd)
        entries[task_id] = when

    def prune_journal(self, now: float | None = None, max_age: float = JOURNAL_MAX_AGE) -> int:
        """Drop journal entries older than ``max_age`` whose task has been acknowledged (the log is
        rewritten, durably, only when there is something to drop)."""
        entries = self._entries()
        cutoff = (time.time() if now is None else now) - max_age
        old = [
            task_id
            for task_id, when in entries.items()
            if when < cutoff and not (self.spool_dir / task_id).exists()
        ]
        if not old:
            return 0
        for task_id in old:
            del entries[task_id]
        self._close_journal()
        write_atomic(self.journal_path, _journal_lines(entries))
        return len(old)

    def close(self) -> None:
        self._close_journal()

    def _entries(self) -> dict[str, float]:
        if self._journal is None:
            self._journal = self._load_journal()
        return self._journal

    def _load_journal(self) -> dict[str, float]:
        entries: dict[str, float] = {}
        try:
            data = self.journal_path.read_bytes()
        except FileNotFoundError:
            data = b""
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            # A line torn by a power cut: its task never started (the line was not yet synced). Cut it
            # off, so that the next line starts on a line of its own.
            log.warning("journal: dropping a torn last line of %d bytes", len(data) - len(complete))
            with open(self.journal_path, "r+b") as f:
                f.truncate(len(complete))
        for line in complete.decode("utf-8", "replace").splitlines():
            task_id, _, when = line.partition(" ")
            try:
                if not protocol.is_valid_task_id(task_id):
                    raise ValueError(task_id)
                entries[task_id] = float(when)
            except ValueError:
                log.warning("journal: ignoring a damaged line %r", line[:80])
        legacy = self._legacy_entries()
        if legacy:
            entries.update(legacy)
            write_atomic(self.journal_path, _journal_lines(entries))
            for task_id in legacy:
                with contextlib.suppress(OSError):
                    os.unlink(self.legacy_journal_dir / task_id)
            with contextlib.suppress(OSError):
                os.rmdir(self.legacy_journal_dir)
            log.info("journal: moved %d entries of journal/ into %s", len(legacy), JOURNAL_FILE)
        return entries

    def _legacy_entries(self) -> dict[str, float]:
        """Entries an earlier agent kept as ``journal/<task_id>`` files (their mtime is their time)."""
        entries: dict[str, float] = {}
        try:
            with os.scandir(self.legacy_journal_dir) as scan:
                for entry in scan:
                    if protocol.is_valid_task_id(entry.name):
                        with contextlib.suppress(OSError):
                            entries[entry.name] = entry.stat().st_mtime
        except (FileNotFoundError, NotADirectoryError):
            pass
        return entries

    def _open_journal(self) -> int:
        created = not self.journal_path.exists()
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if created:  # the file's name must survive a power cut too
            _fsync_dir(self.root)
        self._journal_fd = fd
        return fd

    def _close_journal(self) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None

    # spool ----------------------------------------------------------------------------------------

    def spool(self, task_id: str) -> Path:
        return self.spool_dir / task_id

    def _claim_spool(self, task_id: str) -> None:
        """The task's spool dir: a spare renamed, else a new one. A spare this process did not clear (an
        agent killed half-way through forget may have left one) is cleared first, so the task never sees
        another's result or pid; other tasks' lines in ``chunks`` are not its own (they name their task)."""
        target = self.spool(task_id)
        free = self._free()
        while free:
            spare = self.spool_dir / free.pop()
            try:
                if spare.name not in self._cleared:
                    _clear_spool(spare)
                self._cleared.discard(spare.name)
                os.rename(spare, target)
                return
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):  # the task's dir is there already
                    free.append(spare.name)
                    break
                log.warning("spool: cannot reuse %s: %s", spare.name, exc)  # gone, or unusable
                shutil.rmtree(spare, ignore_errors=True)
        target.mkdir(mode=0o700, exist_ok=True)

    def _free(self) -> list[str]:
        if self._free_spools is None:
            try:
                names = os.listdir(self.spool_dir)
            except FileNotFoundError:
                names = []
            free = sorted(n for n in names if n.endswith(FREE_SUFFIX))
            for name in free[MAX_FREE_SPOOLS:]:
                shutil.rmtree(self.spool_dir / name, ignore_errors=True)
            self._free_spools = free[:MAX_FREE_SPOOLS]
        return self._free_spools

    def spooled_ids(self) -> list[str]:
        try:
            names = os.listdir(self.spool_dir)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if protocol.is_valid_task_id(n))

    def open_output(self, task_id: str) -> SpoolWriter:
        return SpoolWriter(self.spool(task_id), task_id)

    def _index(self, task_id: str) -> dict[int, tuple[int, int]]:
        entries: dict[int, tuple[int, int]] = {}
        try:
            spool = self.spool(task_id)
            legacy = not (spool / "chunks").exists() and (spool / LEGACY_INDEX).exists()
            with open(
                spool / (LEGACY_INDEX if legacy else "chunks"), encoding="ascii", errors="replace"
            ) as f:
                for line in f:
                    parts = line.split()
                    if not legacy:
                        if len(parts) != 4 or parts[0] != task_id:  # another task's (reused), or torn
                            continue
                        parts = parts[1:]
                    if line.endswith("\n") and len(parts) == 3 and all(p.isdigit() for p in parts):
                        seq, offset, length = (int(p) for p in parts)
                        entries[seq] = (offset, length)
        except FileNotFoundError:
            pass
        return entries

    def last_seq(self, task_id: str) -> int:
        """The highest chunk number spooled for the task (0 if none)."""
        return max(self._index(task_id), default=0)

    def iter_chunks(self, task_id: str, seqs: list[int]) -> Iterator[tuple[int, bytes | None]]:
        """(seq, data) for each wanted seq, in the order asked; data is None when not spooled."""
        index = self._index(task_id)
        try:
            output = open(self.spool(task_id) / "output", "rb")  # closed below
        except FileNotFoundError:
            output = None
        try:
            for seq in seqs:
                entry = index.get(seq)
                data = None
                if entry is not None and output is not None:
                    output.seek(entry[0])
                    data = output.read(entry[1])
                    if len(data) != entry[1]:
                        data = None
                yield seq, data
        finally:
            if output is not None:
                output.close()

    def write_result(self, result: protocol.TaskResult, durable: bool = True) -> None:
        """Spool the final result and (``durable``) force it, with the output it closes, to disk: a task
        that ended before a power cut is reported with its real outcome and whole output after the boot (a
        few fsyncs once per task; live chunks themselves are not forced, see SpoolWriter.close). Without
        ``durable`` the caller forces it later with make_durable."""
        # Overwritten, padded: the file may be a blanked one of an earlier task (see the module's
        # docstring); one write() cannot be torn by the agent's death.
        overwrite(self.spool(result.task_id) / "result.json", protocol.encode(result).encode(), pad=True)
        if durable:
            self.make_durable(result.task_id)

    def make_durable(self, task_id: str) -> None:
        """Force a task's spool (output, chunk index, result) to disk, so that it survives a power cut (or the
        reboot a power action asks for) and is reported after the boot."""
        directory = self.spool(task_id)
        for name in ("output", "chunks", LEGACY_INDEX, "result.json"):
            try:
                fd = os.open(directory / name, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(directory)
        _fsync_dir(self.spool_dir)

    def read_result(self, task_id: str) -> protocol.TaskResult | None:
        try:
            data = (self.spool(task_id) / "result.json").read_bytes()
            if not data.strip():  # blank, ready for reuse: the task has no result yet
                return None
            frame = protocol.decode(data)
        except FileNotFoundError:
            return None
        except protocol.ProtocolError as exc:
            log.error("task %s: spooled result is damaged: %s", task_id, exc)
            return None
        return frame if isinstance(frame, protocol.TaskResult) else None

    def write_pid(
        self, task_id: str, pgid: int, boot_id: str, started_at: float, script: str, tree: bool = True
    ) -> None:
        info = {"pgid": pgid, "boot_id": boot_id, "started_at": started_at, "script": script, "tree": tree}
        overwrite(self.spool(task_id) / "pid", json.dumps(info).encode(), pad=True)

    def read_pid(self, task_id: str) -> tuple[int, str, float, str, bool] | None:
        """(pgid, boot_id, started_at, the argument that marks the task's process, whether its whole group
        goes when it is killed) of the task's started process, if it was started."""
        try:
            info = json.loads((self.spool(task_id) / "pid").read_bytes())
            return (
                int(info["pgid"]),
                str(info["boot_id"]),
                float(info["started_at"]),
                str(info["script"]),
                bool(info.get("tree", True)),  # pid files of earlier agents: the group
            )
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def forget(self, task_id: str) -> None:
        """After task.ack: the spool dir is cleared and kept for a later task (or deleted when enough are
        kept), the work dir deleted; the journal entry stays."""
        spool = self.spool(task_id)
        free = self._free()
        spare = self.spool_dir / (task_id + FREE_SUFFIX)
        try:
            if len(free) >= MAX_FREE_SPOOLS:
                shutil.rmtree(spool)
            else:
                os.rename(spool, spare)  # first: from here on the task is no longer spooled
                _clear_spool(spare)
                free.append(spare.name)
                self._cleared.add(spare.name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("task %s: cannot clear its spool dir for reuse: %s", task_id, exc)
            shutil.rmtree(spool, ignore_errors=True)
            shutil.rmtree(spare, ignore_errors=True)
        if os.path.lexists(self.work_dir / task_id):
            shutil.rmtree(self.work_dir / task_id, ignore_errors=True)

    def sweep(self) -> None:
        """Remove leftovers: spool dirs never journaled, work dirs whose spool is gone."""
        for task_id in self.spooled_ids():
            if not self.journaled(task_id):
                shutil.rmtree(self.spool(task_id), ignore_errors=True)
        try:
            names = os.listdir(self.work_dir)
        except FileNotFoundError:
            return
        for name in names:
            if not (self.spool_dir / name).exists():
                shutil.rmtree(self.work_dir / name, ignore_errors=True)
