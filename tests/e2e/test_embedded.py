"""The embedded default for real: `manage.py serve` (daphne, in-memory layer, eager tasks, ticker) as a
subprocess, agents registered and run through the real CLI, the official SDK as the client."""

import asyncio
import base64
import json
import os
import signal
import sys

import pytest
import websockets
from alibabacloud_ecs20140526 import models

from tests.live import embedded_console, sdk_client, wait_for_port, wait_until

pytestmark = pytest.mark.live
FAST = {"ASSIST_DELIVERY_TIMEOUT": "3", "ASSIST_TICK_SECONDS": "0.5"}


@pytest.fixture
def embedded(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env=FAST)
    yield console
    procs.stop_all()


def run(client, instance_ids, content, timeout=30):
    request = models.RunCommandRequest(
        region_id="local",
        type="RunShellScript",
        command_content=content,
        instance_id=instance_ids,
        timeout=timeout,
    )
    return client.run_command(request).body.invoke_id


def results(client, invoke_id, encoding="Base64"):
    request = models.DescribeInvocationResultsRequest(
        region_id="local", invoke_id=invoke_id, content_encoding=encoding
    )
    return client.describe_invocation_results(request).body.invocation.invocation_results.invocation_result


def finished_results(client, invoke_id, count, timeout=30):
    def done():
        rows = results(client, invoke_id)
        if len(rows) == count and all(r.invocation_status not in ("Pending", "Running") for r in rows):
            return rows
        return None

    return wait_until(done, timeout=timeout, message=f"{invoke_id} to finish")


def test_command_output_and_exit_code_come_back_through_the_sdk(embedded):
    key = embedded.bootstrap()
    [instance_id] = embedded.add_agents(1)
    client = sdk_client(embedded, key)
    invoke_id = run(client, [instance_id], "echo hello-$((6*7)); echo oops >&2; exit 3")
    [result] = finished_results(client, invoke_id, 1)
    assert base64.b64decode(result.output) == b"hello-42\noops\n"
    assert (result.invocation_status, result.exit_code, result.error_code) == ("Failed", 3, "ExitCodeNonzero")
    assert result.instance_id == instance_id


def test_offline_instance_is_aborted_with_delivery_timeout_and_others_still_run(embedded):
    key = embedded.bootstrap()
    online = embedded.add_agents(2)
    offline = embedded.register_agent("never-started", embedded.create_activation())
    client = sdk_client(embedded, key, signature_v1=True)
    invoke_id = run(client, [*online, offline], "echo up")
    rows = {r.instance_id: r for r in finished_results(client, invoke_id, 3)}
    assert rows[offline].invocation_status == "Aborted"
    assert rows[offline].error_code == "DeliveryTimeout"
    for instance_id in online:
        assert rows[instance_id].invocation_status == "Success"
        assert base64.b64decode(rows[instance_id].output) == b"up\n"


def test_timeout_kills_the_whole_process_tree(embedded, tmp_path):
    key = embedded.bootstrap()
    [instance_id] = embedded.add_agents(1)
    client = sdk_client(embedded, key)
    pid_file = tmp_path / "pids"
    # No TerminationMode: the default (ProcessTree) leaves nothing behind.
    request = models.RunCommandRequest(
        region_id="local", type="RunShellScript", instance_id=[instance_id], timeout=1,
        command_content=f"sleep 60 & echo $! > {pid_file}; sleep 60",
    )  # fmt: skip
    invoke_id = client.run_command(request).body.invoke_id
    [result] = finished_results(client, invoke_id, 1, timeout=20)
    assert (result.invocation_status, result.error_code) == ("Timeout", "ExecutionTimeout")
    background = int(pid_file.read_text())
    assert not _alive(background), "the script's background child survived the timeout"


def _alive(pid: int) -> bool:
    """A zombie counts as dead: it was killed and only waits for its (re-)parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_output_survives_a_console_restart_mid_run(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env=FAST)
    try:
        key = console.bootstrap()
        [instance_id] = console.add_agents(1)
        client = sdk_client(console, key)
        invoke_id = run(client, [instance_id], "for i in $(seq 1 30); do echo line-$i; sleep 0.1; done")
        wait_until(lambda: results(client, invoke_id)[0].invocation_status == "Running", message="Running")
        server = procs.children[0]
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        port = int(console.url.rsplit(":", 1)[1])
        restarted = procs.spawn(
            "serve-again", [sys.executable, "manage.py", "serve", "--port", str(port), "--no-local-agent"]
        )
        wait_for_port(port, timeout=60, proc=restarted)
        [result] = finished_results(client, invoke_id, 1, timeout=60)
        expected = "".join(f"line-{i}\n" for i in range(1, 31)).encode()
        assert result.invocation_status == "Success"
        assert base64.b64decode(result.output) == expected
    finally:
        procs.stop_all()


def test_malformed_agent_frames_get_errors_and_the_console_keeps_serving(embedded):
    key = embedded.bootstrap()
    ws_url = embedded.url.replace("http://", "ws://") + "/ws/agent/"

    async def talk():
        async with websockets.connect(ws_url) as ws:
            await ws.send("{not json")
            error = json.loads(await ws.recv())
            assert error["type"] == "error" and error["code"]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 4401
        async with websockets.connect(ws_url) as ws:
            await ws.send(json.dumps({"type": "heartbeat"}))
            error = json.loads(await ws.recv())
            assert error["code"] == "HelloRequired"

    asyncio.run(talk())
    # The console is still up and a real agent still works afterwards.
    [instance_id] = embedded.add_agents(1)
    client = sdk_client(embedded, key)
    [result] = finished_results(client, run(client, [instance_id], "echo still-fine"), 1)
    assert base64.b64decode(result.output) == b"still-fine\n"


def test_content_near_the_24kb_limit_passes_daphne_and_one_over_is_refused(embedded):
    key = embedded.bootstrap()
    [instance_id] = embedded.add_agents(1)
    client = sdk_client(embedded, key)
    payload = "x" * 18000  # the whole script is ~24 KB after Base64; the SDK puts it all in the URL
    [result] = finished_results(client, run(client, [instance_id], f"printf %s {payload} | wc -c"), 1)
    assert base64.b64decode(result.output).strip() == b"18000"
    with pytest.raises(Exception) as refused:
        run(client, [instance_id], "echo " + "y" * 18500)
    assert "CmdContent.ExceedLimit" in str(refused.value)


def test_deregistering_disconnects_the_agent_and_refuses_it(embedded):
    key = embedded.bootstrap()
    [instance_id] = embedded.add_agents(1)
    client = sdk_client(embedded, key)
    [result] = finished_results(client, run(client, [instance_id], "echo before"), 1)
    assert result.invocation_status == "Success"
    request = models.DeregisterManagedInstanceRequest(region_id="local", instance_id=instance_id)
    assert client.deregister_managed_instance(request).body.instance.instance_id == instance_id
    log = embedded.agents["host-000"].log_path
    wait_until(lambda: log.read_text().count("AuthFailed") >= 2, timeout=30, message="agent refused twice")
    with pytest.raises(Exception, match="InvalidInstance.NotFound"):
        run(client, [instance_id], "echo after")
