"""A read-only RAM user watches an invocation in a real browser: the page has no Stop, Stop selected, row
selection or Rerun control (the user's policies allow none of them), and its script still follows the run
live to the end without an error (invocation.js copes with the controls being absent)."""

import pytest

from tests.browser.test_console_invocation import log_in, run
from tests.browser.test_live_output import browser  # noqa: F401 - fixture
from tests.live import embedded_console

pytestmark = [pytest.mark.browser, pytest.mark.live]
READER_PASSWORD = "Reader-pass-2026!"


@pytest.fixture(scope="module")
def console_with_agents(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("console")
    procs, console = embedded_console(workdir)
    try:
        console.bootstrap()
        console.add_agents(2)
        procs.manage(
            "shell",
            "-c",
            "from console.iam import services as s\n"
            "from console.iam.models import Policy, User\n"
            "from console.iam.principal import Principal\n"
            "root = Principal.for_user(User.objects.get(login_name='admin@acme'))\n"
            f"reader = s.ram_user_create(principal=root, name='reader', password={READER_PASSWORD!r})\n"
            "policy = Policy.objects.get(account=None, name='AliyunECSAssistantReadonlyAccess')\n"
            "s.policy_attach(principal=root, policy=policy, to_user=reader)\n",
        )
        yield console
    finally:
        procs.stop_all()


def test_a_read_only_user_follows_a_run_live_without_its_controls(browser, console_with_agents):  # noqa: F811
    console = console_with_agents
    root_page = log_in(browser, console)
    invocation_id = run(root_page, console, "echo started; sleep 8; echo finished; exit 3")
    assert root_page.locator("#stop-button").count() == 1  # root has the controls

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(console.url + "/")
    page.get_by_label("User").fill("reader@acme")
    page.get_by_label("Password").fill(READER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(console.url + "/")
    page.goto(f"{console.url}/invocations/{invocation_id}/")
    assert page.locator("#overall").inner_text() in {"Pending", "Running"}
    for control in ("#stop-button", "#stop-selected", "#rerun-link", "[data-role=select]"):
        assert page.locator(control).count() == 0, control
    assert page.locator("#read-only-note").is_visible()
    # The run ends while the page is open: statuses, counts and output arrive over the websocket.
    page.locator("#overall", has_text="Failed").wait_for(timeout=30000)
    page.locator("#done", has_text="2").wait_for()
    page.get_by_role("button", name="Expand all").click()
    page.locator("[data-role=output]", has_text="finished").first.wait_for()
    assert page.locator("#rerun-link").count() == 0
    assert errors == []
