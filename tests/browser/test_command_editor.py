"""The command editor in a real browser (Debian's chromium + Playwright against `manage.py serve` with one
real agent): the script is highlighted as it is typed (bash, PowerShell, batch by the Type choice), the
parameter names appear as they are typed, the script rendered for a chosen instance is shown with values
and built-ins filled, and the home page `/` is the dashboard."""

import os
from pathlib import Path

import pytest

from tests.browser.test_live_output import browser  # noqa: F401 - fixture
from tests.live import PASSWORD, embedded_console

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture(scope="module")
def one_agent(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("editor")
    procs, console = embedded_console(workdir)
    try:
        console.bootstrap()
        ids = console.add_agents(1)
        yield console, ids[0]
    finally:
        procs.stop_all()


def log_in(browser, console):  # noqa: F811
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(console.url + "/login/")
    page.get_by_label("User").fill("admin@acme")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(console.url + "/")
    return page


def test_home_page_is_the_dashboard(browser, one_agent):  # noqa: F811
    console, _ = one_agent
    page = log_in(browser, console)
    page.get_by_role("heading", name="Dashboard").wait_for()
    assert page.get_by_role("link", name="Dashboard").get_attribute("aria-current") == "page"
    page.goto(console.url + "/dashboard/")
    page.get_by_role("heading", name="Dashboard").wait_for()


def test_write_a_command_with_highlighting_parameter_and_rendered_previews(browser, one_agent, tmp_path):  # noqa: F811
    console, instance_id = one_agent
    page = log_in(browser, console)
    page.goto(console.url + "/commands/new/")
    page.get_by_label("Name", exact=True).fill("greet")
    script = page.get_by_label("Script", exact=True)
    script.fill("# say hello\necho {{greeting}} from {{ACS::InstanceName}}\n")
    page.get_by_label("Use parameters").check()

    # Highlighting: the painted copy has highlight.js's spans for the bash comment and built-in.
    editor = page.locator(".code-editor")
    assert editor.get_attribute("class") == "code-editor highlighting"
    page.locator("#content-highlight .hljs-comment", has_text="# say hello").wait_for()
    page.locator("#content-highlight .hljs-built_in", has_text="echo").wait_for()
    assert page.locator("#content-highlight").inner_text().startswith("# say hello\necho {{greeting}}")

    # The parameter preview follows the typing (names parsed by the server).
    names = page.locator("#parameter-names")
    names.filter(has_text="Parameters used: greeting").wait_for()
    assert "ACS::InstanceName" in names.inner_text()
    script.press("End")
    script.type("echo {{ target }}")
    names.filter(has_text="greeting, target").wait_for()
    script.type("{{bad name}}")
    page.locator("#parameter-names.error", has_text="is not valid").wait_for()
    script.fill("# say hello\necho {{greeting}} from {{ACS::InstanceName}}\n")
    names.filter(has_text="Parameters used: greeting").wait_for()

    # Rendered preview for the chosen instance: first without a value (a warning), then with one.
    page.get_by_label("Preview for instance").select_option(instance_id)
    page.get_by_role("button", name="Preview script").click()
    page.locator("#rendered-preview .warning", has_text="No value for greeting").wait_for()
    page.get_by_label("Preview value of greeting").fill("hello")
    page.get_by_role("button", name="Preview script").click()
    rendered = page.locator("#rendered-script")
    rendered.filter(has_text="echo hello from host-000").wait_for()
    assert page.locator("#rendered-preview .warning").count() == 0
    shots = Path(os.environ.get("ASSIST_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "command-editor.png"), full_page=True)

    # The language follows the type: PowerShell's cmdlets, batch's keywords.
    page.get_by_label("Type", exact=True).select_option("RunPowerShellScript")
    script.fill("Get-Process | Where-Object { $_.CPU -gt 10 }")
    page.locator(".code-editor[data-language=powershell]").wait_for()
    page.locator("#content-highlight .hljs-built_in", has_text="Get-Process").wait_for()
    page.get_by_label("Type", exact=True).select_option("RunBatScript")
    script.fill("@echo off\nREM batch comment\nif exist C:\\x goto end")
    page.locator(".code-editor[data-language=dos]").wait_for()
    page.locator("#content-highlight .hljs-comment", has_text="REM batch comment").wait_for()

    # Saving still posts the textarea (the highlighted copy is only a picture of it).
    page.get_by_label("Type", exact=True).select_option("RunShellScript")
    script.fill("echo {{greeting}}")
    page.get_by_role("button", name="Create command").click()
    page.wait_for_url("**/commands/c-*/")
    assert "echo {{greeting}}" in page.locator("body").inner_text()


def test_the_run_page_highlights_its_shell_script_too(browser, one_agent):  # noqa: F811
    console, _ = one_agent
    page = log_in(browser, console)
    page.goto(console.url + "/run/")
    page.get_by_label("Shell script").fill("# check\nexport A=1; echo $A")
    page.locator(".code-editor.highlighting").wait_for()
    page.locator("#content-highlight .hljs-comment", has_text="# check").wait_for()
    page.locator("#content-highlight .hljs-variable", has_text="$A").wait_for()
    assert page.get_by_label("Shell script").input_value() == "# check\nexport A=1; echo $A"
