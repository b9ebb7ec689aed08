"""The state dir: journal pruning, leftovers swept, chunks read back by seq, results round-tripped."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from assist_agent import protocol
from assist_agent.store import Store


def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state")
    store.ensure()
    return store


def test_layout_modes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    modes = {
        p.name: stat.S_IMODE(p.stat().st_mode) for p in (store.journal_dir, store.spool_dir, store.work_dir)
    }
    assert modes == {"journal": 0o700, "spool": 0o700, "work": 0o711}
    store.write_identity({"InstanceId": "mi-1"})
    assert stat.S_IMODE((store.root / "identity.json").stat().st_mode) == 0o600
    assert store.read_identity() == {"InstanceId": "mi-1"}


def test_chunks_are_read_back_by_seq(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.journal("t-1")
    writer = store.open_output("t-1")
    for seq, data in enumerate([b"one\n", b"two\n", b"three\n"], start=1):
        writer.append(seq, data)
    writer.close()
    assert list(store.iter_chunks("t-1", [3, 1, 9])) == [(3, b"three\n"), (1, b"one\n"), (9, None)]
    assert store.last_seq("t-1") == 3
    assert list(store.iter_chunks("t-unknown", [1])) == [(1, None)]


def test_result_round_trip_and_forget_keeps_the_journal(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.journal("t-1")
    (store.work_dir / "t-1").mkdir()
    result = protocol.TaskResult("t-1", "Success", 0, "", "", 1.0, 2.0, 0)
    store.write_result(result)
    assert store.read_result("t-1") == result
    assert store.spooled_ids() == ["t-1"]
    store.forget("t-1")
    assert store.read_result("t-1") is None
    assert store.spooled_ids() == []
    assert not (store.work_dir / "t-1").exists()
    assert store.journaled("t-1")


def test_prune_drops_old_acknowledged_entries_only(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for task_id in ("old-acked", "old-held", "new-acked"):
        store.journal(task_id)
    store.forget("old-acked")
    store.forget("new-acked")
    eight_days_ago = time.time() - 8 * 24 * 3600
    for task_id in ("old-acked", "old-held"):
        os.utime(store.journal_dir / task_id, (eight_days_ago, eight_days_ago))
    assert store.prune_journal() == 1
    assert sorted(os.listdir(store.journal_dir)) == ["new-acked", "old-held"]


def test_sweep_removes_leftovers(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (store.spool_dir / "never-journaled").mkdir()
    (store.work_dir / "orphan").mkdir()
    store.journal("kept")
    (store.work_dir / "kept").mkdir()
    store.sweep()
    assert store.spooled_ids() == ["kept"]
    assert os.listdir(store.work_dir) == ["kept"]


def test_a_final_result_forces_the_output_it_closes_to_disk(tmp_path: Path, monkeypatch) -> None:
    """A task that ended before a power cut must be reported with its real outcome and whole output after
    the boot: the result, the output and its index, and the directories naming them are fsynced."""
    store = _store(tmp_path)
    store.journal("t-1")
    writer = store.open_output("t-1")
    writer.append(1, b"line\n")
    writer.close()
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    store.write_result(protocol.TaskResult("t-1", "Success", 0, "", "", 1.0, 2.0, 1))

    spool = store.spool("t-1")
    for path in (spool / "output", spool / "index", spool / "result.json", spool, store.spool_dir):
        assert str(path.resolve()) in synced, f"{path} not forced to disk"
