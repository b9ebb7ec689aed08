"""The instance detail page and the run page's instance picker in a real browser (Debian's chromium +
Playwright against `manage.py serve` with two real agents and one registered instance whose agent never
starts, so it stays offline), used through accessible names as a new user would. Screenshots go to
$ASSIST_SCREENSHOT_DIR (default: the test's tmp dir)."""

import os
from pathlib import Path

import pytest

from tests.browser.test_live_output import browser  # noqa: F401 - fixture
from tests.live import PASSWORD, embedded_console

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("instance")
    procs, console = embedded_console(workdir)
    try:
        console.bootstrap()
        online = console.add_agents(2)
        offline = console.register_agent("host-002", console.create_activation(count=1))
        yield console, online, offline
    finally:
        procs.stop_all()


@pytest.fixture
def shots(tmp_path) -> Path:
    where = Path(os.environ.get("ASSIST_SCREENSHOT_DIR") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def test_instance_page_tags_and_the_picker_by_tag_search_count_and_offline_warning(
    browser,  # noqa: F811
    fleet,
    shots,
    tmp_path,
):
    console, (first, second), offline = fleet
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(console.url + "/login/")
    page.get_by_label("User").fill("admin@acme")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(console.url + "/")  # the dashboard, the home page
    page.goto(console.url + "/instances/")
    for _ in range(60):
        if page.locator("#instance-table .badge.ok").count() == 2:
            break
        page.wait_for_timeout(500)
        page.reload()
    assert page.locator("#instance-table .badge.ok").count() == 2, "the agents never came online"

    # The instance page: inventory, then a tag added and another added and removed.
    page.get_by_role("link", name=first).click()
    page.wait_for_url(f"**/instances/{first}/")
    inventory = page.get_by_role("table", name="Inventory")
    for fact in ("Online", "Hostname", "Agent version", "Registered", "Last heartbeat"):
        assert fact in inventory.inner_text(), fact
    tags = page.get_by_role("list", name="Tags")
    page.get_by_label("New tag").fill("role=web")
    page.get_by_role("button", name="Add tag").click()
    tags.get_by_text("role=web").wait_for()
    page.get_by_label("New tag").fill("temp=1")
    page.get_by_role("button", name="Add tag").click()
    tags.get_by_text("temp=1").wait_for()
    page.screenshot(path=str(shots / "instance.png"), full_page=True)
    # Removing asks first: Cancel keeps the tag, "Remove tag" in the dialog removes it.
    page.get_by_role("button", name="Remove tag temp").click()
    confirm = page.get_by_role("dialog", name="Please confirm")
    confirm.wait_for()
    assert "Remove the tag temp=1" in confirm.inner_text()
    confirm.get_by_role("button", name="Cancel").click()
    confirm.wait_for(state="hidden")
    page.reload()
    tags.get_by_text("temp=1").wait_for()
    page.get_by_role("button", name="Remove tag temp").click()
    confirm.get_by_role("button", name="Remove tag").click()
    page.wait_for_load_state()
    tags.get_by_text("temp=1").wait_for(state="detached")
    assert "temp=1" not in tags.inner_text() and "role=web" in tags.inner_text()
    page.get_by_label("New tag").fill("aliyun:x=1")
    page.get_by_role("button", name="Add tag").click()
    assert "must not start with aliyun" in page.get_by_role("alert").inner_text()

    page.goto(f"{console.url}/instances/{second}/")
    page.get_by_label("New tag").fill("role=web")
    page.get_by_role("button", name="Add tag").click()
    page.get_by_role("list", name="Tags").get_by_text("role=web").wait_for()

    # "Send file" and "Run command" open their forms with this instance chosen.
    page.get_by_role("link", name="Send file", exact=True).last.click()
    page.wait_for_url("**/files/send/?instance=*")
    assert page.get_by_label("host-001").is_checked() and not page.get_by_label("host-000").is_checked()
    # The send page has the same picker: the count, and the question before sending to an offline one.
    assert page.locator("#picker-count").inner_text() == "1 selected"
    page.get_by_label("host-002").check()
    assert page.locator("#picker-count").inner_text() == "2 selected (1 offline)"
    upload = tmp_path / "app.conf"
    upload.write_text("x=1\n")
    page.locator("#file").set_input_files(str(upload))
    page.get_by_label("Target dir").fill(str(tmp_path / "nowhere"))
    page.get_by_role("button", name="Send", exact=True).click()
    send_dialog = page.get_by_role("dialog", name="Some selected instances are offline")
    send_dialog.wait_for()
    assert f"host-002 ({offline})" in send_dialog.inner_text()
    assert send_dialog.get_by_role("button", name="Send anyway").is_visible()
    send_dialog.get_by_role("button", name="Cancel").click()
    assert page.locator("#upload-progress").is_hidden() and "/files/send/" in page.url
    page.go_back()
    page.get_by_role("navigation", name="Instance actions").get_by_role("link", name="Run command").click()
    page.wait_for_url("**/run/?instance=*")
    count = page.locator("#picker-count")
    assert count.inner_text() == "1 selected" and page.get_by_label("host-001").is_checked()

    # The picker: by tag, by search, all matching; the count follows; offline is counted.
    page.get_by_role("button", name="Clear selection").click()
    assert count.inner_text() == "0 selected"
    page.get_by_label("Select by tag").fill("role=web")
    page.get_by_role("button", name="Select tagged").click()
    assert count.inner_text() == "2 selected"
    assert page.locator("#picker-tag-result").inner_text() == "2 instances with role=web selected."
    assert not page.get_by_label("host-002").is_checked()
    page.get_by_label("Find instances").fill(offline)
    assert page.locator("label.target:visible").count() == 1
    assert page.get_by_label("host-002").is_visible() and not page.get_by_label("host-000").is_visible()
    page.get_by_role("button", name="Select all matching").click()
    assert count.inner_text() == "3 selected (1 offline)"
    page.get_by_label("Find instances").fill("HOST-00")  # case-insensitive; every row again
    assert page.locator("label.target:visible").count() == 3
    page.get_by_label("Find instances").fill("no-such-thing")
    assert page.get_by_text("No instance matches.").is_visible()
    page.get_by_label("Find instances").fill("")

    # Running on an offline instance asks first; Cancel stays; Run anyway runs on all three.
    page.get_by_label("Shell script").fill("echo picked")
    page.get_by_role("button", name="Run", exact=True).click()
    dialog = page.get_by_role("dialog", name="Some selected instances are offline")
    dialog.wait_for()
    assert f"host-002 ({offline})" in dialog.inner_text()
    page.screenshot(path=str(shots / "run-picker-offline.png"), full_page=True)
    dialog.get_by_role("button", name="Cancel").click()
    assert not dialog.is_visible() and page.url.endswith(f"/run/?instance={second}")
    page.get_by_role("button", name="Run", exact=True).click()
    dialog.get_by_role("button", name="Run anyway").click()
    page.wait_for_url("**/invocations/t-*/")
    invocation_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert page.locator("#total").inner_text() == "3"

    # The instance's recent runs link to that invocation.
    page.goto(f"{console.url}/instances/{first}/")
    runs = page.get_by_role("table", name="Recent runs")
    runs.get_by_role("link", name=invocation_id).click()
    page.wait_for_url(f"**/invocations/{invocation_id}/")
