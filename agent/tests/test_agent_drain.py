"""Stopping the agent does not kill running commands (issue 9): SIGTERM drains, SIGINT or a second SIGTERM
stops at once. The real agent process against the fake console."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from agent_testkit import AgentProcess, FakeConsole, run_task
from assist_agent.protocol import TaskOutput, TaskResult, TaskStarted
from assist_agent.store import Store


async def exited(agent: AgentProcess, timeout: float) -> int | None:
    """The agent's exit code once it has ended, or None if it still runs after ``timeout`` seconds."""
    assert agent.proc is not None
    deadline = asyncio.get_running_loop().time() + timeout
    while agent.proc.poll() is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return agent.proc.poll()


def test_sigterm_lets_a_running_command_finish_and_takes_no_new_task(console_test) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        await console.send(run_task("t-drain", "echo start; sleep 3; echo done"))
        await console.expect(TaskOutput, "t-drain", timeout=10)
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGTERM)
        for _ in range(200):  # the agent logs the drain once it has started it
            if "stopping once 1 running task(s) end" in agent.log():
                break
            await asyncio.sleep(0.05)
        assert agent.proc.poll() is None, "SIGTERM must not end the agent while a command runs"

        await console.send(run_task("t-late", "echo should-not-run"))
        output, result = await console.collect_task("t-drain", timeout=20)
        assert (result.status, result.exit_code, result.error_code) == ("Success", 0, "")
        assert output == b"start\ndone\n"
        assert await exited(agent, 20) == 0

        late = [f for f in console.seen if getattr(f, "task_id", None) == "t-late"]
        assert late == [], late
        assert not Store(agent.state_dir).journaled("t-late")  # delivered again after the restart
        assert "task t-late arrived while the agent is stopping" in agent.log()

    console_test(body)


def test_second_sigterm_stops_the_running_command(console_test) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        await console.send(run_task("t-long", "sleep 60"))
        await console.expect(TaskStarted, "t-long", timeout=10)
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGTERM)
        for _ in range(200):
            if "stopping once" in agent.log():
                break
            await asyncio.sleep(0.05)
        assert agent.proc.poll() is None
        agent.proc.send_signal(signal.SIGTERM)
        result = await console.expect(TaskResult, "t-long", timeout=15)
        assert (result.status, result.error_code) == ("Error", "ExecutionInterrupted")
        assert await exited(agent, 15) == 0

    console_test(body)


def test_sigterm_of_an_idle_agent_exits_at_once(console_test) -> None:
    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGTERM)
        assert await exited(agent, 10) == 0
        assert "stopping once" not in agent.log()

    console_test(body)


def test_the_supervisor_drains_the_same_way(tmp_path: Path) -> None:
    """``assist-agent supervise`` passes SIGTERM on: the running command finishes and reports, then the
    agent and the supervisor exit 0."""

    async def main() -> None:
        console = FakeConsole()
        await console.start()
        agent = AgentProcess(tmp_path / "state", tmp_path / "agent.log")
        agent.register(console.port)
        log = open(tmp_path / "supervise.log", "wb")  # noqa: SIM115 - closed below
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "assist_agent", "--state-dir", str(agent.state_dir), "supervise"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            await console.wait_connected(20)
            await console.send(run_task("t-sup", "echo start; sleep 3; echo done"))
            await console.expect(TaskOutput, "t-sup", timeout=10)
            supervisor.send_signal(signal.SIGTERM)
            output, result = await console.collect_task("t-sup", timeout=20)
            assert (result.status, output) == ("Success", b"start\ndone\n")
            assert await asyncio.to_thread(supervisor.wait, 20) == 0
            assert (
                "the agent stopped (exit code 0); supervisor exiting"
                in (tmp_path / "supervise.log").read_text()
            )
        finally:
            if supervisor.poll() is None:
                os.killpg(supervisor.pid, signal.SIGKILL)
                supervisor.wait()
            log.close()
            print((tmp_path / "supervise.log").read_text())
            await console.stop()

    asyncio.run(main())
