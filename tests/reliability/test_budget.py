"""The agent's resource budget (agent/assist_agent/budget.py): the pure rules, table-driven; the real
/proc reading; and a real agent under `assist-agent supervise` that is over its memory budget: it finishes
the command it runs, then restarts itself, and the supervisor starts it again."""

import asyncio
import sys

import pytest
from assist_agent import budget
from assist_agent.budget import Budget, BudgetKeeper, Usage

from tests.live import embedded_console, sdk_client, wait_until
from tests.reliability.test_fuzz import result_of, run

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, Budget(0.0, 0.0, 60.0)),
        ({"ASSIST_AGENT_CPU_PERCENT": "20", "ASSIST_AGENT_MEMORY_MB": "64"}, Budget(20.0, 64.0, 60.0)),
        ({"ASSIST_AGENT_BUDGET_WINDOW": "5", "ASSIST_AGENT_MEMORY_MB": " "}, Budget(0.0, 0.0, 5.0)),
    ],
)
def test_budget_from_env(env, expected):
    assert Budget.from_env(env) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ASSIST_AGENT_CPU_PERCENT": "lots"}, "ASSIST_AGENT_CPU_PERCENT must be a number, not 'lots'"),
        ({"ASSIST_AGENT_MEMORY_MB": "-1"}, "ASSIST_AGENT_MEMORY_MB must be a finite number >= 0"),
        ({"ASSIST_AGENT_MEMORY_MB": "nan"}, "ASSIST_AGENT_MEMORY_MB must be a finite number >= 0"),
        ({"ASSIST_AGENT_BUDGET_WINDOW": "0"}, "ASSIST_AGENT_BUDGET_WINDOW must be more than 0 seconds"),
    ],
)
def test_bad_budget_settings_are_named(env, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Budget.from_env(env)


# (budget, [(time, cpu seconds, rss MiB), ...], the verdict after each sample: "" or a word of the reason)
CASES = [
    ("no limits", Budget(), [(0, 0, 10), (100, 100, 10_000)], ["", ""]),
    ("memory within", Budget(memory_mb=50), [(0, 0, 49)], [""]),
    ("memory over", Budget(memory_mb=50), [(0, 0, 49), (5, 0, 51)], ["", "memory"]),
    # The CPU share needs a whole window of samples before it is judged.
    ("cpu young", Budget(cpu_percent=10, window=60), [(0, 0, 1), (30, 30, 1)], ["", ""]),
    ("cpu over", Budget(cpu_percent=10, window=60), [(0, 0, 1), (30, 10, 1), (60, 12, 1)], ["", "", "CPU"]),
    ("cpu within", Budget(cpu_percent=10, window=60), [(0, 0, 1), (30, 2, 1), (60, 5, 1)], ["", "", ""]),
    # A burst long ago leaves the window: only the last window counts.
    (
        "cpu burst forgotten",
        Budget(cpu_percent=10, window=60),
        [(0, 0, 1), (10, 30, 1), (60, 30, 1), (130, 31, 1)],
        ["", "", "CPU", ""],
    ),
]


@pytest.mark.parametrize(("name", "limits", "samples", "verdicts"), CASES, ids=[c[0] for c in CASES])
def test_budget_keeper(name, limits, samples, verdicts):
    keeper = BudgetKeeper(limits)
    got = [keeper.observe(t, Usage(cpu_seconds=cpu, rss_bytes=rss * MIB)) for t, cpu, rss in samples]
    for reason, expected in zip(got, verdicts, strict=True):
        assert (expected in reason) if expected else reason == "", (got, verdicts)


def test_read_usage_of_this_process():
    usage = budget.read_usage()
    assert usage is not None
    assert 1 * MIB < usage.rss_bytes < 4096 * MIB
    assert usage.cpu_seconds > 0
    assert budget.read_usage("/proc/no-such-process") is None


def test_watch_waits_for_idle_before_it_restarts():
    idle = {"value": False}
    exits = []
    samples = iter(range(100))

    async def main():
        job = asyncio.ensure_future(
            budget.watch(
                Budget(memory_mb=1),
                lambda: idle["value"],
                exits.append,
                interval=0.01,
                read=lambda: Usage(cpu_seconds=0.0, rss_bytes=2 * MIB),
                clock=lambda: float(next(samples)),
            )
        )
        await asyncio.sleep(0.1)
        assert exits == []  # busy: over budget, but it waits
        idle["value"] = True
        await asyncio.wait_for(job, 5)

    asyncio.run(main())
    assert exits == [budget.EXIT_OVER_BUDGET]


@pytest.mark.integration
@pytest.mark.live
def test_an_agent_over_its_memory_budget_restarts_only_once_its_command_ended(tmp_path):
    procs, console = embedded_console(tmp_path)
    try:
        key = console.bootstrap()
        activation = console.create_activation(count=1)
        instance_id = console.register_agent("lean", activation)
        state = tmp_path / "agents" / "lean"
        agent = procs.spawn(
            "agent-lean",
            [sys.executable, "-m", "assist_agent", "supervise", "--state-dir", str(state),
             "--reconnect-initial", "0.3", "--reconnect-max", "2"],
            env={"ASSIST_AGENT_MEMORY_MB": "1", "ASSIST_AGENT_BUDGET_INTERVAL": "0.2"},
        )  # fmt: skip
        log = agent.log_path

        def restarts():
            return log.read_text(errors="replace").count("restarting the agent")

        # Every agent is over a 1 MiB budget: it restarts as soon as it is idle, again and again (the
        # supervisor's delay doubles per quick exit), so a command must still get through and finish.
        wait_until(lambda: restarts() >= 1, timeout=60, message="a restart for the budget")
        client = sdk_client(console, key)
        db = tmp_path / "data" / "assist.sqlite3"

        def finished(invoke):
            row = result_of(db, invoke)
            return row is not None and row[1] not in ("Pending", "Running") and row[1]

        invoke = None

        def submitted_and_done():
            nonlocal invoke
            if invoke is None or finished(invoke) == "Aborted":
                invoke = run(client, instance_id, "sleep 3; echo survived", timeout=30)
            return finished(invoke)

        assert (
            wait_until(submitted_and_done, timeout=120, message="a command through the restarts") == "Success"
        )
        text = log.read_text(errors="replace")
        assert "restarting once no command" in text  # it was over budget during the command and waited
        assert "interrupted by an agent restart" not in text
        assert agent.poll() is None  # the supervisor is still there
    finally:
        procs.stop_all()
