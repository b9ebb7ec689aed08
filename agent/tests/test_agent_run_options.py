"""Run options with a real agent process and the fake console: TerminationMode (Process kills the script's
shell only, ProcessTree its whole group), containers through a runtime CLI, and the power actions of exit
codes 193/194.

The container runtime is faked by small `docker`/`crictl` shell scripts first on the agent's PATH: they
record their argv and run the script with the local `sh` for the known container, and fail as the real
CLIs do for any other. The power action is a configured recorder command that writes a file.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_testkit import AgentProcess, FakeConsole, alive, group_members
from assist_agent import protocol
from assist_agent.protocol import TaskAck, TaskResult, TaskRun, TaskStop

CONTAINER_ID = "4f" * 32
STOPPED_ID = "5e" * 32


class OptionsAgent(AgentProcess):
    """The agent with a chosen PATH, extra environment and extra `run` arguments."""

    def __init__(self, state_dir: Path, log_path: Path, env: dict[str, str], args: list[str]) -> None:
        super().__init__(state_dir, log_path)
        self.env = env
        self.args = args

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.update(self.env)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assist_agent.cli", "run", "--state-dir", str(self.state_dir),
             "--log-level", "DEBUG", "--reconnect-initial", "0.2", "--reconnect-max", "0.5", *self.args],
            stdout=log, stderr=log, env=env,
        )  # fmt: skip
        log.close()


def run_with(console_agent: OptionsAgent, body, *, port: int = 0) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        console = FakeConsole()
        await console.start(port)
        console_agent.register(console.port)
        console_agent.start()
        try:
            await console.wait_connected(15)
            await body(console, console_agent)
        finally:
            if console._server is not None:
                console._server.close()

    try:
        asyncio.run(main())
    finally:
        console_agent.stop()
        print(console_agent.log())


def task(task_id: str, content: str, **options: object) -> TaskRun:
    fields: dict[str, object] = {"working_dir": "", "username": "", "timeout": 10.0, **options}
    return TaskRun(task_id, str(fields.pop("command_type", "RunShellScript")), content, **fields)  # type: ignore[arg-type]


async def wait_until(check, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.05)
    return bool(check())


# --- TerminationMode ---------------------------------------------------------------------------------------

SCRIPT = 'sleep 60 & echo "bg $!"; echo "sh $$"; sleep 60'


def _pids(output: bytes) -> dict[bytes, int]:
    pids = {k: int(v) for k, v in re.findall(rb"(bg|sh) (\d+)", output)}
    assert set(pids) == {b"bg", b"sh"}, output
    return pids


@pytest.mark.parametrize("how", ["timeout", "stop"])
def test_process_tree_leaves_nothing_behind(tmp_path: Path, how: str) -> None:
    agent = OptionsAgent(tmp_path / "state", tmp_path / "agent.log", {}, [])

    async def body(console: FakeConsole, agent: OptionsAgent) -> None:
        await console.send(
            task("t-tree", SCRIPT, timeout=1.5 if how == "timeout" else 30, termination_mode="ProcessTree")
        )
        if how == "stop":
            await console.expect(protocol.TaskOutput, "t-tree")
            await console.send(TaskStop("t-tree"))
        output, result = await console.collect_task("t-tree", timeout=15)
        assert result.status == ("Timeout" if how == "timeout" else "Terminated")
        pids = _pids(output)
        assert await wait_until(lambda: not group_members(pids[b"sh"]))
        assert not any(alive(pid) for pid in pids.values())

    run_with(agent, body)


@pytest.mark.parametrize("how", ["timeout", "stop"])
def test_process_kills_the_script_only(tmp_path: Path, how: str) -> None:
    agent = OptionsAgent(tmp_path / "state", tmp_path / "agent.log", {}, [])
    survivors: list[int] = []

    async def body(console: FakeConsole, agent: OptionsAgent) -> None:
        await console.send(
            task("t-proc", SCRIPT, timeout=1.5 if how == "timeout" else 30, termination_mode="Process")
        )
        if how == "stop":
            await console.expect(protocol.TaskOutput, "t-proc")
            await console.send(TaskStop("t-proc"))
        output, result = await console.collect_task("t-proc", timeout=15)
        pids = _pids(output)
        survivors.append(pids[b"sh"])  # the group's id, for the cleanup
        if how == "timeout":
            assert (result.status, result.error_code) == ("Timeout", "ExecutionTimeout")
        else:
            assert (result.status, result.error_code) == ("Terminated", "ExecutionInterrupted")
        assert result.exit_code == 128 + signal.SIGTERM  # the shell died of the SIGTERM, not a SIGKILL
        assert await wait_until(lambda: not alive(pids[b"sh"]))
        assert alive(pids[b"bg"])  # the grandchild survives
        assert group_members(pids[b"sh"])  # and so does the foreground sleep of the script

    try:
        run_with(agent, body)
    finally:
        for pgid in survivors:
            with_suppress_kill(pgid)


def with_suppress_kill(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_after_an_agent_crash_a_process_task_loses_its_shell_only(tmp_path: Path) -> None:
    agent = OptionsAgent(tmp_path / "state", tmp_path / "agent.log", {}, [])
    survivors: list[int] = []

    async def body(console: FakeConsole, agent: OptionsAgent) -> None:
        await console.send(task("t-crash", SCRIPT, timeout=60, termination_mode="Process"))
        output = b""
        while b"sh " not in output:
            output += (await console.expect(protocol.TaskOutput, "t-crash")).data
        pids = _pids(output)
        survivors.append(pids[b"sh"])
        agent.signal(signal.SIGKILL)  # the agent dies; its task lives on
        assert alive(pids[b"sh"])
        console.connected.clear()
        agent.start()
        result = await console.expect(TaskResult, "t-crash", timeout=15)
        assert (result.status, result.error_code) == ("Error", "ExecutionInterrupted")
        assert await wait_until(lambda: not alive(pids[b"sh"]))
        assert alive(pids[b"bg"])  # Process: the restarted agent kills the shell only

    try:
        run_with(agent, body)
    finally:
        for pgid in survivors:
            with_suppress_kill(pgid)


# --- containers --------------------------------------------------------------------------------------------

FAKE_DOCKER = f"""#!/bin/sh
# A stand-in for the docker CLI: records its argv, knows one running and one stopped container.
printf '%s\\n' "$*" >> "$FAKE_LOG"
ref=""
case "$1" in
  inspect) eval "ref=\\${{$#}}"
    case "$ref" in
      {CONTAINER_ID}|web) echo "running /web"; exit 0 ;;
      {STOPPED_ID}) echo "exited /old"; exit 0 ;;
      *) echo "Error: No such container: $ref" >&2; echo "[]"; exit 1 ;;
    esac ;;
  exec) ref="$3"
    case "$ref" in
      {CONTAINER_ID}|web) shift 3; IN_FAKE_CONTAINER=web "$@"; exit $? ;;  # a child, as a real client waits
      *) echo "Error response from daemon: No such container: $ref" >&2; exit 1 ;;
    esac ;;
esac
echo "fake docker: unexpected $*" >&2; exit 125
"""

FAKE_CRICTL = f"""#!/bin/sh
# A stand-in for crictl: one running container named web, two named twin.
printf '%s\\n' "$*" >> "$FAKE_LOG"
case "$1" in
  ps) eval "name=\\${{$#}}"
    case "$name" in
      '^web$') echo {CONTAINER_ID} ;;
      '^twin$') echo aaa; echo bbb ;;
    esac; exit 0 ;;
  inspect) eval "ref=\\${{$#}}"
    if [ "$ref" = {CONTAINER_ID} ]; then echo "CONTAINER_RUNNING web"; exit 0; fi
    echo "getting the status of the container $ref: rpc error: code = NotFound desc = not found" >&2
    exit 1 ;;
  exec) ref="$3"; shift 3; export IN_FAKE_CONTAINER=cri; exec "$@" ;;
esac
exit 1
"""


def _bin(tmp_path: Path, **tools: str) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir(exist_ok=True)
    for name, text in tools.items():
        path = directory / name
        path.write_text(text)
        path.chmod(0o755)
    return directory


def test_docker_runs_the_script_in_the_container_and_names_every_refusal(tmp_path: Path) -> None:
    log = tmp_path / "docker.argv"
    path = f"{_bin(tmp_path, docker=FAKE_DOCKER)}:/usr/bin:/bin"
    agent = OptionsAgent(tmp_path / "state", tmp_path / "agent.log", {"PATH": path, "FAKE_LOG": str(log)}, [])

    async def body(console: FakeConsole, agent: OptionsAgent) -> None:
        # Username and WorkingDir do not apply in a container (a missing dir is no error there).
        script = 'echo "in $IN_FAKE_CONTAINER"; read -r line || echo "stdin ends"; exit 3'
        await console.send(
            task(
                "t-c1",
                script,
                container_id="docker://" + CONTAINER_ID,
                working_dir="/nonexistent",
                termination_mode="Process",
            )
        )
        output, result = await console.collect_task("t-c1", timeout=15)
        assert output == b"in web\nstdin ends\n"
        assert (result.status, result.exit_code, result.error_code) == ("Failed", 3, "ExitCodeNonzero")
        calls = log.read_text().splitlines()
        assert calls[-1] == f"exec -i {CONTAINER_ID} sh -s"
        assert calls[-2].startswith("inspect --type container") and calls[-2].endswith(CONTAINER_ID)

        await console.send(task("t-c2", "echo by name", container_name="web"))
        output, result = await console.collect_task("t-c2", timeout=15)
        assert (output, result.status) == (b"by name\n", "Success")
        assert log.read_text().splitlines()[-1] == "exec -i web sh -s"

        refusals = {
            "t-c3": (
                {"container_id": "ab" * 32},
                "ContainerNotFound",
                "The specified container does not exist",
            ),
            "t-c4": ({"container_id": STOPPED_ID}, "ContainerStateAbnormal", "Current state is exited"),
            "t-c5": (
                {"container_id": CONTAINER_ID, "container_name": "db"},
                "ContainerNameAndIdNotMatch",
                "not db",
            ),
            "t-c6": ({"container_id": "podman://" + CONTAINER_ID}, "UnsupportedContainerRuntime", "podman"),
            "t-c7": ({"container_id": "docker://nothex!"}, "InvalidContainerId", "nothex!"),
            "t-c8": (
                {"container_name": "web", "command_type": "RunBatScript"},
                "CommandNotApplicable",
                "Linux",
            ),
            "t-c9": ({"container_id": "containerd://" + CONTAINER_ID}, "ContainerConnectFailed", "crictl"),
        }
        for task_id, (options, code, info) in refusals.items():
            before = len(log.read_text().splitlines())
            await console.send(task(task_id, "echo never", **options))
            output, result = await console.collect_task(task_id, timeout=15)
            assert (result.status, result.error_code, output) == ("Error", code, b""), task_id
            assert info in result.error_info, (task_id, result.error_info)
            assert result.started_at is None
            assert not any(c.startswith("exec") for c in log.read_text().splitlines()[before:]), task_id

    run_with(agent, body)


def test_crictl_by_name_and_without_any_runtime(tmp_path: Path) -> None:
    log = tmp_path / "crictl.argv"
    path = f"{_bin(tmp_path, crictl=FAKE_CRICTL)}:/usr/bin:/bin"  # no docker on this PATH: crictl is used
    agent = OptionsAgent(tmp_path / "state", tmp_path / "agent.log", {"PATH": path, "FAKE_LOG": str(log)}, [])

    async def body(console: FakeConsole, agent: OptionsAgent) -> None:
        await console.send(task("t-k1", 'echo "in $IN_FAKE_CONTAINER"', container_name="web"))
        output, result = await console.collect_task("t-k1", timeout=15)
        assert (output, result.status) == (b"in cri\n", "Success")
        assert log.read_text().splitlines() == [
            "ps --all --quiet --name ^web$",
            "inspect --output go-template --template {{.status.state}} {{.status.metadata.name}} "
            + CONTAINER_ID,
            f"exec -i {CONTAINER_ID} sh -s",
        ]
        for task_id, options, code in (
            ("t-k2", {"container_name": "twin"}, "ContainerNameDuplicated"),
            ("t-k3", {"container_name": "gone"}, "ContainerNotFound"),
            ("t-k4", {"container_id": "cri-o://" + "ab" * 32}, "ContainerNotFound"),
        ):
            await console.send(task(task_id, "echo never", **options))
            _, result = await console.collect_task(task_id, timeout=15)
            assert (result.status, result.error_code) == ("Error", code), task_id

    run_with(agent, body)


def test_after_an_agent_crash_the_container_task_is_killed(tmp_path: Path) -> None:
    path = f"{_bin(tmp_path, docker=FAKE_DOCKER)}:/usr/bin:/bin"
    env = {"PATH": path, "FAKE_LOG": str(tmp_path / "argv")}
    agent = OptionsAgent(tmp_path / "state", tmp_path / "agent.log", env, [])

    async def body(console: FakeConsole, agent: OptionsAgent) -> None:
        await console.send(task("t-cc", 'echo "sh $$"; sleep 60', timeout=60, container_name="web"))
        chunk = await console.expect(protocol.TaskOutput, "t-cc", timeout=15)
        shell = int(chunk.data.split()[1])  # the "container's" shell, a child of the runtime's client
        agent.signal(signal.SIGKILL)
        assert alive(shell)
        agent.start()
        result = await console.expect(TaskResult, "t-cc", timeout=15)
        assert (result.status, result.error_code) == ("Error", "ExecutionInterrupted")
        assert await wait_until(lambda: not alive(shell))

    run_with(agent, body)


def test_no_runtime_cli_is_container_connect_failed(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    agent = OptionsAgent(tmp_path / "state", tmp_path / "agent.log", {"PATH": f"{empty}:/usr/bin:/bin"}, [])

    async def body(console: FakeConsole, agent: OptionsAgent) -> None:
        await console.send(task("t-n1", "echo never", container_id=CONTAINER_ID))
        _, result = await console.collect_task("t-n1", timeout=15)
        assert (result.status, result.error_code) == ("Error", "ContainerConnectFailed")
        assert "docker or crictl is not installed" in result.error_info

    run_with(agent, body)


# --- power actions (exit codes 193 / 194) ------------------------------------------------------------


def _recorder(tmp_path: Path, action: str) -> str:
    record = tmp_path / "power.log"
    return f"sh -c 'echo {action} >> {record}'"


@pytest.mark.parametrize(("code", "action"), [(193, "poweroff"), (194, "reboot")])
def test_exit_code_runs_the_power_action_after_the_ack_and_never_again(
    tmp_path: Path, code: int, action: str
) -> None:
    record = tmp_path / "power.log"
    args = [f"--{action}-command", _recorder(tmp_path, action)]
    agent = OptionsAgent(tmp_path / "state", tmp_path / "agent.log", {"ASSIST_AGENT_BOOT_ID": "boot-1"}, args)

    async def body(console: FakeConsole, agent: OptionsAgent) -> None:
        await console.send(task("t-pw", f"echo bye; exit {code}"))
        output, result = await console.collect_task("t-pw", timeout=15)
        assert (output, result.exit_code, result.error_code) == (b"bye\n", code, "ExitCodeNonzero")
        await asyncio.sleep(0.5)
        assert not record.exists()  # the result is not acknowledged yet: the action waits (up to 10 s)
        await console.send(TaskAck("t-pw"))
        assert await wait_until(lambda: record.exists(), 10)
        assert record.read_text() == f"{action}\n"
        assert agent.proc is not None
        assert await asyncio.to_thread(agent.proc.wait, 15) == code  # the agent stops: the machine goes down

        # "After the boot": the agent starts again; the console delivers the task again, it never reruns.
        agent.env["ASSIST_AGENT_BOOT_ID"] = "boot-2"
        console.connected.clear()
        agent.start()
        await console.wait_connected(15)
        assert console.hellos[-1].boot_id == "boot-2"
        await console.send(task("t-pw", f"echo bye; exit {code}"))
        assert [f for f in await console.quiet(1.5) if isinstance(f, TaskResult)] == []
        assert record.read_text() == f"{action}\n"
        assert agent.proc.poll() is None

    run_with(agent, body)


def test_an_unacknowledged_result_is_durable_and_replayed_after_the_boot(tmp_path: Path) -> None:
    record = tmp_path / "power.log"
    env = {"ASSIST_AGENT_REBOOT_COMMAND": _recorder(tmp_path, "reboot"), "ASSIST_AGENT_BOOT_ID": "boot-1"}
    agent = OptionsAgent(tmp_path / "state", tmp_path / "agent.log", env, [])

    async def body(console: FakeConsole, agent: OptionsAgent) -> None:
        await console.send(task("t-rb", "exit 194"))
        first = await console.expect(TaskResult, "t-rb", timeout=15)
        # No ack: the action runs once the wait for it ends (10 s), the result stays spooled.
        assert await wait_until(lambda: record.exists(), 25)
        assert agent.proc is not None
        assert await asyncio.to_thread(agent.proc.wait, 15) == 194
        assert (agent.state_dir / "spool" / "t-rb" / "result.json").exists()

        agent.env["ASSIST_AGENT_BOOT_ID"] = "boot-2"
        agent.start()
        again = await console.expect(TaskResult, "t-rb", timeout=15)  # sent again after the welcome
        assert (again.exit_code, again.finished_at) == (194, first.finished_at)
        await console.send(TaskAck("t-rb"))
        await asyncio.sleep(1)
        assert record.read_text() == "reboot\n"  # once
        assert agent.proc.poll() is None

    run_with(agent, body)


def test_a_failing_power_command_keeps_the_agent_running(tmp_path: Path) -> None:
    args = ["--poweroff-command", "false"]
    agent = OptionsAgent(tmp_path / "state", tmp_path / "agent.log", {}, args)

    async def body(console: FakeConsole, agent: OptionsAgent) -> None:
        await console.send(task("t-f", "exit 193"))
        await console.expect(TaskResult, "t-f", timeout=15)
        await console.send(TaskAck("t-f"))
        assert await wait_until(lambda: "no power command worked" in agent.log(), 15)
        await console.send(task("t-g", "echo still here"))
        output, _ = await console.collect_task("t-g", timeout=15)
        assert output == b"still here\n"

    run_with(agent, body)


def test_a_container_exit_code_is_no_power_action(tmp_path: Path) -> None:
    record = tmp_path / "power.log"
    path = f"{_bin(tmp_path, docker=FAKE_DOCKER)}:/usr/bin:/bin"
    env = {
        "PATH": path,
        "FAKE_LOG": str(tmp_path / "argv"),
        "ASSIST_AGENT_POWEROFF_COMMAND": _recorder(tmp_path, "x"),
    }
    agent = OptionsAgent(tmp_path / "state", tmp_path / "agent.log", env, [])

    async def body(console: FakeConsole, agent: OptionsAgent) -> None:
        await console.send(task("t-cx", "exit 193", container_name="web"))
        result = await console.expect(TaskResult, "t-cx", timeout=15)
        assert result.exit_code == 193
        await console.send(TaskAck("t-cx"))
        await asyncio.sleep(1)
        assert not record.exists()
        assert agent.proc is not None and agent.proc.poll() is None

    run_with(agent, body)


def test_a_bad_power_command_is_refused_at_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "assist_agent.cli", "run", "--state-dir", str(state),
         "--reboot-command", "sh -c 'x"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--reboot-command is not a valid command line (No closing quotation)" in done.stderr
