"""``assist-agent register`` and ``run`` as an operator calls them, against a stub HTTP server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from assist_agent.runner import ws_url
from assist_agent.store import default_state_dir


class Registrar:
    """POST /agent/register: answers whatever the test put in ``reply``; records the requests."""

    def __init__(self) -> None:
        self.reply: tuple[int, dict[str, Any]] = (200, {})
        self.requests: list[tuple[str, dict[str, Any]]] = []
        registrar = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                registrar.requests.append((self.path, body))
                status, answer = registrar.reply
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def registrar() -> Iterator[Registrar]:
    r = Registrar()
    yield r
    r.server.shutdown()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(
        [sys.executable, "-m", "assist_agent", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**base, **(env or {})},
    )


def test_register_json_stores_the_identity(registrar: Registrar, tmp_path: Path) -> None:
    registrar.reply = (200, {"InstanceId": "mi-abc123", "InstanceSecret": "sekrit", "RegionId": "tokyo"})
    state = tmp_path / "state"
    done = cli(
        "register",
        "--server",
        registrar.url + "/",
        "--activation-id",
        "act-1",
        "--activation-code",
        "code-1",
        "--name",
        "web-1",
        "--state-dir",
        str(state),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"InstanceId": "mi-abc123"}\n'
    path, body = registrar.requests[0]
    assert path == "/agent/register"
    assert body["ActivationId"] == "act-1" and body["ActivationCode"] == "code-1"
    assert body["InstanceName"] == "web-1" and "RegionId" not in body
    assert body["OsType"] == "Linux" and body["AgentVersion"] == "0.1.0" and body["Hostname"]
    identity_file = state / "identity.json"
    assert stat.S_IMODE(identity_file.stat().st_mode) == 0o600
    assert json.loads(identity_file.read_text()) == {
        "InstanceId": "mi-abc123",
        "InstanceSecret": "sekrit",
        "RegionId": "tokyo",
        "Server": registrar.url,
    }


def test_register_state_dir_from_the_environment(registrar: Registrar, tmp_path: Path) -> None:
    registrar.reply = (200, {"InstanceId": "mi-env", "InstanceSecret": "s", "RegionId": "local"})
    args = ["register", "--server", registrar.url, "--activation-id", "a", "--activation-code", "c"]
    done = cli(*args, "--region", "local", env={"ASSIST_AGENT_STATE_DIR": str(tmp_path / "env")})
    assert done.returncode == 0, done.stderr
    assert "mi-env" in done.stdout
    assert registrar.requests[0][1]["RegionId"] == "local"
    assert json.loads((tmp_path / "env" / "identity.json").read_text())["InstanceId"] == "mi-env"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidActivation.NotFound", "The activation does not exist."),
        ("InvalidActivation.Expired", "The activation has expired."),
    ],
)
def test_register_error_prints_code_and_message(
    registrar: Registrar, tmp_path: Path, code: str, message: str
) -> None:
    registrar.reply = (400, {"Code": code, "Message": message})
    done = cli(
        "register",
        "--server",
        registrar.url,
        "--activation-id",
        "a",
        "--activation-code",
        "c",
        "--state-dir",
        str(tmp_path / "s"),
        "--json",
    )
    assert done.returncode != 0
    assert done.stdout == ""
    assert code in done.stderr and message in done.stderr
    assert not (tmp_path / "s" / "identity.json").exists()


def test_register_unreachable_server(tmp_path: Path) -> None:
    done = cli(
        "register",
        "--server",
        "http://127.0.0.1:1",
        "--activation-id",
        "a",
        "--activation-code",
        "c",
        "--state-dir",
        str(tmp_path),
    )
    assert done.returncode != 0 and "cannot reach" in done.stderr


def test_run_without_identity_fails_clearly(tmp_path: Path) -> None:
    done = cli("run", "--state-dir", str(tmp_path))
    assert done.returncode == 2 and "not registered" in done.stderr


@pytest.mark.parametrize(
    ("server", "url"),
    [
        ("http://h:8000", "ws://h:8000/ws/agent/"),
        ("https://h/", "wss://h/ws/agent/"),
        ("https://h/assist", "wss://h/assist/ws/agent/"),
    ],
)
def test_ws_url(server: str, url: str) -> None:
    assert ws_url(server) == url


def test_default_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSIST_AGENT_STATE_DIR", str(tmp_path))
    assert default_state_dir() == tmp_path
    monkeypatch.delenv("ASSIST_AGENT_STATE_DIR")
    expected = Path("/var/lib/assist-agent") if os.geteuid() == 0 else Path.home() / ".assist-agent"
    assert default_state_dir() == expected
