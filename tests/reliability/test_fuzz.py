"""Hostile and broken input on the websockets (docs/reliability.md "Stuck and hostile components"): seeded
malformed, out-of-order and foreign frames to the agent gateway (/ws/agent/) and the browser streams. The
console answers each with an error or closes the connection, nothing is written for them, and it keeps
serving: a real agent runs a command afterwards."""

import json
import random
import sqlite3

import pytest
from alibabacloud_ecs20140526 import models
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.files.test_e2e_send_file import console_session
from tests.live import embedded_console, sdk_client, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.live]
SEED = 9
CONSOLE_FRAMES = ("task.run", "update.offer")  # the console sends these on its own at any time


@pytest.fixture
def fleet(tmp_path):
    procs, console = embedded_console(tmp_path)
    key = console.bootstrap()
    activation = console.create_activation(count=3)
    fuzzer = console.register_agent("fuzzer", activation)  # its identity is used by hand, never started
    victim = console.register_agent("victim", activation)
    console.start_agent("victim")
    identity = json.loads((tmp_path / "agents" / "fuzzer" / "identity.json").read_text())
    client = sdk_client(console, key)
    yield {"procs": procs, "console": console, "client": client, "fuzzer": fuzzer, "victim": victim,
           "secret": identity["InstanceSecret"], "db": tmp_path / "data" / "assist.sqlite3"}  # fmt: skip
    procs.stop_all()


def run(client, instance_id, script, timeout=60):
    request = models.RunCommandRequest(
        region_id="local", type="RunShellScript", command_content=script, instance_id=[instance_id],
        timeout=timeout,
    )  # fmt: skip
    return client.run_command(request).body.invoke_id


def result_of(db, invoke_id):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT id, status FROM invocations_invocationresult WHERE invocation_id = ?", (invoke_id,)
        ).fetchone()


def snapshot(db):
    """What agent reports may change: every result's state and every output chunk."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        results = conn.execute(
            "SELECT id, status, exit_code, error_code, output_size, started_at, finished_at"
            " FROM invocations_invocationresult ORDER BY id"
        ).fetchall()
        chunks = conn.execute(
            "SELECT result_id, seq, data FROM invocations_outputchunk ORDER BY 1, 2"
        ).fetchall()
    return results, chunks


def ws_url(console, path):
    return console.url.replace("http://", "ws://") + path


def hello(instance_id, secret):
    return json.dumps(
        {"type": "hello", "instance_id": instance_id, "secret": secret, "agent_version": "9.9.9",
         "os_type": "linux", "os_name": "fuzz", "hostname": "fuzz", "ips": [], "boot_id": "b",
         "held_tasks": [], "protocol": 2}
    )  # fmt: skip


def next_frame(ws, timeout=15.0):
    """The next frame that is not one the console sends on its own (redelivered task.run, offers)."""
    while True:
        frame = json.loads(ws.recv(timeout=timeout))
        if frame.get("type") not in CONSOLE_FRAMES:
            return frame


def closed_with(ws, timeout=15.0):
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


def result_frame(task_id, status="Success", last_seq=0):
    return {"type": "task.result", "task_id": task_id, "status": status, "exit_code": 0, "error_code": "",
            "error_info": "", "started_at": 1.0, "finished_at": 2.0, "last_seq": last_seq}  # fmt: skip


def refused(url, headers):
    """How the console refuses a websocket: the HTTP status of a refused handshake (a consumer that closes
    before accepting: 403) or the close code of an accepted one."""
    try:
        with connect(url, additional_headers=headers, open_timeout=15) as ws:
            return closed_with(ws)
    except InvalidStatus as refusal:
        return refusal.response.status_code


def garbage(rng):
    """Seeded junk: random bytes, broken JSON, JSON of the wrong shape, frames with bad fields."""
    frames = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))) for _ in range(20)]
    frames += ["", "{", "null", "[]", "42", '"hello"', "{}", '{"type": 7}', '{"type": "no.such.frame"}']
    for _ in range(20):
        frames.append(json.dumps({"type": "task.output", "task_id": "r-" + "x" * rng.randint(0, 80),
                                  "seq": rng.choice([-1, 0, "1", 2**63, None, 1.5]),
                                  "data": rng.choice(["***", 5, None, "aGk="])}))  # fmt: skip
    return frames


def test_malformed_frames_before_hello_are_refused_and_close(fleet):
    console, rng = fleet["console"], random.Random(SEED)
    before = snapshot(fleet["db"])
    first_frames = garbage(rng)[:12] + [
        json.dumps({"type": "heartbeat"}),
        hello(fleet["fuzzer"], "wrong-secret"),
        hello("i-doesnotexist0000000", fleet["secret"]),
        hello(fleet["fuzzer"], fleet["secret"]).replace('"protocol": 2', '"protocol": "two"'),
    ]
    for frame in first_frames:
        with connect(ws_url(console, "/ws/agent/"), open_timeout=15) as ws:
            ws.send(frame)
            answer = next_frame(ws)
            assert answer["type"] == "error", (frame, answer)
            assert closed_with(ws) == 4401, frame
    assert snapshot(fleet["db"]) == before


def test_malformed_foreign_and_out_of_order_frames_after_hello_write_nothing(fleet):
    console, client, db, rng = fleet["console"], fleet["client"], fleet["db"], random.Random(SEED)
    victim_invoke = run(client, fleet["victim"], "echo started; sleep 60")
    victim_task = wait_until(
        lambda: (row := result_of(db, victim_invoke)) and row[1] == "Running" and row[0], timeout=60,
        message="the victim's task to run",
    )  # fmt: skip

    with connect(ws_url(console, "/ws/agent/"), open_timeout=15, max_size=None) as ws:
        ws.send(hello(fleet["fuzzer"], fleet["secret"]))
        assert next_frame(ws)["type"] == "welcome"
        # A task of the fuzzer's own, delivered to this socket and then reported out of order.
        own_invoke = run(client, fleet["fuzzer"], "echo mine")
        own_task = wait_until(lambda: result_of(db, own_invoke), message="the fuzzer's task")[0]
        before = snapshot(db)

        foreign = [
            {"type": "task.started", "task_id": victim_task, "started_at": 1.0},
            {"type": "task.output", "task_id": victim_task, "seq": 99, "data": "eA=="},
            result_frame(victim_task),
            result_frame("r-doesnotexist00000000"),
            result_frame(own_task, status="Running"),
            {"type": "task.run", "task_id": own_task, "command_type": "RunShellScript", "content": "id",
             "working_dir": "", "username": "", "timeout": 5.0},
            {"type": "welcome", "instance_id": fleet["fuzzer"], "heartbeat_interval": 1.0},
        ]  # fmt: skip
        frames = garbage(rng) + [json.dumps(f) for f in foreign] + [hello(fleet["fuzzer"], fleet["secret"])]
        rng.shuffle(frames)
        for frame in frames:
            ws.send(frame)
            try:
                answer = next_frame(ws)
            except TimeoutError:
                pytest.fail(f"no answer to {frame!r}")
            assert answer["type"] == "error", (frame, answer)

        # Out of order: the result before any of its output is not stored; the missing chunks are asked.
        ws.send(json.dumps(result_frame(own_task, last_seq=3)))
        resend = next_frame(ws)
        assert (resend["type"], resend["task_id"], resend["seqs"]) == ("task.resend", own_task, [1, 2, 3])
        assert snapshot(db) == before

        # An oversized frame: refused (error) or the connection is closed; nothing written either way.
        try:
            ws.send(
                json.dumps({"type": "task.output", "task_id": own_task, "seq": 1, "data": "QUFB" * (1 << 19)})
            )
            answer = next_frame(ws)
            assert answer["type"] == "error", answer
        except ConnectionClosed:
            pass
    assert snapshot(db) == before

    # The console still serves: the victim's task was untouched and a new command runs.
    assert result_of(db, victim_invoke)[1] == "Running"
    alive = run(client, fleet["victim"], "echo alive")
    wait_until(lambda: result_of(db, alive)[1] == "Success", timeout=60, message="a command after the fuzz")


def test_browser_stream_refuses_junk_and_strangers_and_keeps_serving(fleet):
    console, client, db, rng = fleet["console"], fleet["client"], fleet["db"], random.Random(SEED)
    invoke = run(client, fleet["victim"], "echo one; echo two")
    result_id = wait_until(
        lambda: (row := result_of(db, invoke)) and row[1] == "Success" and row[0],
        timeout=60,
        message="the command",
    )
    path = f"/ws/invocations/{invoke}/"
    origin = {"Origin": console.url}

    assert refused(ws_url(console, path), origin) in (403, 4401)  # no session cookie

    session = console_session(console)
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in session.cookies.items()), **origin}
    assert refused(ws_url(console, "/ws/invocations/t-doesnotexist0000000/"), cookie) in (403, 4404)
    assert refused(ws_url(console, "/ws/terminals/nope/"), cookie) in (403, 4403, 4404)
    assert (
        refused(ws_url(console, path), {"Cookie": cookie["Cookie"], "Origin": "http://evil.example"}) == 403
    )

    before = snapshot(db)
    with connect(ws_url(console, path), additional_headers=cookie, open_timeout=15) as ws:
        junk = [f for f in garbage(rng) if isinstance(f, str)] + [
            json.dumps({"type": "resume", "cursors": [1]}),
            json.dumps({"type": "resume", "cursors": {result_id: "abc"}}),
            json.dumps({"type": "resume", "cursors": {result_id: {"nested": 1}}}),
        ]
        for frame in junk:
            ws.send(frame)
            assert json.loads(ws.recv(timeout=15))["type"] == "error", frame
        # After all that, the stream still works: a resume from nothing returns the whole output once.
        ws.send(json.dumps({"type": "resume", "cursors": {}}))
        text = ""
        while "two" not in text:
            update = json.loads(ws.recv(timeout=15))
            if update["type"] == "output":
                text += update["text"]
        assert text == "one\ntwo\n"
    assert snapshot(db) == before
