"""Run options end to end: the embedded console (`manage.py serve`), real agents, the official SDK.

TerminationMode on a timeout (ProcessTree leaves no process behind, Process only kills the script's shell),
ContainerId/ContainerName through a stand-in `docker` CLI first on the agent's PATH (it fakes the external
runtime, not our system: it records its argv and runs the script locally for the one known container, and
fails like the real CLI for others), and exit code 194 with a recorder as the agent's reboot command: the
result reaches the console, the recorder runs once, the agent stops, and after a "reboot" (a new boot id)
the task never runs again.
"""

import base64
import os
import re
import signal
import sys
import time

import pytest
from alibabacloud_ecs20140526 import models

from tests.live import embedded_console, sdk_client, wait_until

pytestmark = pytest.mark.live
FAST = {"ASSIST_DELIVERY_TIMEOUT": "5", "ASSIST_TICK_SECONDS": "0.5"}
CONTAINER_ID = "7c" * 32

FAKE_DOCKER = f"""#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_DOCKER_LOG"
case "$1" in
  inspect) eval "ref=\\${{$#}}"
    if [ "$ref" = {CONTAINER_ID} ] || [ "$ref" = web ]; then echo "running /web"; exit 0; fi
    echo "Error: No such container: $ref" >&2; echo "[]"; exit 1 ;;
  exec)
    if [ "$3" = {CONTAINER_ID} ] || [ "$3" = web ]; then shift 3; IN_CONTAINER=web exec "$@"; fi
    echo "Error response from daemon: No such container: $3" >&2; exit 1 ;;
esac
exit 125
"""


@pytest.fixture
def embedded(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env=FAST)
    yield console
    procs.stop_all()


def start_agent(console, name, env):
    state = console.procs.workdir / "agents" / name
    argv = [sys.executable, "-m", "assist_agent", "run", "--state-dir", str(state)]
    agent = console.procs.spawn(f"agent-{name}-{len(console.procs.children)}", argv, env=env)
    console.agents[name] = agent
    return agent


def new_agent(console, name, env):
    instance_id = console.register_agent(name, console.create_activation(count=1))
    return instance_id, start_agent(console, name, env)


def run(client, instance_id, content, timeout=30, **options):
    request = models.RunCommandRequest(
        region_id="local",
        type="RunShellScript",
        command_content=content,
        instance_id=[instance_id],
        timeout=timeout,
        **options,
    )
    return client.run_command(request).body.invoke_id


def finished(client, invoke_id, timeout=60):
    def done():
        request = models.DescribeInvocationResultsRequest(region_id="local", invoke_id=invoke_id)
        rows = client.describe_invocation_results(
            request
        ).body.invocation.invocation_results.invocation_result
        if rows and all(r.invocation_status not in ("Pending", "Running", "Stopping") for r in rows):
            return rows[0]
        return None

    return wait_until(done, timeout=timeout, message=f"{invoke_id} to finish")


def alive(pid):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_termination_modes_on_timeout(embedded):
    client = sdk_client(embedded, embedded.bootstrap())
    instance_id, _ = new_agent(embedded, "term", {})
    script = 'sleep 120 & echo "bg $!"; echo "sh $$"; sleep 120'
    pids = {}
    try:
        for mode in ("ProcessTree", "Process"):
            result = finished(client, run(client, instance_id, script, timeout=2, termination_mode=mode))
            assert (result.invocation_status, result.error_code) == ("Timeout", "ExecutionTimeout"), mode
            assert result.termination_mode == mode
            found = dict(re.findall(r"(bg|sh) (\d+)", base64.b64decode(result.output).decode()))
            pids[mode] = {k: int(v) for k, v in found.items()}
            assert not alive(pids[mode]["sh"])
        wait_until(lambda: not alive(pids["ProcessTree"]["bg"]), timeout=10, message="the tree to be gone")
        assert alive(pids["Process"]["bg"])  # Process: the script's grandchild is left running
    finally:
        for mode_pids in pids.values():
            try:
                os.killpg(mode_pids["sh"], signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_container_runs_through_the_runtime_cli_and_a_missing_one_is_named(embedded, tmp_path):
    client = sdk_client(embedded, embedded.bootstrap())
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    argv_log = tmp_path / "docker.argv"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_DOCKER_LOG": str(argv_log)}
    instance_id, _ = new_agent(embedded, "ctr", env)

    invoke_id = run(
        client, instance_id, 'echo "inside $IN_CONTAINER"', container_id="docker://" + CONTAINER_ID
    )
    result = finished(client, invoke_id)
    assert (result.invocation_status, result.exit_code) == ("Success", 0)
    assert base64.b64decode(result.output) == b"inside web\n"
    assert result.container_id == "docker://" + CONTAINER_ID
    assert argv_log.read_text().splitlines()[-1] == f"exec -i {CONTAINER_ID} sh -s"

    result = finished(client, run(client, instance_id, "echo never", container_name="gone"))
    assert result.error_code == "ContainerNotFound"
    assert "The specified container does not exist" in result.error_info
    assert result.invocation_status in ("Error", "Failed")
    assert "exec -i gone sh -s" not in argv_log.read_text()


def test_exit_194_reboots_once_after_the_result_is_reported(embedded, tmp_path):
    client = sdk_client(embedded, embedded.bootstrap())
    record = tmp_path / "power.log"
    env = {
        "ASSIST_AGENT_REBOOT_COMMAND": f"sh -c 'echo reboot >> {record}'",
        "ASSIST_AGENT_BOOT_ID": "boot-1",
    }
    instance_id, agent = new_agent(embedded, "pw", env)

    invoke_id = run(client, instance_id, "echo going down; exit 194")
    result = finished(client, invoke_id)
    assert (result.invocation_status, result.exit_code, result.error_code) == (
        "Failed",
        194,
        "ExitCodeNonzero",
    )
    assert base64.b64decode(result.output) == b"going down\n"
    wait_until(record.exists, timeout=30, message="the reboot recorder to run")
    assert agent.wait(timeout=30) == 194  # the agent stops: the machine is going down

    # The "reboot": the agent starts again with a new boot id; the task is never run again.
    start_agent(embedded, "pw", {**env, "ASSIST_AGENT_BOOT_ID": "boot-2"})
    after = finished(client, run(client, instance_id, "echo back"))
    assert base64.b64decode(after.output) == b"back\n"
    time.sleep(1)
    assert record.read_text() == "reboot\n"
    again = finished(client, invoke_id)
    assert (again.invocation_status, again.exit_code, again.finished_time) == (
        "Failed",
        194,
        result.finished_time,
    )
