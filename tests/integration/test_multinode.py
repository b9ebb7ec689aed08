"""Multi-node production mode: two daphne nodes on different ports, two Celery workers, one beat, Redis and
PostgreSQL (the fixtures of test_production_mode plus a second worker). Agents are spread over both nodes;
a RunCommand sent through either node reaches every agent, and a browser's live-output websocket (the one
the invocation page opens, console/web/consumers.py) on either node sees the output of agents on both
nodes while they still run."""

import asyncio
import base64
import json
import sys

import pytest
import websockets
from alibabacloud_ecs20140526 import models

from tests.integration.test_production_mode import _finished, database, production, redis_url  # noqa: F401
from tests.live import PASSWORD, sdk_client

pytestmark = [pytest.mark.integration, pytest.mark.live]
LIVE_TIMEOUT = 120  # seconds; the machine is shared and noisy


def run(client, instance_ids, script):
    request = models.RunCommandRequest(
        region_id="local",
        type="RunShellScript",
        command_content=script,
        instance_id=instance_ids,
        timeout=120,
    )
    return client.run_command(request).body.invoke_id


def logged_in_cookies(console) -> dict[str, str]:
    """Log in through the console's form, as a browser does; returns the session cookies."""
    import requests

    session = requests.Session()
    session.get(console.url + "/login/")
    form = {
        "username": "admin@acme",
        "password": PASSWORD,
        "csrfmiddlewaretoken": session.cookies["csrftoken"],
    }
    answer = session.post(console.url + "/login/", data=form)
    assert answer.ok and "sessionid" in session.cookies, (answer.status_code, answer.url)
    return dict(session.cookies.items())


class Browser:
    """The invocation page's live-output websocket, with the session cookie of a logged-in user."""

    def __init__(self, console, invoke_id):
        self.url = console.url.replace("http://", "ws://") + f"/ws/invocations/{invoke_id}/"
        self.origin = console.url
        self.cookie = "; ".join(f"{k}={v}" for k, v in logged_in_cookies(console).items())
        self.output: dict[str, str] = {}  # result id -> text seen so far
        self.final: dict[str, str] = {}  # result id -> final status
        self.running_when_seen: dict[str, set[str]] = {}  # line -> result ids whose line came before final

    async def open(self):
        self.ws = await websockets.connect(
            self.url, origin=self.origin, additional_headers={"Cookie": self.cookie}, open_timeout=60
        )
        await self.ws.send(json.dumps({"type": "resume", "cursors": {}}))
        return self

    async def until(self, predicate, what):
        async def loop():
            while not predicate():
                self.take(json.loads(await self.ws.recv()))

        try:
            await asyncio.wait_for(loop(), LIVE_TIMEOUT)
        except TimeoutError:
            raise AssertionError(
                f"{self.origin}: no {what} within {LIVE_TIMEOUT} s; saw {self.output}"
            ) from None

    def take(self, message):
        if message["type"] == "output":
            rid = message["result_id"]
            self.output[rid] = self.output.get(rid, "") + message["text"]
            for line in message["text"].split():
                if rid not in self.final:
                    self.running_when_seen.setdefault(line, set()).add(rid)
        elif message["type"] == "result" and message["final"]:
            self.final[message["result_id"]] = message["status"]

    def saw_everywhere(self, line, count):
        return sum(1 for text in self.output.values() if line in text.split()) == count


def test_runcommand_through_either_node_reaches_all_agents_and_both_browsers_see_live_output(
    production,  # noqa: F811
    tmp_path,
):
    procs, (node_a, node_b) = production
    # The second worker: both consume the same Redis queue, so either may run a dispatch.
    procs.spawn(
        "worker-2",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "console",
            "worker",
            "-l",
            "info",
            "-c",
            "1",
            "-n",
            "second@%h",
        ],
    )
    key = node_a.bootstrap()
    activation = node_a.create_activation(count=4)
    homes = {"a-0": node_a, "a-1": node_a, "b-0": node_b, "b-1": node_b}
    ids = [home.register_agent(name, activation) for name, home in homes.items()]
    for name, home in homes.items():
        home.start_agent(name)

    # Through node A, watched by a browser on each node. Every agent prints "first", then waits for the
    # gate file, so the browsers must see "first" from all four agents while all four are still running.
    gate = tmp_path / "gate"
    script = f"echo first; while [ ! -e {gate} ]; do sleep 0.1; done; echo second"
    client_a = sdk_client(node_a, key)
    invoke_id = run(client_a, ids, script)

    async def watch():
        browsers = [await Browser(node, invoke_id).open() for node in (node_a, node_b)]
        try:
            for browser in browsers:
                await browser.until(
                    lambda b=browser: b.saw_everywhere("first", 4), '"first" from all 4 agents'
                )
            assert all(not b.final for b in browsers), "an agent ended before the gate opened"
            gate.touch()
            for browser in browsers:
                await browser.until(lambda b=browser: len(b.final) == 4, "4 final results")
            return browsers
        finally:
            for browser in browsers:
                await browser.ws.close()

    browsers = asyncio.run(watch())
    for browser in browsers:
        assert set(browser.final.values()) == {"Success"}, (browser.origin, browser.final, procs.dump_logs())
        assert all(text == "first\nsecond\n" for text in browser.output.values()), browser.output
        assert len(browser.running_when_seen["first"]) == 4
    rows = _finished(client_a, invoke_id, 4)
    assert {r.invocation_status for r in rows.values()} == {"Success"}

    # Through node B: reaches the agents of both nodes too (delivery crosses nodes through a worker, Redis).
    client_b = sdk_client(node_b, key)
    rows = _finished(client_b, run(client_b, ids, "echo via-b"), 4)
    assert set(rows) == set(ids)
    for row in rows.values():
        assert row.invocation_status == "Success", procs.dump_logs()
        assert base64.b64decode(row.output) == b"via-b\n"
