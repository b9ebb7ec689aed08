"""A stuck component never freezes the others (docs/reliability.md "Stuck and hostile components"): an
agent that says hello and then never answers nor reads, and a browser whose websocket never reads while an
instance prints megabytes. The rest of the fleet keeps running commands within a few seconds, and the
stuck agent's task, sent to it and never confirmed, ends (Error, ClientNotRunning: whether it ran is unknown)
once its timeout plus ASSIST_OFFLINE_AFTER have passed."""

import base64
import json
import os
import socket
import time

import pytest

from tests.files.test_e2e_send_file import console_session
from tests.live import embedded_console, sdk_client, wait_until
from tests.reliability.test_fuzz import hello, result_of, run

pytestmark = [pytest.mark.integration, pytest.mark.live]
DELIVERY_TIMEOUT = 6
OFFLINE_AFTER = 5
STUCK_TIMEOUT = 5  # the stuck agent's command's timeout


def raw_websocket(url: str, path: str, headers: dict[str, str], receive_buffer: int = 4096) -> socket.socket:
    """A websocket opened by hand, so that the test decides when (never) to read from it."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # fills up fast
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]  # fmt: skip
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)  # byte by byte: nothing after the handshake is read
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


def send_text(sock: socket.socket, text: str) -> None:
    """One masked text frame (clients must mask)."""
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


@pytest.fixture
def fleet(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env={
        "ASSIST_DELIVERY_TIMEOUT": str(DELIVERY_TIMEOUT), "ASSIST_OFFLINE_AFTER": str(OFFLINE_AFTER),
        "ASSIST_HEARTBEAT_INTERVAL": "1",
    })  # fmt: skip
    key = console.bootstrap()
    activation = console.create_activation(count=4)
    ids = {name: console.register_agent(name, activation) for name in ("stuck", "chatty", "good")}
    console.start_agent("chatty")
    console.start_agent("good")
    identity = json.loads((tmp_path / "agents" / "stuck" / "identity.json").read_text())
    client = sdk_client(console, key)
    db = tmp_path / "data" / "assist.sqlite3"
    yield {"procs": procs, "console": console, "client": client, "ids": ids,
           "stuck_secret": identity["InstanceSecret"], "db": db}  # fmt: skip
    procs.stop_all()


def final(db, invoke_id):
    row = result_of(db, invoke_id)
    return row is not None and row[1] not in ("Pending", "Running", "Stopping") and row[1]


def test_an_agent_that_never_answers_and_a_browser_that_never_reads_freeze_nobody(fleet):
    console, client, db, ids = fleet["console"], fleet["client"], fleet["db"], fleet["ids"]

    # The stuck agent: a valid hello, then silence; it never reads what the console sends it.
    stuck = raw_websocket(console.url, "/ws/agent/", {})
    send_text(stuck, hello(ids["stuck"], fleet["stuck_secret"]))
    time.sleep(1)  # its hello is handled; the instance is online, so RunCommand delivers to it
    stuck_invoke = run(client, ids["stuck"], "echo never", timeout=STUCK_TIMEOUT)

    # A chatty instance printing megabytes, watched by a browser that never reads its websocket.
    chatty_invoke = run(client, ids["chatty"], "head -c 30000000 /dev/zero | tr '\\0' x; echo; echo end")
    session = console_session(console)
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    browser = raw_websocket(
        console.url, f"/ws/invocations/{chatty_invoke}/", {"Origin": console.url, "Cookie": cookie}
    )
    send_text(browser, json.dumps({"type": "resume", "cursors": {}}))

    # Meanwhile the rest of the fleet works as usual: one command after another, each within seconds.
    for n in range(5):
        started = time.monotonic()
        invoke = run(client, ids["good"], f"echo {n}")
        status = wait_until(
            lambda i=invoke: final(db, i), timeout=20, message=f"command {n} on the good agent"
        )
        assert status == "Success"
        assert time.monotonic() - started < 20

    # The stuck agent's task is bounded (sent, so maybe run: not Aborted); the chatty one ends normally.
    stuck_status = wait_until(
        lambda: final(db, stuck_invoke), timeout=STUCK_TIMEOUT + OFFLINE_AFTER + 30, message="stuck"
    )
    assert stuck_status == "Error"
    assert (
        wait_until(lambda: final(db, chatty_invoke), timeout=120, message="the chatty command") == "Success"
    )
    # The page of the chatty invocation still loads for a browser that does read.
    assert session.get(f"{console.url}/invocations/{chatty_invoke}/", timeout=30).status_code == 200
    stuck.close()
    browser.close()
