"""The Content-Security-Policy in a real browser (Debian's chromium + Playwright against `manage.py
serve` with one real agent): every main page loads without a single violation report, and the pages'
scripts still work under the policy (htmx filters, the invocation page's live output, the send-file
form's file description, the run page's instance picker). Screenshots go to $ASSIST_SCREENSHOT_DIR."""

import os
from pathlib import Path

import pytest

from tests.browser.test_live_output import browser  # noqa: F401 - fixture
from tests.live import PASSWORD, embedded_console

pytestmark = [pytest.mark.browser, pytest.mark.live]

# Registered before any page script runs (Playwright's init scripts are not subject to the page's CSP).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(scope="module")
def one_agent(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("csp")
    procs, console = embedded_console(workdir)
    try:
        console.bootstrap()
        ids = console.add_agents(1)
        yield console, ids[0]
    finally:
        procs.stop_all()


@pytest.fixture
def shots(tmp_path) -> Path:
    where = Path(os.environ.get("ASSIST_SCREENSHOT_DIR") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def test_main_pages_load_without_csp_violations_and_their_scripts_work(browser, one_agent, tmp_path, shots):  # noqa: F811
    console, instance_id = one_agent
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and console_errors.append(m.text))

    def check(url_path: str, name: str) -> None:
        if url_path:
            response = page.goto(console.url + url_path)
            assert response is not None and response.ok, url_path
            assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__csp") == [], url_path or page.url
        assert console_errors == [], url_path or page.url
        page.screenshot(path=str(shots / f"csp-{name}.png"), full_page=True)

    page.goto(console.url + "/login/")
    check("", "login")
    page.get_by_label("User").fill("admin@acme")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(console.url + "/")  # the dashboard, the home page
    page.locator("#online-count").wait_for()
    assert page.evaluate("typeof window.htmx") == "object"

    # The instance list's filters run through htmx: typing narrows the table without a reload.
    for _ in range(60):
        check("/instances/", "instances")
        if page.locator("#instance-table .badge.ok").count() == 1:
            break
        page.wait_for_timeout(500)
    page.get_by_label("Search").fill("no-such-host")
    page.locator("#instance-table", has_text="No instances").wait_for()
    check("", "instances-filtered")

    # Run page: the picker (a static script) counts the selection; the invocation page streams output.
    check("/run/", "run")
    page.get_by_label("host-000").check()
    page.locator("#picker-count", has_text="1 selected").wait_for()
    page.get_by_label("Shell script").fill("echo '<script>window.pwned=1</script>'; echo csp-ok")
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url("**/invocations/t-*/")
    page.locator("#done", has_text="1").wait_for(timeout=20000)
    page.locator("[data-role=output]", has_text="csp-ok").wait_for()
    assert page.evaluate("window.pwned") is None
    check("", "invocation")

    for url_path, name in [
        ("/dashboard/", "dashboard"),
        (f"/instances/{instance_id}/", "instance"),
        ("/invocations/", "invocations"),
        ("/commands/", "commands"),
        ("/files/", "file-transfers"),
        ("/terminals/", "terminal-sessions"),
        ("/iam/", "iam"),
        ("/audit/", "audit"),
        ("/account/mfa/", "mfa"),
        ("/agent-releases/", "agent-releases"),
        ("/activations/", "activations"),
    ]:
        check(url_path, name)

    # Send file: its script (moved out of the page) describes the chosen file.
    check("/files/send/", "send-file")
    upload = tmp_path / "hello.txt"
    upload.write_text("hello\n")
    page.locator("#file").set_input_files(str(upload))
    page.locator("#chosen", has_text="hello.txt (6 bytes)").wait_for()
    check("", "send-file-chosen")
    context.close()
