"""The state dir: journal pruning, leftovers swept, chunks read back by seq, results round-tripped."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from assist_agent import protocol
from assist_agent import store as store_module
from assist_agent.store import Store


def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state")
    store.ensure()
    return store


def test_layout_modes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (store.spool_dir, store.work_dir)}
    assert modes == {"spool": 0o700, "work": 0o711}
    store.journal("t-1")
    assert stat.S_IMODE(store.journal_path.stat().st_mode) == 0o600
    store.write_identity({"InstanceId": "mi-1"})
    assert stat.S_IMODE((store.root / "identity.json").stat().st_mode) == 0o600
    assert store.read_identity() == {"InstanceId": "mi-1"}


def test_the_journal_is_one_log_read_back_by_the_next_agent(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for task_id in ("t-1", "t-2", "t-3"):
        store.journal(task_id)
    store.close()
    assert store.journal_path.read_text().count("\n") == 3
    again = Store(store.root)
    assert again.journaled_ids() == {"t-1", "t-2", "t-3"}
    assert again.journaled("t-2") and not again.journaled("t-4")
    again.journal("t-4")
    assert Store(store.root).journaled_ids() == {"t-1", "t-2", "t-3", "t-4"}


def test_each_journal_entry_is_forced_to_disk_before_journal_returns(tmp_path: Path, monkeypatch) -> None:
    """At most once: the task id must survive a power cut before the script may start."""
    store = _store(tmp_path)
    synced: list[tuple[str, bytes]] = []

    def recording_datasync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        synced.append((path, Path(path).read_bytes()))

    monkeypatch.setattr(store_module, "_datasync", recording_datasync)
    store.journal("t-1")
    store.journal("t-2")
    assert [path for path, _ in synced] == [str(store.journal_path.resolve())] * 2
    assert synced[0][1].startswith(b"t-1 ") and synced[1][1].count(b"\n") == 2


def test_a_torn_last_line_is_cut_off_and_the_log_goes_on(tmp_path: Path) -> None:
    """A power cut in the middle of an append (before its fdatasync returned, so before its task started)."""
    store = _store(tmp_path)
    store.journal("t-1")
    store.close()
    with open(store.journal_path, "ab") as f:
        f.write(b"t-torn 17")
    again = Store(store.root)
    assert again.journaled_ids() == {"t-1"}
    again.journal("t-2")
    assert Store(store.root).journaled_ids() == {"t-1", "t-2"}


def test_damaged_lines_are_skipped(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.journal_path.write_bytes(b"t-1 100.0\n../etc 100.0\nt-2 not-a-time\n\xff\xfe\nt-3 200.5\n")
    assert store.journaled_ids() == {"t-1", "t-3"}


def test_an_earlier_agents_journal_files_are_moved_into_the_log(tmp_path: Path) -> None:
    store = _store(tmp_path)
    legacy = store.root / "journal"
    legacy.mkdir()
    (legacy / "t-old").write_text("1.0\n")
    (legacy / "t-new").write_text("2.0\n")
    eight_days_ago = time.time() - 8 * 24 * 3600
    os.utime(legacy / "t-old", (eight_days_ago, eight_days_ago))
    store.journal("t-now")
    assert not legacy.exists()
    assert store.journaled_ids() == {"t-old", "t-new", "t-now"}
    assert Store(store.root).journaled_ids() == {"t-old", "t-new", "t-now"}
    assert store.prune_journal() == 1  # the moved entry kept its age
    assert Store(store.root).journaled_ids() == {"t-new", "t-now"}


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


def test_an_acknowledged_spool_dir_is_cleared_and_reused_by_the_next_task(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.journal("t-1")
    writer = store.open_output("t-1")
    writer.append(1, b"first task's output\n")
    writer.close()
    store.write_pid("t-1", 4242, "boot", 1.0, "/x/script.sh")
    (store.spool("t-1") / "script.sh").write_text("echo secret\n")
    long_result = protocol.TaskResult("t-1", "Failed", 1, "ExitCodeNonzero", "x" * 300, 1.0, 2.0, 1)
    store.write_result(long_result)
    inodes = {p.name: p.stat().st_ino for p in [store.spool("t-1"), *store.spool("t-1").iterdir()]}
    store.forget("t-1")
    assert store.spooled_ids() == []
    [spare] = os.listdir(store.spool_dir)
    assert spare == "t-1" + store_module.FREE_SUFFIX
    for name in ("result.json", "pid", "script.sh"):  # blanked, not truncated
        data = (store.spool_dir / spare / name).read_bytes()
        assert data and not data.strip(), name

    store.journal("t-2")
    assert store.spooled_ids() == ["t-2"]
    assert store.read_result("t-2") is None
    assert store.read_pid("t-2") is None
    assert store.last_seq("t-2") == 0  # t-1's chunk line names t-1
    writer = store.open_output("t-2")
    writer.append(1, b"two\n")
    writer.close()
    assert list(store.iter_chunks("t-2", [1, 2])) == [(1, b"two\n"), (2, None)]
    short_result = protocol.TaskResult("t-2", "Success", 0, "", "", 1.0, 2.0, 1)
    store.write_result(short_result)  # shorter than the blanked t-1 result: padded
    assert store.read_result("t-2") == short_result
    store.write_pid("t-2", 7, "boot", 3.0, "/x/script.sh")
    assert store.read_pid("t-2") == (7, "boot", 3.0, "/x/script.sh", True)
    after = {p.name: p.stat().st_ino for p in [store.spool("t-2"), *store.spool("t-2").iterdir()]}
    assert after["t-2"] == inodes["t-1"]
    assert {name: ino for name, ino in after.items() if name != "t-2"} == {
        name: ino for name, ino in inodes.items() if name != "t-1"
    }  # the same files: none made again


def test_a_large_output_is_truncated_when_its_spool_dir_is_cleared(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "SPOOL_TRIM_BYTES", 100)
    store = _store(tmp_path)
    store.journal("t-1")
    writer = store.open_output("t-1")
    writer.append(1, b"x" * 101)
    writer.close()
    store.forget("t-1")
    assert (store.spool_dir / "t-1~free" / "output").stat().st_size == 0


def test_a_spare_left_half_cleared_is_cleared_before_reuse(tmp_path: Path) -> None:
    """An agent killed between forget's rename and its clearing leaves an earlier task's files; one from
    an agent before reused spool dirs has its chunk index in the old format."""
    store = _store(tmp_path)
    spare = store.spool_dir / ("t-old" + store_module.FREE_SUFFIX)
    spare.mkdir()
    (spare / "result.json").write_bytes(
        protocol.encode(protocol.TaskResult("t-old", "Success", 0, "", "", 1.0, 2.0, 1)).encode()
    )
    (spare / "pid").write_text('{"pgid": 5, "boot_id": "b", "started_at": 1.0, "script": "s"}')
    (spare / "output").write_bytes(b"old\n")
    (spare / "index").write_text("1 0 4\n")
    (spare / "leftover").mkdir()
    store.journal("t-new")
    assert not spare.exists()
    assert store.read_result("t-new") is None
    assert store.read_pid("t-new") is None
    assert list(store.iter_chunks("t-new", [1])) == [(1, None)]
    assert not (store.spool("t-new") / "leftover").exists()


def test_an_earlier_agents_chunk_index_is_still_read(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.journal("t-1")
    (store.spool("t-1") / "output").write_bytes(b"onetwo")
    (store.spool("t-1") / "index").write_text("1 0 3\n2 3 3\n")
    assert list(store.iter_chunks("t-1", [2, 1])) == [(2, b"two"), (1, b"one")]
    assert store.last_seq("t-1") == 2


def test_a_spare_is_kept_when_the_tasks_dir_is_there_already(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.journal("t-1")
    store.forget("t-1")
    (store.spool("t-2")).mkdir()
    (store.spool("t-2") / "output").write_bytes(b"left by a crash\n")
    store.journal("t-2")
    assert sorted(os.listdir(store.spool_dir)) == ["t-1~free", "t-2"]
    store.journal("t-3")  # the spare is still there to be used
    assert sorted(os.listdir(store.spool_dir)) == ["t-2", "t-3"]


def test_at_most_max_free_spools_are_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "MAX_FREE_SPOOLS", 2)
    store = _store(tmp_path)
    for task_id in ("t-1", "t-2", "t-3"):
        store.journal(task_id)
    for task_id in ("t-1", "t-2", "t-3"):
        store.forget(task_id)
    assert sorted(os.listdir(store.spool_dir)) == ["t-1~free", "t-2~free"]
    assert Store(store.root).spooled_ids() == []
    store.journal("t-4")
    store.journal("t-5")
    store.journal("t-6")  # no spare left: a new dir
    assert sorted(os.listdir(store.spool_dir)) == ["t-4", "t-5", "t-6"]


def test_prune_drops_old_acknowledged_entries_only(tmp_path: Path) -> None:
    store = _store(tmp_path)
    eight_days_ago = time.time() - 8 * 24 * 3600
    for task_id, when in (("old-acked", eight_days_ago), ("old-held", eight_days_ago), ("new-acked", None)):
        store.journal(task_id, now=when)
    store.forget("old-acked")
    store.forget("new-acked")
    assert store.prune_journal() == 1
    assert store.prune_journal() == 0
    assert store.journaled_ids() == {"new-acked", "old-held"}
    store.journal("later")  # appended to the rewritten log
    assert Store(store.root).journaled_ids() == {"new-acked", "old-held", "later"}


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
    for path in (spool / "output", spool / "chunks", spool / "result.json", spool, store.spool_dir):
        assert str(path.resolve()) in synced, f"{path} not forced to disk"
