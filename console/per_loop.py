"""One object per running event loop: what a web process's websocket consumers share (the report writer,
the heartbeat batcher, the node router, the group keeper) lives on the loop that serves them."""

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def one_per_loop(factory: Callable[[], T]) -> Callable[[], T]:
    """A getter that returns the running loop's object, made by ``factory`` on the loop's first call."""
    by_loop: dict[int, T] = {}

    def for_this_loop() -> T:
        loop_id = id(asyncio.get_running_loop())
        if loop_id not in by_loop:
            by_loop[loop_id] = factory()
        return by_loop[loop_id]

    return for_this_loop
