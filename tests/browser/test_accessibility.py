"""Accessibility audit of every main page in a real browser (Debian's chromium + Playwright against
`manage.py serve` with one real agent): axe-core (npm, pinned in frontend/, copied to static/vendor/axe/
by `make vendor`, used by this test only) finds no serious or critical violation, and every input and
button has an accessible name. The page's CSP is bypassed only to inject axe; the pages are as served."""

import json
from pathlib import Path

import pytest
from django.conf import settings

from tests.browser.test_live_output import browser  # noqa: F401 - fixture
from tests.live import IN_CI, PASSWORD, embedded_console

pytestmark = [pytest.mark.browser, pytest.mark.live]
AXE = Path(settings.BASE_DIR) / "static" / "vendor" / "axe" / "axe.min.js"
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary) }));
}"""
UNNAMED_CONTROLS = """() => {
  const unnamed = [];
  axe.setup(document);  // axe's accessible-name computation needs its tree of the page
  try {
    for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button")) {
      if (!el.getClientRects().length) continue;  // not shown (a closed dialog, a hidden control)
      const name = axe.commons.text.accessibleTextVirtual(axe.utils.getNodeFromTree(el));
      if (!name || !name.trim()) unnamed.push(el.outerHTML.slice(0, 160));
    }
  } finally {
    axe.teardown();
  }
  return unnamed;
}"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    if not AXE.exists():
        if IN_CI:
            pytest.fail(f"{AXE} is missing: run make vendor (needs npm)")
        pytest.skip(f"{AXE} is missing: run make vendor (needs npm)")
    workdir = tmp_path_factory.mktemp("a11y")
    procs, console = embedded_console(workdir)
    try:
        console.bootstrap()
        ids = console.add_agents(1)
        yield console, ids[0]
    finally:
        procs.stop_all()


def test_main_pages_have_no_serious_accessibility_violations(browser, fleet):  # noqa: F811
    console, instance_id = fleet
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    found: dict[str, object] = {}

    def audit(name: str) -> None:
        page.wait_for_load_state("networkidle")
        if not page.evaluate("typeof window.axe") == "object":
            page.add_script_tag(path=str(AXE))
        violations = page.evaluate(RUN_AXE)
        unnamed = page.evaluate(UNNAMED_CONTROLS)
        if violations or unnamed:
            found[name] = {"violations": violations, "unnamed controls": unnamed}

    page.goto(console.url + "/login/")
    audit("login")
    page.get_by_label("User").fill("admin@acme")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(console.url + "/")
    audit("dashboard")

    # A finished run gives the invocation page its rows and output.
    page.goto(console.url + "/run/")
    for _ in range(60):
        if page.locator(".target .badge.ok").count() == 1:
            break
        page.wait_for_timeout(500)
        page.reload()
    audit("run")
    page.get_by_label("host-000").check()
    page.get_by_label("Shell script").fill("echo accessible")
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url("**/invocations/t-*/")
    page.locator("[data-role=output]", has_text="accessible").wait_for(timeout=90000)
    audit("invocation")

    page.goto(console.url + "/commands/new/")
    page.get_by_label("Script", exact=True).fill("echo {{greeting}}")
    page.get_by_label("Use parameters").check()
    page.locator("#parameter-names", has_text="greeting").wait_for()
    page.get_by_role("button", name="Preview script").click()
    page.locator("#rendered-preview .warning").wait_for()
    audit("command form")
    page.get_by_label("Name", exact=True).fill("a11y")
    page.get_by_role("button", name="Create command").click()
    page.wait_for_url("**/commands/c-*/")
    audit("command")
    command_url = page.url
    page.goto(command_url + "run/")
    audit("command run")

    # Detail pages of Users and permissions: a user, a group and a role made through their forms.
    page.goto(console.url + "/iam/users/")
    page.get_by_label("User name").fill("a11y-user")
    page.get_by_role("button", name="Create user").click()
    page.wait_for_url("**/iam/users/a11y-user/")
    audit("iam user")
    page.goto(console.url + "/iam/groups/")
    page.get_by_label("Group name").fill("a11y-group")
    page.get_by_role("button", name="Create group").click()
    page.wait_for_url("**/iam/groups/a11y-group/")
    audit("iam group")
    page.goto(console.url + "/iam/roles/")
    page.get_by_label("Name", exact=True).fill("a11y-role")
    page.get_by_role("button", name="Create role").click()
    page.wait_for_url("**/iam/roles/a11y-role/")
    audit("iam role")

    for path, name in [
        ("/instances/", "instances"),
        (f"/instances/{instance_id}/", "instance"),
        ("/invocations/", "invocations"),
        ("/commands/", "commands"),
        ("/files/", "file transfers"),
        ("/files/send/", "send file"),
        ("/terminals/", "terminal sessions"),
        ("/activations/", "activations"),
        ("/agent-releases/", "agent versions"),
        ("/iam/", "users and permissions"),
        ("/iam/users/", "new user"),
        ("/iam/groups/", "new group"),
        ("/iam/policies/", "new policy"),
        ("/iam/roles/", "new role"),
        ("/audit/", "audit trail"),
        ("/account/mfa/", "mfa"),
        ("/no-such-page/", "not found"),
    ]:
        page.goto(console.url + path)
        audit(name)
    context.close()
    assert not found, json.dumps(found, indent=1)
