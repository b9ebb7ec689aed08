"""How the agent waits for its scripts: a pidfd in the event loop, not a thread per script."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest
from assist_agent import runner


@pytest.mark.skipif(
    not (3, 9) <= sys.version_info < (3, 12) or not hasattr(os, "pidfd_open"),
    reason="asyncio chooses its child watcher itself on Python 3.12+; 3.8 has no pidfds",
)
def test_scripts_are_waited_for_in_the_loop_without_a_thread_each() -> None:
    async def main() -> tuple[int, int, list[int]]:
        runner._watch_children_with_pidfds()
        try:
            before = threading.active_count()
            processes = [
                await asyncio.create_subprocess_exec("sh", "-c", f"sleep 0.2; exit {n}") for n in range(5)
            ]
            during = threading.active_count()
            return before, during, [await process.wait() for process in processes]
        finally:
            asyncio.set_child_watcher(None)  # type: ignore[arg-type,attr-defined,unused-ignore]

    before, during, codes = asyncio.run(main())
    assert codes == [0, 1, 2, 3, 4]
    assert during == before  # asyncio's default starts one waiting thread per process
