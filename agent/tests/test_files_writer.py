"""The agent's file writer (assist_agent/files.py) without a console: frames in, frames and files out."""

import asyncio
import grp
import hashlib
import os
import pwd
import stat
from pathlib import Path

import pytest
from assist_agent import files, protocol
from assist_agent.protocol import FileData, FileRead, FileResult, FileSend

IS_ROOT = os.geteuid() == 0


class Console:
    """Answers the agent's file.read from ``content``; records everything the agent sends."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.sent: list[protocol.Frame] = []
        self.served = 0

    def __call__(self, frame: protocol.Frame) -> None:
        protocol.decode(protocol.encode(frame))  # every frame the agent sends is valid on the wire
        self.sent.append(frame)

    def reads(self) -> list[FileRead]:
        return [f for f in self.sent if isinstance(f, FileRead)]

    def results(self) -> list[FileResult]:
        return [f for f in self.sent if isinstance(f, FileResult)]

    def serve(self, transfers: files.FileTransfers, limit: int | None = None) -> None:
        """Answer the reads not answered yet (at most ``limit``), in order, as the gateway does."""
        while self.served < len(self.reads()) and (limit is None or limit > 0):
            read = self.reads()[self.served]
            self.served += 1
            data = self.content[read.offset : read.offset + read.length]
            transfers.on_data(FileData(task_id=read.task_id, offset=read.offset, data=data))
            if limit is not None:
                limit -= 1


def frame(target: Path, content: bytes, task_id: str = "fr-1", **changes) -> FileSend:
    fields = dict(
        task_id=task_id,
        name="out.bin",
        target_dir=str(target),
        owner="",
        group="",
        mode="0644",
        overwrite=False,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        timeout=30.0,
    )
    fields.update(changes)
    return FileSend(**fields)


def run(coroutine_fn):
    return asyncio.run(coroutine_fn())


def send_file(state: Path, send: FileSend, console: Console, limit: int | None = None) -> files.FileTransfers:
    async def go():
        transfers = files.FileTransfers(state, console)
        transfers.recover()
        transfers.on_send(send)
        console.serve(transfers, limit)
        return transfers

    return run(go)


def temps(directory: Path) -> list[str]:
    return (
        [p.name for p in directory.iterdir() if p.name.startswith(".assist-")] if directory.exists() else []
    )


@pytest.mark.parametrize("size", [0, 1, 100_000, 3 * files.READ_SIZE + 7])
def test_a_file_is_written_whole_with_its_mode(tmp_path, size):
    content = os.urandom(size)
    console = Console(content)
    target = tmp_path / "new" / "dir"  # created when missing
    send_file(tmp_path / "state", frame(target, content, mode="0750"), console)
    [result] = console.results()
    assert (result.status, result.error_code) == ("Success", "")
    written = target / "out.bin"
    assert written.read_bytes() == content
    assert stat.S_IMODE(written.stat().st_mode) == 0o750
    assert temps(target) == []
    # pulled in windows of at most WINDOW reads of READ_SIZE
    assert all(r.length <= files.READ_SIZE for r in console.reads())
    assert sum(r.length for r in console.reads()) == size


def test_at_most_a_window_of_reads_is_outstanding_and_chunks_go_to_disk_as_they_arrive(tmp_path):
    content = os.urandom(10 * files.READ_SIZE)
    console = Console(content)
    target = tmp_path / "t"
    transfers = None

    async def go():
        nonlocal transfers
        transfers = files.FileTransfers(tmp_path / "state", console)
        transfers.recover()
        transfers.on_send(frame(target, content))
        assert len(console.reads()) == files.WINDOW
        console.serve(transfers, limit=1)
        [temp] = temps(target)
        assert (target / temp).stat().st_size == files.READ_SIZE  # written, not held in memory
        assert len(console.reads()) == files.WINDOW + 1  # one answered, one more asked
        assert not (target / "out.bin").exists()  # never visible half-written
        console.serve(transfers)

    run(go)
    assert console.results()[0].status == "Success"
    assert (target / "out.bin").read_bytes() == content


def test_a_checksum_mismatch_leaves_nothing(tmp_path):
    content = b"the real content"
    console = Console(b"the fake content")
    send_file(tmp_path / "state", frame(tmp_path / "t", content), console)
    [result] = console.results()
    assert (result.status, result.error_code) == ("Failed", "FileContentInvalid")
    assert "SHA-256" in result.error_info
    assert list((tmp_path / "t").iterdir()) == []


def test_a_console_copy_shorter_than_announced_is_invalid_content(tmp_path):
    content = b"0123456789"
    console = Console(content[:4])
    send_file(tmp_path / "state", frame(tmp_path / "t", content), console)
    assert console.results()[0].error_code == "FileContentInvalid"
    assert list((tmp_path / "t").iterdir()) == []


def test_overwrite_false_refuses_and_true_replaces(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    (target / "out.bin").write_bytes(b"old")
    console = Console(b"new")
    send_file(tmp_path / "state", frame(target, b"new", task_id="fr-a"), console)
    [refused] = console.results()
    assert (refused.status, refused.error_code, refused.error_info) == (
        "Failed",
        "FileAlreadyExists",
        f"File already exists: {target / 'out.bin'}",
    )
    assert (target / "out.bin").read_bytes() == b"old"
    console = Console(b"new")
    send_file(tmp_path / "state", frame(target, b"new", task_id="fr-b", overwrite=True), console)
    assert console.results()[0].status == "Success"
    assert (target / "out.bin").read_bytes() == b"new"
    assert temps(target) == []


def test_a_symlink_at_the_target_path_is_never_followed(tmp_path):
    """Nothing is written outside the target dir: a link at the target path is refused, or replaced by the
    file itself, never written through."""
    outside = tmp_path / "outside.conf"
    outside.write_bytes(b"precious")
    target = tmp_path / "t"
    target.mkdir()
    (target / "out.bin").symlink_to(outside)
    console = Console(b"new")
    send_file(tmp_path / "state", frame(target, b"new", task_id="fr-a"), console)
    assert console.results()[0].error_code == "FileAlreadyExists"  # a dangling link would count too
    console = Console(b"new")
    send_file(tmp_path / "state", frame(target, b"new", task_id="fr-b", overwrite=True), console)
    assert console.results()[0].status == "Success"
    assert not (target / "out.bin").is_symlink() and (target / "out.bin").read_bytes() == b"new"
    assert outside.read_bytes() == b"precious"
    # A link named like the temporary file is not written through either.
    (target / files.temp_name("fr-c")).symlink_to(outside)
    console = Console(b"newer")
    send_file(tmp_path / "state", frame(target, b"newer", task_id="fr-c", overwrite=True), console)
    assert (console.results()[0].status, console.results()[0].error_code) == ("Failed", "FileCreateFail")
    assert outside.read_bytes() == b"precious"


def test_a_file_that_appears_during_the_transfer_is_not_clobbered(tmp_path):
    content = os.urandom(2 * files.READ_SIZE)
    target = tmp_path / "t"
    console = Console(content)

    async def go():
        transfers = files.FileTransfers(tmp_path / "state", console)
        transfers.recover()
        transfers.on_send(frame(target, content))
        console.serve(transfers, limit=1)
        (target / "out.bin").write_bytes(b"someone else's")
        console.serve(transfers)

    run(go)
    assert console.results()[0].error_code == "FileAlreadyExists"
    assert (target / "out.bin").read_bytes() == b"someone else's"
    assert temps(target) == []


REFUSALS = [
    ({"name": "a/b"}, "FileNameInvalid", "File name is invalid"),
    ({"name": ".."}, "FileNameInvalid", "File name is invalid"),
    ({"name": "a\\b"}, "FileNameInvalid", "File name is invalid"),
    ({"target_dir": "relative"}, "FilePathInvalid", "File path is invalid"),
    ({"target_dir": "/tmp/../etc"}, "FilePathInvalid", "File path is invalid"),
    ({"mode": "999"}, "FileAuthorityInvalid", "Mode is invalid"),
    ({"mode": "u+x"}, "FileAuthorityInvalid", "Mode is invalid"),
    ({"owner": "no-such-user-x"}, "UserGroupNotExists", "Owner not exists"),
    ({"group": "no-such-group-x"}, "UserGroupNotExists", "Group not exists"),
]


@pytest.mark.parametrize(("changes", "code", "info"), REFUSALS, ids=[c for _, c, _ in REFUSALS])
def test_the_agent_checks_again_and_writes_nothing(tmp_path, changes, code, info):
    console = Console(b"x")
    target = tmp_path / "t"
    send_file(tmp_path / "state", frame(target, b"x", **changes), console)
    [result] = console.results()
    assert (result.status, result.error_code) == ("Invalid", code)  # the request, not the disk, is wrong
    assert info in result.error_info
    assert not (target / "out.bin").exists() and temps(target) == []
    assert console.reads() == []


def test_a_target_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    console = Console(b"x")
    send_file(tmp_path / "state", frame(tmp_path / "file", b"x"), console)
    [result] = console.results()
    assert (result.status, result.error_code) == ("Failed", "FilePathInvalid")  # the file cannot be created


@pytest.mark.skipif(not IS_ROOT, reason="chown needs root")
def test_owner_and_group_are_applied_as_root(tmp_path):
    console = Console(b"x")
    send_file(
        tmp_path / "state", frame(tmp_path / "t", b"x", owner="nobody", group="nogroup", mode="4755"), console
    )
    assert console.results()[0].status == "Success"
    info = (tmp_path / "t" / "out.bin").stat()
    assert (info.st_uid, info.st_gid) == (pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    assert stat.S_IMODE(info.st_mode) == 0o4755  # set-id bits survive: chmod comes after chown


def test_without_root_another_owner_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(files.os, "geteuid", lambda: 54321)
    monkeypatch.setattr(files.os, "getegid", lambda: 54321)
    monkeypatch.setattr(files.os, "getgroups", lambda: [54321])
    console = Console(b"x")
    send_file(tmp_path / "state", frame(tmp_path / "t", b"x", owner="root"), console)
    [result] = console.results()
    assert (result.status, result.error_code) == ("Invalid", "FileAuthorityInvalid")
    assert not (tmp_path / "t" / "out.bin").exists()


def test_a_redelivered_send_gets_the_same_result_and_never_runs_twice(tmp_path):
    state, target = tmp_path / "state", tmp_path / "t"
    console = Console(b"x")

    async def go():
        transfers = files.FileTransfers(state, console)
        transfers.recover()
        transfers.on_send(frame(target, b"x"))
        console.serve(transfers)
        transfers.on_send(frame(target, b"x"))  # re-delivered before the ack
        assert [r.status for r in console.results()] == ["Success", "Success"]  # not FileAlreadyExists
        assert transfers.on_ack("fr-1")
        transfers.on_send(frame(target, b"x"))  # re-delivered after the ack: ignored
        assert len(console.results()) == 2
        assert not transfers.on_ack("t-not-a-file-task")

    run(go)


def test_spooled_results_are_sent_again_after_a_reconnect(tmp_path):
    state = tmp_path / "state"
    console = Console(b"x")
    send_file(state, frame(tmp_path / "t", b"x"), console)
    again = Console(b"")

    async def go():
        transfers = files.FileTransfers(state, again)
        transfers.recover()
        transfers.on_connected()

    run(go)
    assert [r.task_id for r in again.results()] == ["fr-1"]


def test_a_killed_agent_leaves_only_its_temp_file_which_the_next_start_removes(tmp_path):
    state, target = tmp_path / "state", tmp_path / "t"
    content = os.urandom(3 * files.READ_SIZE)
    console = Console(content)
    send_file(state, frame(target, content), console, limit=1)  # the process "dies" mid-transfer
    assert temps(target) and not (target / "out.bin").exists()
    after = Console(b"")

    async def go():
        transfers = files.FileTransfers(state, after)
        transfers.recover()
        transfers.on_connected()

    run(go)
    [result] = after.results()
    assert (result.status, result.error_code) == ("Failed", "FileCreateFail")
    assert temps(target) == [] and not (target / "out.bin").exists()


def test_a_kill_after_the_file_was_placed_reports_success(tmp_path):
    state, target = tmp_path / "state", tmp_path / "t"
    console = Console(b"done")
    send_file(state, frame(target, b"done"), console)
    os.unlink(state / "files" / "spool" / "fr-1" / "result.json")  # died before writing its result
    after = Console(b"")

    async def go():
        transfers = files.FileTransfers(state, after)
        transfers.recover()
        transfers.on_connected()

    run(go)
    assert after.results()[0].status == "Success"


def test_a_transfer_that_stalls_times_out_and_leaves_nothing(tmp_path):
    target = tmp_path / "t"
    console = Console(b"never served")

    async def go():
        transfers = files.FileTransfers(tmp_path / "state", console)
        transfers.recover()
        transfers.on_send(frame(target, b"never served", timeout=0.2))
        await asyncio.sleep(0.5)

    run(go)
    [result] = console.results()
    assert (result.status, result.error_code) == ("Timeout", "ExecutionTimeout")
    assert temps(target) == [] and not (target / "out.bin").exists()


def test_an_abort_from_the_console_ends_the_transfer(tmp_path):
    target = tmp_path / "t"
    console = Console(b"abc")

    async def go():
        transfers = files.FileTransfers(tmp_path / "state", console)
        transfers.recover()
        transfers.on_send(frame(target, b"abc"))
        transfers.on_abort(protocol.FileAbort(task_id="fr-1", reason="The file is no longer on the server."))

    run(go)
    [result] = console.results()
    assert (result.status, result.error_code) == ("Failed", "FileCreateFail")
    assert "no longer on the server" in result.error_info
    assert temps(target) == []


def test_a_reconnect_asks_again_for_the_chunks_in_flight(tmp_path):
    content = os.urandom(2 * files.READ_SIZE + 1)
    console = Console(content)
    target = tmp_path / "t"

    async def go():
        transfers = files.FileTransfers(tmp_path / "state", console)
        transfers.recover()
        transfers.on_send(frame(target, content))
        asked = len(console.reads())
        console.served = asked  # the connection dropped: these reads are lost
        transfers.on_connected()
        assert [r.offset for r in console.reads()[asked:]] == [0, files.READ_SIZE, 2 * files.READ_SIZE]
        console.serve(transfers)

    run(go)
    assert console.results()[0].status == "Success"
    assert (target / "out.bin").read_bytes() == content


def test_a_stopping_agent_drops_its_temp_file_and_reports_the_interruption_at_the_next_start(tmp_path):
    state, target = tmp_path / "state", tmp_path / "t"
    content = os.urandom(2 * files.READ_SIZE)
    console = Console(content)

    async def go():
        transfers = files.FileTransfers(state, console)
        transfers.recover()
        transfers.on_send(frame(target, content))
        console.serve(transfers, limit=1)
        assert temps(target)
        transfers.stop()  # SIGTERM
        assert temps(target) == [] and transfers.active == {}

    run(go)
    assert console.results() == []
    after = Console(b"")

    async def again():
        transfers = files.FileTransfers(state, after)
        transfers.recover()
        transfers.on_connected()

    run(again)
    assert after.results()[0].error_code == "FileCreateFail"
    assert not (target / "out.bin").exists()
