"""Run options in a real browser (Debian's chromium + Playwright against `manage.py serve` with two real
agents): a run with Max concurrency 1 runs one instance after the other, and "After the next reboot"
makes a task that waits (Scheduled) until the agent comes back with a new boot id, then runs once."""

import sys
from datetime import datetime

import pytest

from tests.browser.test_live_output import browser  # noqa: F401 - fixture
from tests.e2e.test_embedded import FAST
from tests.live import PASSWORD, embedded_console

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def two_agents(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env=FAST)
    try:
        console.bootstrap()
        ids = console.add_agents(2)
        yield console, ids
    finally:
        procs.stop_all()


def _log_in_and_open_run(browser, console):  # noqa: F811
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(console.url + "/login/")
    page.get_by_label("User").fill("admin@acme")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(console.url + "/")
    page.goto(console.url + "/run/")
    for _ in range(60):
        if page.locator(".target .badge.ok").count() == 2:
            break
        page.wait_for_timeout(500)
        page.reload()
    return page


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_max_concurrency_one_runs_the_instances_one_after_the_other(browser, two_agents):  # noqa: F811
    console, ids = two_agents
    page = _log_in_and_open_run(browser, console)
    page.get_by_label("host-000").check()
    page.get_by_label("host-001").check()
    page.get_by_label("Shell script").fill("sleep 2; echo one-at-a-time")
    page.get_by_label("Max concurrency").fill("1")
    page.get_by_label("Max errors").fill("0")
    page.get_by_label("On timeout or stop, end").select_option("ProcessTree")
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url("**/invocations/t-*/")
    page.locator("#done", has_text="2").wait_for(timeout=90_000)
    rows = page.locator("[data-result]")
    spans = sorted(
        (_moment(row.get_attribute("data-started")), _moment(row.get_attribute("data-finished")))
        for row in rows.all()
    )
    assert [row.get_attribute("data-status") for row in rows.all()] == ["Success", "Success"]
    (_, first_end), (second_start, _) = spans
    assert second_start >= first_end, spans  # never both at once


def test_a_next_reboot_task_waits_for_the_reboot_then_runs_once(browser, two_agents):  # noqa: F811
    console, ids = two_agents
    page = _log_in_and_open_run(browser, console)
    page.get_by_label("host-000").check()
    page.get_by_label("Shell script").fill("echo after-reboot")
    page.get_by_label("Schedule").select_option("next-reboot")
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url("**/invocations/t-*/")
    assert "after the next reboot" in page.locator("#schedule-line").inner_text().lower()
    row = page.locator(f"[data-result][data-instance='{ids[0]}']")
    assert row.get_attribute("data-status") == "Scheduled"

    # "Reboot": the agent stops and comes back with another boot id; the page follows live.
    agent = console.agents["host-000"]
    agent.terminate()
    agent.wait(timeout=30)
    state = console.procs.workdir / "agents" / "host-000"
    console.agents["host-000"] = console.procs.spawn(
        "agent-host-000-rebooted",
        [sys.executable, "-m", "assist_agent", "run", "--state-dir", str(state)],
        env={"ASSIST_AGENT_BOOT_ID": "boot-after-reboot"},
    )
    page.locator("[data-role=output]", has_text="after-reboot").wait_for(timeout=90_000)
    page.locator("#overall", has_text="Success").wait_for(timeout=30_000)
