"""The agent's idle footprint: no OpenSSL, email, importlib.metadata or websockets for an http:// console."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent_testkit import AgentProcess, FakeConsole

HEAVY = ("ssl", "_ssl", "_hashlib", "hashlib", "email", "importlib.metadata", "websockets", "http")


def modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_the_agent_package_imports_nothing_heavy() -> None:
    """``import asyncio`` itself imports ``ssl`` (Python 3.11), so only the rest is checked here."""
    modules = modules_after("import assist_agent.runner, assist_agent.cli")
    assert not modules & {"_hashlib", "hashlib", "email", "importlib.metadata", "websockets", "http"}
    assert not any(m.startswith(("websockets.", "email.")) for m in modules)


def test_an_http_console_leaves_openssl_out() -> None:
    modules = modules_after("from assist_agent import cli\ncli.import_runner('http://127.0.0.1:1')")
    assert "assist_agent.runner" in modules and "assist_agent.wsclient" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_an_https_console_gets_a_working_ssl() -> None:
    modules = modules_after(
        "from assist_agent import cli\ncli.import_runner('https://127.0.0.1:1')\n"
        "from asyncio import sslproto\nassert sslproto.ssl is not None\n"
        "from assist_agent import wsclient\nwsclient._ssl_context()"
    )
    assert "ssl" in modules


def test_the_running_agent_maps_no_openssl(console_test) -> None:
    """The real agent, connected and idle: neither libssl nor libcrypto is in its address space."""

    async def body(console: FakeConsole, agent: AgentProcess) -> None:
        assert agent.proc is not None
        maps = Path(f"/proc/{agent.proc.pid}/maps").read_text()
        for name in ("libssl", "libcrypto", "_ssl.", "_hashlib."):
            assert name not in maps, name

    console_test(body)
