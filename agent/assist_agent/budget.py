"""The agent's own resource budget: how much CPU and memory the agent process itself may use.

The limits come from the environment (the systemd unit or the supervisor's), so they apply to every way
the agent is started::

    ASSIST_AGENT_CPU_PERCENT   share of one CPU, averaged over ASSIST_AGENT_BUDGET_WINDOW s (0: no limit)
    ASSIST_AGENT_MEMORY_MB     resident memory in MiB (0: no limit)
    ASSIST_AGENT_BUDGET_WINDOW seconds the CPU share is averaged over (default 60)

Usage is read from ``/proc/self`` (the agent only: commands run in their own process groups and are not
counted). Over budget, the agent backs off by ending itself with ``EXIT_OVER_BUDGET`` so that its
supervisor (systemd ``Restart=always`` or ``assist-agent supervise``, whose restart delay doubles on
quick exits) starts a fresh process; it never does so while a command, terminal session or file transfer
runs: it waits until it is idle. Its tasks are safe across the restart (journal and spool, see
docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from typing import Callable, Mapping, NamedTuple

log = logging.getLogger("assist_agent.budget")

EXIT_OVER_BUDGET = 76  # the supervisor starts the agent again (update.EXIT_SWITCHED is 75)
CHECK_INTERVAL = 5.0


class Budget(NamedTuple):
    cpu_percent: float = 0.0
    memory_mb: float = 0.0
    window: float = 60.0

    @property
    def limited(self) -> bool:
        return self.cpu_percent > 0 or self.memory_mb > 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Budget:
        """The budget in ``env`` (default: the process environment); ValueError names a bad setting."""
        source = os.environ if env is None else env
        values = []
        for name, default in (
            ("ASSIST_AGENT_CPU_PERCENT", 0.0),
            ("ASSIST_AGENT_MEMORY_MB", 0.0),
            ("ASSIST_AGENT_BUDGET_WINDOW", 60.0),
        ):
            text = source.get(name, "").strip()
            try:
                value = float(text) if text else default
            except ValueError:
                raise ValueError(f"{name} must be a number, not {text!r}") from None
            if value < 0 or value != value or value == float("inf"):
                raise ValueError(f"{name} must be a finite number >= 0, not {text!r}")
            values.append(value)
        cpu, memory, window = values
        if window <= 0:
            raise ValueError("ASSIST_AGENT_BUDGET_WINDOW must be more than 0 seconds")
        return cls(cpu_percent=cpu, memory_mb=memory, window=window)


class Usage(NamedTuple):
    cpu_seconds: float  # user + system time of the process so far
    rss_bytes: int


def read_usage(proc: str = "/proc/self") -> Usage | None:
    """The process's CPU time and resident memory, or None where /proc is not there."""
    try:
        with open(f"{proc}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        with open(f"{proc}/statm", "rb") as f:
            statm = f.read().split()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces and parentheses): state is field 3.
    fields = stat[stat.rfind(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return Usage(cpu_seconds=(utime + stime) / ticks, rss_bytes=int(statm[1]) * os.sysconf("SC_PAGE_SIZE"))


class BudgetKeeper:
    """Pure: fed samples of usage over time, says whether (and why) the agent is over its budget."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.samples: deque[tuple[float, float]] = deque()  # (monotonic time, cpu seconds)

    def observe(self, now: float, usage: Usage) -> str:
        """Record a sample; the reason the agent is over budget, or "" when it is within it."""
        self.samples.append((now, usage.cpu_seconds))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.budget.window:
            self.samples.popleft()  # keep one sample at least a window old
        limit_mb = self.budget.memory_mb
        if limit_mb > 0 and usage.rss_bytes > limit_mb * 1024 * 1024:
            return f"memory {usage.rss_bytes / 1048576:.1f} MiB is over the budget of {limit_mb:g} MiB"
        if self.budget.cpu_percent > 0:
            start, cpu_start = self.samples[0]
            elapsed = now - start
            if elapsed >= self.budget.window:
                share = 100.0 * (usage.cpu_seconds - cpu_start) / elapsed
                if share > self.budget.cpu_percent:
                    return (
                        f"CPU {share:.1f}% over the last {elapsed:.0f} s is over the budget of "
                        f"{self.budget.cpu_percent:g}%"
                    )
        return ""


async def watch(
    budget: Budget,
    is_idle: Callable[[], bool],
    exit: Callable[[int], None],
    *,
    interval: float = CHECK_INTERVAL,
    read: Callable[[], Usage | None] = read_usage,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Check the budget every ``interval`` s; over it and idle, end the agent with EXIT_OVER_BUDGET."""
    if not budget.limited:
        return
    keeper = BudgetKeeper(budget)
    waiting = False
    while True:
        await asyncio.sleep(interval)
        usage = read()
        if usage is None:
            log.warning("cannot read the agent's resource usage from /proc; budget not enforced")
            return
        reason = keeper.observe(clock(), usage)
        if not reason:
            waiting = False
            continue
        if is_idle():
            log.warning("%s: restarting the agent (its supervisor starts it again)", reason)
            exit(EXIT_OVER_BUDGET)
            return
        if not waiting:
            log.info("%s: restarting once no command, session or transfer runs", reason)
            waiting = True


def start(is_idle: Callable[[], bool], exit: Callable[[int], None]) -> asyncio.Task[None] | None:
    """The runner's hook: watch the budget of the environment, if any (a bad setting is logged, ignored)."""
    try:
        budget = Budget.from_env()
    except ValueError as exc:
        log.error("resource budget ignored: %s", exc)
        return None
    if not budget.limited:
        return None
    try:
        interval = max(0.1, float(os.environ.get("ASSIST_AGENT_BUDGET_INTERVAL", "") or CHECK_INTERVAL))
    except ValueError:
        interval = CHECK_INTERVAL
    log.info(
        "resource budget: CPU %s, memory %s",
        f"{budget.cpu_percent:g}% over {budget.window:g} s" if budget.cpu_percent else "unlimited",
        f"{budget.memory_mb:g} MiB" if budget.memory_mb else "unlimited",
    )
    return asyncio.ensure_future(watch(budget, is_idle, exit, interval=interval))
