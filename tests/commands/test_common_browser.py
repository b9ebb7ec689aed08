"""The common commands in a real browser (Debian's chromium driven by Playwright) against `manage.py
serve` with a real agent, used as an operator would: from the command list to the common commands,
filtered by provider, a command's page, its run form (a choice for dry_run), and the output on the
invocation page."""

import re

import pytest

from tests.browser.test_accessibility import AXE, RUN_AXE, UNNAMED_CONTROLS
from tests.browser.test_live_output import browser  # noqa: F401 - fixture
from tests.live import IN_CI, PASSWORD, embedded_console, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def one_agent(tmp_path):
    procs, console = embedded_console(tmp_path)
    try:
        console.bootstrap()
        console.add_agents(1)
        yield console
    finally:
        procs.stop_all()


def test_find_open_and_dry_run_a_common_command(browser, one_agent):  # noqa: F811
    console = one_agent
    if not AXE.exists() and IN_CI:
        pytest.fail(f"{AXE} is missing: run make vendor (needs npm)")
    # The CSP is bypassed only to inject axe-core (as tests/browser/test_accessibility.py does).
    page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    found: dict[str, object] = {}

    def audit(name: str) -> None:
        """No serious or critical axe violation and no control without an accessible name."""
        if not AXE.exists():
            return
        page.wait_for_load_state("networkidle")
        if page.evaluate("typeof window.axe") != "object":
            page.add_script_tag(path=str(AXE))
        violations, unnamed = page.evaluate(RUN_AXE), page.evaluate(UNNAMED_CONTROLS)
        if violations or unnamed:
            found[name] = {"violations": violations, "unnamed controls": unnamed}

    page.goto(console.url + "/")
    page.get_by_label("User").fill("admin@acme")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(console.url + "/")

    page.goto(console.url + "/commands/")
    page.get_by_role("link", name="Common commands").click()
    page.wait_for_url("**/commands/common/")
    audit("common commands")
    table = page.locator("#common-commands")
    assert table.get_by_role("link", name="ACS-ECS-InstanceHealthCheck-for-linux.sh").count() == 1
    page.get_by_label("Provider").select_option("AlibabaCloud.ECS.GuestOS")  # htmx swaps the table
    wait_until(
        lambda: table.get_by_role("link", name="ACS-ECS-InstanceHealthCheck-for-linux.sh").count() == 0,
        timeout=10,
        message="the provider filter",
    )
    table.get_by_role("link", name="ACS-ECS-InstallPackage-for-linux.sh").click()
    page.wait_for_url("**/commands/common/c-acs-installpackage-linux-v1/")
    assert "Space-separated package names" in page.locator("#common-parameters").inner_text()
    audit("common command")

    page.get_by_role("button", name="Run…").click()
    page.wait_for_url(re.compile(r".*/commands/common/c-acs-installpackage-linux-v1/run/\??$"))
    audit("common command run")
    page.get_by_label("packages (required)").fill("curl")
    page.get_by_label("dry_run").select_option("true")
    wait_until(lambda: page.get_by_label("host-000").is_enabled(), timeout=30, message="the instance")
    page.get_by_label("host-000").check()
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url("**/invocations/t-*/")
    page.locator("#overall", has_text="Success").wait_for(timeout=60000)
    page.get_by_role("button", name="Expand all").click()
    output = page.locator("[data-role=output]").first
    output.filter(has_text="would run:").wait_for(timeout=10000)
    assert "package manager: " in output.inner_text() and " curl" in output.inner_text()
    assert not found, found
