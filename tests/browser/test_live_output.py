"""A real browser (Debian's chromium driven by Playwright) against `manage.py serve` with its local agent."""

import os
from pathlib import Path

import pytest

from tests.live import IN_CI, embedded_console

pytestmark = [pytest.mark.browser, pytest.mark.live]
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        if IN_CI:
            pytest.fail(f"playwright is required under CI: {error}")
        pytest.skip("playwright is not installed (make test installs it)")
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is required under CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium to run the browser tests")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def console_with_local_agent(tmp_path):
    procs, console = embedded_console(tmp_path, local_agent=True)
    password = (tmp_path / "data" / "initial-admin-password").read_text().strip()
    yield console, password
    procs.stop_all()


def test_login_run_and_watch_output_stream_in_without_reload(browser, console_with_local_agent):
    console, password = console_with_local_agent
    page = browser.new_page()
    page.goto(console.url + "/")
    page.fill("input[name=username]", "admin@default")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(console.url + "/")

    # The local agent registers and comes online by itself; wait for it on the run page.
    for _ in range(60):
        page.goto(console.url + "/run/")
        if page.locator(".target .badge.ok").count() == 1:
            break
        page.wait_for_timeout(500)
    assert page.locator(".target .badge.ok").count() == 1, "the local agent never came online"

    page.locator(".target input[type=checkbox]").check()
    page.fill("textarea[name=content]", "echo hello; sleep 2; echo world")
    page.click("#run-button")
    page.wait_for_url("**/invocations/t-*/")
    page.evaluate("window.__sameDocument = true")

    output = page.locator("[data-role=output]")
    output.filter(has_text="hello").wait_for(timeout=15000)
    # Seen while still running: it streamed in, the page was not reloaded.
    assert "world" not in output.inner_text()
    assert page.locator("[data-role=status]").inner_text() == "Running"
    output.filter(has_text="world").wait_for(timeout=15000)
    page.locator("#overall", has_text="Success").wait_for(timeout=15000)
    assert output.inner_text() == "hello\nworld\n"
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator("#done").inner_text() == "1"

    # A reload shows everything so far, once.
    page.reload()
    assert page.locator("[data-role=output]").inner_text() == "hello\nworld\n"
    page.wait_for_timeout(1000)
    assert page.locator("[data-role=output]").inner_text() == "hello\nworld\n"
    if os.environ.get("ASSIST_SCREENSHOTS"):
        page.screenshot(path=os.environ["ASSIST_SCREENSHOTS"] + "/invocation.png", full_page=True)


def test_bad_input_on_the_run_page_gets_a_clear_error_and_creates_nothing(browser, console_with_local_agent):
    console, password = console_with_local_agent
    page = browser.new_page()
    page.goto(console.url + "/login/")
    page.fill("input[name=username]", "admin@default")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(console.url + "/")
    page.goto(console.url + "/run/")
    page.fill("textarea[name=content]", "echo x")
    page.fill("input[name=timeout]", "-5")
    page.click("#run-button")
    assert "Choose at least one instance" in page.locator(".error").inner_text()
    page.goto(console.url + "/invocations/")
    assert "Nothing run yet" in page.content()
