"""Real processes for end-to-end tests: the console (embedded `serve`, or daphne + Celery in production
mode), agents registered through the real CLI, and the official SDK as a client. Nothing here is mocked."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "correct-horse-battery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def require_service(name: str, check) -> None:
    """Skip when a service is missing on a developer's machine; fail under CI, where it must be there."""
    try:
        check()
    except Exception as error:  # noqa: BLE001 - any failure to reach the service means "not available"
        if IN_CI:
            pytest.fail(f"{name} is required under CI but not reachable: {error}")
        pytest.skip(f"{name} not reachable ({error}); integration tests need it (they run under CI=true)")


class Processes:
    """Starts and always stops a set of child processes; their output goes to files for post-mortems."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.children: list[subprocess.Popen] = []
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        child = subprocess.Popen(
            argv, cwd=ROOT, env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        child.log_path = self.logs / f"{name}.log"  # type: ignore[attr-defined]
        self.children.append(child)
        return child

    def run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{argv} failed ({done.returncode}): {done.stdout}\n{done.stderr}")
        return done

    def manage(self, *args: str) -> str:
        return self.run([sys.executable, "manage.py", *args]).stdout

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()

    def dump_logs(self) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            parts.append(f"===== {path.name} =====\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


class Console:
    """One console deployment under test, with helpers that go through its public entry points."""

    def __init__(self, procs: Processes, url: str) -> None:
        self.procs = procs
        self.url = url
        self.agents: dict[str, subprocess.Popen] = {}

    def bootstrap(self, account: str = "acme", username: str = "admin") -> dict:
        out = self.procs.manage(
            "bootstrap", "--account", account, "--username", username, "--password", PASSWORD, "--json"
        )
        return json.loads(out.strip().splitlines()[-1])

    def create_activation(self, account: str = "acme", count: int = 10) -> dict:
        out = self.procs.manage("create_activation", "--account", account, "--count", str(count), "--json")
        return json.loads(out.strip().splitlines()[-1])

    def register_agent(self, name: str, activation: dict) -> str:
        state = self.procs.workdir / "agents" / name
        done = self.procs.run(
            [sys.executable, "-m", "assist_agent", "register", "--server", self.url, "--activation-id",
             activation["ActivationId"], "--activation-code", activation["ActivationCode"], "--name", name,
             "--state-dir", str(state), "--json"]
        )  # fmt: skip
        return json.loads(done.stdout.strip().splitlines()[-1])["InstanceId"]

    def start_agent(self, name: str) -> subprocess.Popen:
        state = self.procs.workdir / "agents" / name
        agent = self.procs.spawn(
            f"agent-{name}", [sys.executable, "-m", "assist_agent", "run", "--state-dir", str(state)]
        )
        self.agents[name] = agent
        return agent

    def add_agents(self, count: int, account: str = "acme", prefix: str = "host") -> list[str]:
        activation = self.create_activation(account=account, count=count)
        ids = [self.register_agent(f"{prefix}-{n:03d}", activation) for n in range(count)]
        for n in range(count):
            self.start_agent(f"{prefix}-{n:03d}")
        return ids


def embedded_console(tmp_path: Path, *, local_agent: bool = False, extra_env: dict | None = None):
    """`manage.py serve` on a free port with its own data dir (SQLite, in-memory layer, eager tasks)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"ASSIST_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1", **(extra_env or {})})
    procs = Processes(tmp_path, env)
    port = free_port()
    argv = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if not local_agent:
        argv.append("--no-local-agent")
    server = procs.spawn("serve", argv)
    try:
        wait_for_port(port, timeout=60, proc=server)
    except Exception:
        procs.stop_all()
        raise RuntimeError(procs.dump_logs()) from None
    return procs, Console(procs, f"http://127.0.0.1:{port}")


def sdk_client(console: Console, key: dict, *, signature_v1: bool = False):
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    config = open_api_models.Config(
        access_key_id=key["AccessKeyId"],
        access_key_secret=key["AccessKeySecret"],
        endpoint=console.url.removeprefix("http://"),
        protocol="http",
        region_id="local",
    )
    if signature_v1:
        config.signature_algorithm = "v2"
    return Client(config)


def have_executable(name: str) -> bool:
    return shutil.which(name) is not None
