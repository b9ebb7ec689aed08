"""A periodic task's new executions appear live on its invocation page (Debian's chromium + Playwright
against `manage.py serve` with a real agent): each run of a rate(5s) task is a new result; the page
swaps the instance's row for the new execution's and streams its output, with no reload."""

import pytest

from tests.browser.test_live_output import browser  # noqa: F401 - fixture
from tests.e2e.test_embedded import FAST
from tests.live import PASSWORD, embedded_console

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def periodic_console(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env={**FAST, "ASSIST_MIN_RATE_SECONDS": "1"})
    try:
        console.bootstrap()
        ids = console.add_agents(1)
        yield console, ids[0]
    finally:
        procs.stop_all()


def test_new_executions_of_a_periodic_task_appear_without_reload(browser, periodic_console):  # noqa: F811
    console, instance_id = periodic_console
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(console.url + "/login/")
    page.get_by_label("User").fill("admin@acme")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(console.url + "/")
    page.goto(console.url + "/run/")
    for _ in range(60):
        if page.locator(".target .badge.ok").count() == 1:
            break
        page.wait_for_timeout(500)
        page.reload()
    page.get_by_label("host-000").check()
    # Each run prints at once and then lasts a while, so its output is on the page long enough to sample.
    page.get_by_label("Shell script").fill("echo run-$(date +%s%N); sleep 2")
    page.get_by_label("Timeout (s)").fill("4")
    page.get_by_label("Schedule").select_option("rate")
    page.get_by_label("Frequency").fill("5s")
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url("**/invocations/t-*/")
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads

    row = page.locator(f"[data-result][data-instance='{instance_id}']")
    output = row.locator("[data-role=output]")
    seen: list[str] = []
    outputs: list[str] = []
    deadline_ms = 90_000
    waited = 0
    while len({o for o in outputs if "run-" in o}) < 2 and waited < deadline_ms:
        result_id = row.get_attribute("data-result")
        if result_id not in seen:
            seen.append(result_id)
        text = output.inner_text() if output.count() else ""
        if "run-" in text and text not in outputs:
            outputs.append(text)
        page.wait_for_timeout(250)
        waited += 250
    assert len({o for o in outputs if "run-" in o}) >= 2, (seen, outputs)
    assert len(seen) >= 2, seen  # the row was replaced by a new execution's (a new result id)
    assert page.locator("[data-result]").count() == 1  # one row per instance: its latest execution
    assert page.evaluate("() => window.__sameDocument === true")
    page.get_by_role("button", name="Stop…").click()
    page.get_by_role("dialog").get_by_role("button", name="Stop now").click()
