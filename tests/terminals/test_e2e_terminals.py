"""Terminal sessions for real: `manage.py serve`, a real agent process, the official SDK for
Start/Describe/EndTerminalSession, and a websocket client speaking the documented wire format."""

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import websockets
from alibabacloud_ecs20140526 import models
from Tea.exceptions import TeaException

from tests.live import embedded_console, sdk_client, wait_for_port, wait_until

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("terminals")
    procs, console = embedded_console(tmp_path, extra_env={"ASSIST_TICK_SECONDS": "0.5"})
    try:
        acme = console.bootstrap()
        other = console.bootstrap(account="globex")
        (instance_id,) = console.add_agents(1)
        client = sdk_client(console, acme)
        wait_until(lambda: _online(client, instance_id), timeout=30, message="the agent to connect")
        yield {"console": console, "procs": procs, "instance": instance_id, "acme": acme, "other": other}
    finally:
        procs.stop_all()


def _online(client, instance_id) -> bool:
    request = models.DescribeManagedInstancesRequest(region_id="local", instance_id=[instance_id])
    rows = client.describe_managed_instances(request).body.instances
    return bool(rows) and rows[0].connected


def start(client, instance_id, **options):
    request = models.StartTerminalSessionRequest(region_id="local", instance_id=[instance_id], **options)
    return client.start_terminal_session(request).body


def describe(client, **filters):
    request = models.DescribeTerminalSessionsRequest(region_id="local", **filters)
    return client.describe_terminal_sessions(request).body


def ws_url(console, body) -> str:
    assert body.web_socket_url.startswith(f"/ws/terminal-sessions/{body.session_id}/?token=")
    return console.url.replace("http://", "ws://") + body.web_socket_url


async def read_until(ws, needle: bytes, timeout: float = 15.0, ack: bool = True) -> bytes:
    """Collect output (acknowledging it, as a client must) until ``needle`` shows up."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        message = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
        if isinstance(message, bytes):
            seen += message
            if ack:
                await ws.send(json.dumps({"type": "ack", "bytes": len(seen)}))
        elif json.loads(message)["type"] == "closed":
            raise AssertionError(f"session closed before {needle!r}: {message}; output {seen[-300:]!r}")
    return seen


def session_members(sid: int) -> list[int]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "agent"))
    from assist_agent.terminal import session_members as members

    return members(sid)


def test_start_type_describe_end_through_the_sdk_and_the_websocket(deployment):
    console, instance_id = deployment["console"], deployment["instance"]
    client = sdk_client(console, deployment["acme"])
    body = start(client, instance_id)
    assert body.session_id.startswith("s-") and body.security_token

    async def talk():
        async with websockets.connect(ws_url(console, body) + "&cols=100&rows=30") as ws:
            await read_until(ws, b"$ ")  # the prompt of the login shell
            await ws.send(b"echo $((6*7)); echo pid=$$; id -un; stty size\r")
            seen = await read_until(ws, b"30 100")
            assert b"\r42\r\n" in seen
            assert b"\nassist-user\r\n" in seen  # the configured unprivileged user by default
            pid = int(seen.split(b"pid=")[-1].split(b"\r")[0])
            rows = describe(client, session_id=body.session_id).sessions.session
            assert [r.connections.connection[0].status for r in rows] == ["Connected"]
            assert rows[0].username == "assist-user" and rows[0].identity_type == "Account"
            assert rows[0].connections.connection[0].instance_id == instance_id
            await ws.send(b"sleep 600 &\r")
            await read_until(ws, b"[1] ")  # bash reports the background job
            for _ in range(50):
                if len(session_members(pid)) >= 2:
                    break
                await asyncio.sleep(0.1)
            assert len(session_members(pid)) >= 2
            client.end_terminal_session(
                models.EndTerminalSessionRequest(region_id="local", session_id=body.session_id)
            )
            closing = json.loads(await _next_text(ws))
            assert closing["type"] == "closed" and closing["reason"] == "EndTerminalSession"
            return pid

    pid = asyncio.run(talk())
    wait_until(lambda: session_members(pid) == [], timeout=10, message="the shell's session to be gone")
    (row,) = describe(client, session_id=body.session_id).sessions.session
    connection = row.connections.connection[0]
    assert (connection.status, connection.closed_reason) == ("Terminated", "EndTerminalSession")
    assert connection.start_time and connection.end_time


async def _next_text(ws) -> str:
    while True:
        message = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(message, str):
            return message


def test_the_token_may_come_in_the_header_instead_of_the_url(deployment):
    console, instance_id = deployment["console"], deployment["instance"]
    client = sdk_client(console, deployment["acme"])
    body = start(client, instance_id, command_line="echo by-header-$((2*4))")
    bare = ws_url(console, body).split("?token=")[0]

    async def talk():
        headers = {"X-Acs-Security-Token": body.security_token}
        async with websockets.connect(bare, additional_headers=headers) as ws:
            return await read_until(ws, b"by-header-8")

    assert b"by-header-8" in asyncio.run(talk())


def test_a_root_shell_where_policy_allows_it(deployment):
    """The account's root user may open a shell as root (a RAM user needs a statement naming root:
    test_wrong_token_and_revoked_permission_are_refused_at_the_websocket)."""
    console, instance_id = deployment["console"], deployment["instance"]
    client = sdk_client(console, deployment["acme"])
    body = start(client, instance_id, username="root", command_line="echo as=$(id -u):$(id -un)=end")

    async def talk():
        async with websockets.connect(ws_url(console, body)) as ws:
            return await read_until(ws, b"=end")

    if os.geteuid() == 0:
        assert b"as=0:root=end" in asyncio.run(talk())
    (row,) = describe(client, session_id=body.session_id).sessions.session
    assert row.username == "root"


def test_several_sessions_run_at_once_each_with_its_own_shell(deployment):
    console, instance_id = deployment["console"], deployment["instance"]
    client = sdk_client(console, deployment["acme"])
    first, second = start(client, instance_id), start(client, instance_id)
    assert first.session_id != second.session_id
    assert first.session_id.startswith("s-") and second.session_id.startswith("s-")

    async def talk():
        async with (
            websockets.connect(ws_url(console, first)) as one,
            websockets.connect(ws_url(console, second)) as two,
        ):
            pids = await asyncio.gather(_shell_pid(one), _shell_pid(two))
            assert pids[0] != pids[1]
            statuses = {
                row.session_id: row.connections.connection[0].status
                for row in describe(client, instance_id=instance_id, max_results=100).sessions.session
            }
            assert (statuses[first.session_id], statuses[second.session_id]) == ("Connected", "Connected")
            # Typed into each at the same time, each answer comes back on its own socket only.
            await one.send(b"echo one-$((20+1))\r")
            await two.send(b"echo two-$((20+2))\r")
            seen = await asyncio.gather(read_until(one, b"one-21\r\n"), read_until(two, b"two-22\r\n"))
            assert b"two-22" not in seen[0] and b"one-21" not in seen[1]
            return pids

    pids = asyncio.run(talk())
    for pid in pids:
        wait_until(lambda pid=pid: session_members(pid) == [], timeout=10, message=f"shell {pid} to end")


def test_closing_the_websocket_ends_the_shell_and_the_token_works_once(deployment):
    console, instance_id = deployment["console"], deployment["instance"]
    client = sdk_client(console, deployment["acme"])
    body = start(client, instance_id, command_line="echo ready=$$=ok; sleep 600 & sleep 600")

    async def talk():
        async with websockets.connect(ws_url(console, body)) as ws:
            seen = await read_until(ws, b"=ok")
            pid = int(seen.split(b"ready=")[-1].split(b"=ok")[0])
            for _ in range(50):  # the shell and both sleeps
                if len(session_members(pid)) >= 2:
                    break
                await asyncio.sleep(0.1)
            assert len(session_members(pid)) >= 2
        with pytest.raises(websockets.ConnectionClosed) as refused:
            async with websockets.connect(ws_url(console, body)) as again:
                await again.recv()
                await again.recv()
        return pid, refused.value.rcvd.code

    pid, code = asyncio.run(talk())
    assert code == 4409
    # Closing the socket (the browser tab) ended every process the shell started.
    wait_until(lambda: session_members(pid) == [], timeout=10, message="the shell's processes to be gone")

    def ended():
        rows = describe(client, session_id=body.session_id).sessions.session
        return rows[0].connections.connection[0].closed_reason == "ClientClosed" and rows[0]

    wait_until(ended, timeout=10, message="ClientClosed")


def test_wrong_token_and_revoked_permission_are_refused_at_the_websocket(deployment):
    console, procs, instance_id = deployment["console"], deployment["procs"], deployment["instance"]
    # A RAM user allowed to start sessions gets a session, then loses the permission before connecting.
    key = json.loads(
        procs.manage(
            "shell",
            "-c",
            "import json\n"
            "from console.iam import services as s\n"
            "from console.iam.models import User\n"
            "from console.iam.principal import Principal\n"
            "root = Principal.for_user(User.objects.get(login_name='admin@acme'))\n"
            "bob = s.ram_user_create(principal=root, name='bob')\n"
            "doc = json.dumps({'Version': '1', 'Statement': [{'Effect': 'Allow', 'Action': "
            "['ecs:StartTerminalSession', 'ecs:DescribeManagedInstances'], 'Resource': '*'}]})\n"
            "policy = s.policy_create(principal=root, name='term', document=doc)\n"
            "s.policy_attach(principal=root, policy=policy, to_user=bob)\n"
            "k = s.access_key_create(user=bob)\n"
            "print(json.dumps({'AccessKeyId': k.access_key_id, 'AccessKeySecret': k.access_key_secret}))\n",
        )
        .strip()
        .splitlines()[-1]
    )
    bob = sdk_client(console, key)
    with pytest.raises(TeaException) as as_root:
        start(bob, instance_id, username="root")  # a plain allow does not cover other users than the default
    assert as_root.value.code == "Forbidden.RAM"
    body = start(bob, instance_id)
    procs.manage(
        "shell",
        "-c",
        "from console.iam import services as s\n"
        "from console.iam.models import Policy, User\n"
        "from console.iam.principal import Principal\n"
        "root = Principal.for_user(User.objects.get(login_name='admin@acme'))\n"
        "s.policy_detach(principal=root, policy=Policy.objects.get(name='term'), "
        "from_user=User.objects.get(name='bob'))\n",
    )

    async def refused(url):
        async with websockets.connect(url) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    message = await ws.recv()
                    assert not isinstance(message, bytes), "output was relayed to a refused client"
        return closed.value.rcvd.code

    wrong = ws_url(console, body).split("?token=")[0] + "?token=not-the-token"
    assert asyncio.run(refused(wrong)) == 4401
    assert asyncio.run(refused(ws_url(console, body))) == 4403


def test_another_accounts_session_is_not_found(deployment):
    console, instance_id = deployment["console"], deployment["instance"]
    body = start(sdk_client(console, deployment["acme"]), instance_id, command_line="true")
    intruder = sdk_client(console, deployment["other"])
    assert describe(intruder, session_id=body.session_id).sessions.session == []
    with pytest.raises(TeaException) as missing:
        request = models.EndTerminalSessionRequest(region_id="local", session_id=body.session_id)
        intruder.end_terminal_session(request)
    assert missing.value.code == "InvalidSessionId.NotFound"
    with pytest.raises(TeaException) as foreign_instance:
        start(intruder, instance_id)
    assert foreign_instance.value.code == "InvalidInstance.NotFound"


async def _shell_pid(ws) -> int:
    await read_until(ws, b"$ ")
    await ws.send(b"echo pid=$$\r")
    seen = await read_until(ws, b"$ ")  # the typed line holds "$$", never "$ "
    return int(seen.split(b"pid=")[-1].split(b"\r")[0])


def test_stopping_the_agent_ends_its_shells_and_tells_the_client(deployment):
    console, instance_id = deployment["console"], deployment["instance"]
    client = sdk_client(console, deployment["acme"])
    body = start(client, instance_id)

    async def talk():
        async with websockets.connect(ws_url(console, body)) as ws:
            pid = await _shell_pid(ws)
            agent = console.agents["host-000"]
            agent.terminate()
            closing = json.loads(await _next_text(ws))
            return pid, closing

    pid, closing = asyncio.run(talk())
    assert closing["type"] == "closed" and closing["reason"] == "AgentSocketClosed"
    assert session_members(pid) == []
    stopped = console.agents["host-000"]
    stopped.wait(timeout=10)
    log = stopped.log_path
    connects = log.read_text().count("connected to")
    console.start_agent("host-000")
    wait_until(lambda: log.read_text().count("connected to") > connects, timeout=30, message="the agent back")


def test_a_console_restart_ends_the_shells_and_the_sessions(deployment):
    """Last in this module: it replaces the deployment's console process."""
    console, procs, instance_id = deployment["console"], deployment["procs"], deployment["instance"]
    client = sdk_client(console, deployment["acme"])
    body = start(client, instance_id)

    server = procs.children[0]

    async def talk():
        async with websockets.connect(ws_url(console, body)) as ws:
            pid = await _shell_pid(ws)
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            for _ in range(150):
                if not session_members(pid):
                    return pid
                await asyncio.sleep(0.1)
            raise AssertionError("the agent did not end the shell when the console went away")

    asyncio.run(talk())
    port = int(console.url.rsplit(":", 1)[1])
    restarted = procs.spawn(
        "serve-again", [sys.executable, "manage.py", "serve", "--port", str(port), "--no-local-agent"]
    )
    wait_for_port(port, timeout=60, proc=restarted)

    def ended():
        connection = (
            describe(client, session_id=body.session_id).sessions.session[0].connections.connection[0]
        )
        return (connection.status, connection.closed_reason) == ("Terminated", "AgentSocketClosed")

    wait_until(ended, timeout=60, message="the session to be marked ended after the agent reconnected")


def test_an_idle_session_ends_and_the_console_says_why(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env={"ASSIST_TERMINAL_IDLE_TIMEOUT": "2"})
    try:
        key = console.bootstrap()
        (instance_id,) = console.add_agents(1)
        client = sdk_client(console, key)
        wait_until(lambda: _online(client, instance_id), timeout=30, message="the agent to connect")
        body = start(client, instance_id)

        async def talk():
            async with websockets.connect(ws_url(console, body)) as ws:
                pid = await _shell_pid(ws)
                started = time.monotonic()
                closing = json.loads(await _next_text(ws))
                return pid, closing, time.monotonic() - started

        pid, closing, idle = asyncio.run(talk())
        assert (closing["reason"], 1.5 < idle < 10) == ("IdleTimeout", True), (closing, idle)
        assert session_members(pid) == []
        (row,) = describe(client, session_id=body.session_id).sessions.session
        connection = row.connections.connection[0]
        assert (connection.status, connection.closed_reason) == ("Terminated", "IdleTimeout")
        assert "no input or output for 2 s" in connection.failed_detail
    finally:
        procs.stop_all()
