"""The pieces `manage.py serve` adds around daphne in the embedded default: the periodic ticker (Celery beat's
job in production) and a supervised local agent for this machine."""

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections

from console.fleet import services as fleet_services
from console.fleet.models import Instance
from console.iam import services as iam_services
from console.iam.models import User
from console.iam.principal import Principal

logger = logging.getLogger("assist.serve")

DEFAULT_ACCOUNT = "default"
DEFAULT_USER = "admin"


def ensure_first_user() -> tuple[User, str | None]:
    """The first root user, created with a generated password on a fresh install (returned once)."""
    user = User.objects.filter(is_root=True).order_by("pk").first()
    if user is not None:
        return user, None
    password = secrets.token_urlsafe(12)
    account = iam_services.account_get_or_create(name=DEFAULT_ACCOUNT)
    user = iam_services.root_user_ensure(account=account, username=DEFAULT_USER, password=password)
    password_file = Path(settings.DATA_DIR) / "initial-admin-password"
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return user, password


PURGE_EVERY_SECONDS = 3600.0  # as Celery beat runs purge_history in production


def start_ticker(interval: float, stop: threading.Event | None = None) -> threading.Thread:
    """Every ``interval`` s the tick, and hourly the history purge, until ``stop`` (if given) is set."""
    from console.invocations.tasks import purge_history, tick

    stop = stop or threading.Event()

    def loop() -> None:
        next_purge = time.monotonic()
        while not stop.wait(interval):
            try:
                tick()
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + PURGE_EVERY_SECONDS
                    purge_history()
            except Exception:
                logger.exception("tick failed")
            finally:
                close_old_connections()

    thread = threading.Thread(target=loop, name="assist-ticker", daemon=True)
    thread.start()
    return thread


def _wait_for_port(host: str, port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _agent_registered(state_dir: Path) -> bool:
    identity = state_dir / "identity.json"
    if not identity.exists():
        return False
    try:
        instance_id = json.loads(identity.read_text())["InstanceId"]
    except (ValueError, KeyError):
        return False
    return Instance.objects.filter(pk=instance_id, deregistered_at__isnull=True).exists()


def start_local_agent(*, owner: User, server_url: str, host: str, port: int) -> threading.Thread:
    """Register (once) and run an agent for this machine as a child process, restarting it if it dies."""
    state_dir = Path(settings.DATA_DIR) / "local-agent"
    agent = [sys.executable, "-m", "assist_agent"]

    def supervise() -> None:
        if not _wait_for_port(host, port, time.monotonic() + 60):
            logger.error("the console did not start listening; local agent not started")
            return
        if not _agent_registered(state_dir):
            issued = fleet_services.activation_create(
                principal=Principal.for_user(owner, via="serve"), instance_count=1, description="local agent"
            )
            close_old_connections()
            registered = subprocess.run(
                [*agent, "register", "--server", server_url, "--activation-id", issued.activation.id,
                 "--activation-code", issued.code, "--state-dir", str(state_dir), "--json"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if registered.returncode != 0:
                logger.error("local agent registration failed: %s", registered.stderr.strip())
                return
        delay = 1.0
        while True:
            started = time.monotonic()
            child = subprocess.Popen([*agent, "run", "--state-dir", str(state_dir)])
            _children.append(child)
            child.wait()
            if time.monotonic() - started > 60:
                delay = 1.0
            logger.warning("local agent exited with %s; restarting in %.0f s", child.returncode, delay)
            time.sleep(delay)
            delay = min(delay * 2, 60)

    thread = threading.Thread(target=supervise, name="assist-local-agent", daemon=True)
    thread.start()
    return thread


_children: list[subprocess.Popen] = []


def stop_children() -> None:
    for child in _children:
        if child.poll() is None:
            child.terminate()
    for child in _children:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
