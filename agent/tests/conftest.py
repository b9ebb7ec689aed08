"""Fixtures for the agent tests (helpers live in agent_testkit.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import AgentProcess, FakeConsole
from assist_agent import protocol


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(tmp_path / "state", tmp_path / "agent.log")
    yield process
    process.stop()
    print(process.log())  # shown by pytest when the test failed


@pytest.fixture
def console_test(agent: AgentProcess) -> Callable[..., None]:
    """Run ``body(console, agent)`` in an event loop with a started console and agent."""

    def runner(
        body: Callable[[FakeConsole, AgentProcess], Any],
        heartbeat_interval: float = 30.0,
        console_protocol: int = protocol.PROTOCOL_VERSION,
    ) -> None:
        async def main() -> None:
            console = FakeConsole(heartbeat_interval, console_protocol)
            await console.start()
            agent.register(console.port)
            agent.start()
            try:
                await console.wait_connected(10)
                await body(console, agent)
            finally:
                with_server = console._server
                if with_server is not None:
                    with_server.close()

        asyncio.run(main())

    return runner
