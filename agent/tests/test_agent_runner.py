"""The real agent process against a fake console: run, stream, timeout, stop, cut, re-delivery."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import pytest
from agent_testkit import INSTANCE_ID, SECRET, AgentProcess, FakeConsole, alive, group_members, run_task
from assist_agent import protocol
from assist_agent.protocol import TaskAck, TaskOutput, TaskResend, TaskResult, TaskStarted, TaskStop
from assist_agent.runner import RESULT_FORCE_AFTER
from assist_agent.store import Store


def test_hello_run_stream_result_ack(console_test) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        hello = console.hellos[0]
        assert (hello.instance_id, hello.secret, hello.protocol) == (
            INSTANCE_ID,
            SECRET,
            protocol.PROTOCOL_VERSION,
        )
        assert hello.os_type == "Linux" and hello.hostname and hello.held_tasks == ()
        assert hello.boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()

        await console.send(run_task("t-1", "echo hello; echo err >&2; sleep 0.3; exit 3"))
        started = await console.expect(TaskStarted, "t-1")
        assert abs(started.started_at - time.time()) < 5
        output, result = await console.collect_task("t-1")
        assert output == b"hello\nerr\n"
        assert (result.status, result.exit_code, result.error_code) == ("Failed", 3, "ExitCodeNonzero")
        assert result.started_at == started.started_at <= result.finished_at
        spool = agent.state_dir / "spool" / "t-1"
        assert (spool / "result.json").exists()
        assert Store(agent.state_dir).journaled("t-1")

        await console.send(TaskAck("t-1"))
        for _ in range(200):  # up to 10 s: the whole suite may be loading the machine
            if not spool.exists() and not (agent.state_dir / "work" / "t-1").exists():
                break
            await asyncio.sleep(0.05)
        assert not spool.exists()
        assert not (agent.state_dir / "work" / "t-1").exists()
        assert Store(agent.state_dir).journaled("t-1")

    console_test(body)


def test_a_quick_task_reports_output_and_result_without_started(console_test) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        await console.send(run_task("t-quick", "echo hi"))
        output, result = await console.collect_task("t-quick")
        assert output == b"hi\n" and result.status == "Success"
        assert result.started_at is not None and result.started_at <= result.finished_at
        late = await console.quiet(0.3)  # past the started delay: no task.started may follow
        assert not any(isinstance(f, TaskStarted) for f in [*console.seen, *late])

    console_test(body)


def test_a_result_is_forced_to_disk_only_when_its_ack_is_late(console_test) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        await console.send(run_task("t-acked", "echo one"))
        await console.collect_task("t-acked")
        await console.send(TaskAck("t-acked"))
        await console.send(run_task("t-late", "echo two"))
        output, result = await console.collect_task("t-late")
        assert output == b"two\n" and result.status == "Success"
        spooled = protocol.decode((agent.state_dir / "spool" / "t-late" / "result.json").read_bytes())
        assert spooled == result  # on disk (page cache) before the ack, whatever happens to the agent
        await console.quiet(RESULT_FORCE_AFTER + 1.0)
        forced = re.findall(r"task (\S+): not acknowledged after [\d.]+ s: spool forced to disk", agent.log())
        assert forced == ["t-late"]

    console_test(body)


def test_output_is_live_and_heartbeats_flow(console_test) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        await console.send(run_task("t-live", "echo first; sleep 1.5; echo second"))
        started = await console.expect(TaskStarted, "t-live")
        first = await console.expect(TaskOutput, "t-live", timeout=1.0)
        assert first.seq == 1 and first.data == b"first\n"
        assert time.time() - started.started_at < 1.0
        assert not any(isinstance(f, TaskResult) for f in console.seen)
        await console.expect(protocol.Heartbeat, timeout=3)
        _, result = await console.collect_task("t-live")
        assert result.status == "Success" and result.exit_code == 0 and result.last_seq == 2

    console_test(body, heartbeat_interval=1.0)


def test_timeout_kills_the_whole_process_group(console_test) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        script = 'sleep 30 & echo "bg $!"; echo "sh $$"; sleep 30'
        await console.send(run_task("t-slow", script, timeout=1))
        output, result = await console.collect_task("t-slow", timeout=8)
        assert (result.status, result.error_code) == ("Timeout", "ExecutionTimeout")
        assert result.finished_at - result.started_at < 4
        pids = {k: int(v) for k, v in re.findall(rb"(bg|sh) (\d+)", output)}
        assert set(pids) == {b"bg", b"sh"}
        for _ in range(40):
            if not any(alive(pid) for pid in pids.values()) and not group_members(pids[b"sh"]):
                break
            await asyncio.sleep(0.05)
        assert not any(alive(pid) for pid in pids.values())
        assert group_members(pids[b"sh"]) == []  # the foreground sleep is gone too

    console_test(body)


def test_stop_terminates_and_concurrent_tasks_are_independent(console_test) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        await console.send(run_task("t-a", "echo a; sleep 30"))
        await console.send(run_task("t-b", "sleep 0.5; echo b"))
        await console.expect(TaskOutput, "t-a")
        await console.send(TaskStop("t-a"))
        result_a = await console.expect(TaskResult, "t-a", timeout=4)
        assert (result_a.status, result_a.error_code) == ("Terminated", "ExecutionInterrupted")
        result_b = await console.expect(TaskResult, "t-b", timeout=4)
        assert (result_b.status, result_b.exit_code) == ("Success", 0)

    console_test(body)


def test_refusals_become_results(console_test, tmp_path: Path) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        await console.send(run_task("t-dir", "pwd", working_dir=str(tmp_path / "nope")))
        result = await console.expect(TaskResult, "t-dir")
        assert (result.status, result.error_code, result.exit_code) == ("Failed", "DirectoryNotExists", None)
        assert result.started_at is None and result.last_seq == 0

        await console.send(run_task("t-user", "id", username="no-such-user-xyz"))
        result = await console.expect(TaskResult, "t-user")
        assert (result.status, result.error_code) == ("Error", "AccountNotExists")
        assert "no-such-user-xyz" in result.error_info

        await console.send(protocol.TaskRun("t-ps", "RunPowerShellScript", "dir", "", "", 10))
        result = await console.expect(TaskResult, "t-ps")
        assert (result.status, result.error_code) == ("Error", "CommandNotApplicable")

        await console.send(run_task("t-cwd", "pwd", working_dir=str(tmp_path)))
        output, result = await console.collect_task("t-cwd")
        assert (result.status, output) == ("Success", f"{tmp_path}\n".encode())

    console_test(body)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_runs_as_another_user_when_root(console_test) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        await console.send(
            run_task("t-nobody", "id -un; echo $HOME; pwd", username="nobody", working_dir="/")
        )
        output, result = await console.collect_task("t-nobody")
        assert result.status == "Success", output
        assert output.splitlines()[0] == b"nobody"

    console_test(body)


def test_redelivered_task_runs_once(console_test, tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        task = run_task("t-once", f"echo run >> {marker}; echo done")
        await console.send(task)
        await console.send(task)  # re-delivered while running: ignored
        _, first = await console.collect_task("t-once")
        await console.send(task)  # re-delivered with the result spooled: the result again
        again = await console.expect(TaskResult, "t-once")
        assert again == first
        await console.send(TaskAck("t-once"))
        await asyncio.sleep(0.3)
        await console.send(task)  # re-delivered after the ack: ignored
        assert await console.quiet(0.5) == []
        assert marker.read_text() == "run\n"

    console_test(body)


@pytest.mark.parametrize("console_protocol", [3, 4])
def test_cut_then_reconnect_resends_result_and_chunks(console_test, console_protocol: int) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        await console.send(run_task("t-cut", "echo hello"))
        output, result = await console.collect_task("t-cut")
        assert output == b"hello\n"
        port = console.port
        await console.stop()  # cut before the ack
        await asyncio.sleep(0.3)
        await console.start(port)
        await console.wait_connected(5)
        assert console.hellos[-1].held_tasks == ("t-cut",)
        again = await console.expect(TaskResult, "t-cut")
        assert again == result
        await console.send(TaskResend("t-cut", (1,)))
        chunk = await console.expect(TaskOutput, "t-cut")
        assert (chunk.seq, chunk.data) == (1, b"hello\n")
        assert await console.expect(TaskResult, "t-cut") == result
        await console.send(TaskAck("t-cut"))
        await asyncio.sleep(0.3)
        assert not (agent.state_dir / "spool" / "t-cut").exists()
        # both chunks (the live one and the resent one) were binary messages for a console of protocol 4
        assert console.binary_messages == (2 if console_protocol >= 4 else 0)

    console_test(body, console_protocol=console_protocol)


def test_bad_frames_from_the_console_are_ignored(console_test) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        for bad in [
            "not json",
            b"\x00\xff binary",
            "[]",
            '{"type":"task.explode"}',
            '{"type":"task.run","task_id":"t-x"}',
            '{"type":"task.run","task_id":"../../etc","command_type":"RunShellScript","content":"id",'
            '"working_dir":"","username":"","timeout":5}',
            '{"type":"heartbeat"}',
            '{"type":"task.ack","task_id":"unknown"}',
            '{"type":"task.resend","task_id":"unknown","seqs":[1]}',
            '{"type":"task.stop","task_id":"unknown"}',
            protocol.encode(protocol.Error("InvalidField", "test", "heartbeat")),
        ]:
            await console.send(bad)
        await console.send(run_task("t-ok", "echo ok"))
        output, result = await console.collect_task("t-ok")
        assert (output, result.status) == (b"ok\n", "Success")
        assert agent.proc is not None and agent.proc.poll() is None
        assert console.hellos[1:] == []  # same connection throughout
        assert "ignoring a bad frame" in agent.log()

    console_test(body)


def test_agent_restart_reports_interrupted_tasks(console_test) -> None:
    async def body_restart(console: FakeConsole, agent: AgentProcess) -> None:
        await console.send(run_task("t-killed", 'echo "sh $$"; sleep 30'))
        chunk = await console.expect(TaskOutput, "t-killed")
        shell = int(chunk.data.split()[1])
        agent.signal(signal.SIGKILL)  # the agent dies; its task's shell lives on
        assert alive(shell)
        hellos = len(console.hellos)
        agent.start()
        for _ in range(100):
            if len(console.hellos) > hellos:
                break
            await asyncio.sleep(0.05)
        assert console.hellos[-1].held_tasks == ("t-killed",)
        result = await console.expect(TaskResult, "t-killed")
        assert (result.status, result.error_code) == ("Error", "ExecutionInterrupted")
        assert "restarted" in result.error_info and result.last_seq == 1
        assert not alive(shell)

        await console.send(run_task("t-term", "sleep 30"))
        await console.expect(TaskStarted, "t-term")
        # A fast stop (SIGINT; SIGTERM drains, test_agent_drain.py) while the console keeps serving: the task
        # is reported as interrupted.
        assert await asyncio.to_thread(agent.signal, signal.SIGINT) == 0
        stopped = await console.expect(TaskResult, "t-term")
        spooled = (agent.state_dir / "spool" / "t-term" / "result.json").read_text()
        result = protocol.decode(spooled)
        assert isinstance(result, TaskResult)
        assert result == stopped
        assert (result.status, result.error_code) == ("Error", "ExecutionInterrupted")
        assert "stopped" in result.error_info

    console_test(body_restart)


@pytest.mark.parametrize("console_protocol", [3, 4])
def test_output_faster_than_the_console_reads_arrives_once_in_order_before_its_result(
    console_test, console_protocol: int
) -> None:
    """A task prints 40 MB while the console does not read: the agent queues at most its outbox limit and
    leaves the rest in the spool, then sends it from there once the console reads again, in order and
    before the result, so the console never has to ask for a chunk again (task.resend)."""
    size = 40_000_000

    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        console.reading.clear()
        await console.send(run_task("t-fast", f"head -c {size} /dev/zero | tr '\\0' 'x'", timeout=60))
        result_file = agent.state_dir / "spool" / "t-fast" / "result.json"
        for _ in range(600):  # the task ends while the console still does not read
            if result_file.exists():
                break
            await asyncio.sleep(0.05)
        assert result_file.exists()
        console.reading.set()
        result = await console.expect(TaskResult, "t-fast", timeout=60)
        assert result.status == "Success"
        outputs = [f for f in console.seen if isinstance(f, TaskOutput) and f.task_id == "t-fast"]
        assert [f.seq for f in outputs] == list(range(1, result.last_seq + 1))  # once each, in order
        assert sum(len(f.data) for f in outputs) == size
        assert console.seen.index(result) > console.seen.index(outputs[-1])  # the result after its output
        # live and caught up from the spool alike: binary for a console of protocol 4, text before
        assert console.binary_messages == (len(outputs) if console_protocol >= 4 else 0)

    console_test(body, console_protocol=console_protocol)
