"""Send file in a real browser (Debian's chromium driven by Playwright) against `manage.py serve` with its
local agent: upload through the form, watch the transfer's page turn to Success without a reload."""

import hashlib
import os

import pytest

from tests.browser.test_live_output import browser, console_with_local_agent  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_upload_through_the_form_and_see_success(browser, console_with_local_agent, tmp_path):  # noqa: F811
    console, password = console_with_local_agent
    page = browser.new_page()
    page.goto(console.url + "/")
    page.fill("input[name=username]", "admin@default")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(console.url + "/")

    for _ in range(60):
        page.goto(console.url + "/files/send/")
        if page.locator(".target .badge.ok").count() == 1:
            break
        page.wait_for_timeout(500)
    assert page.locator(".target .badge.ok").count() == 1, "the local agent never came online"

    content = os.urandom(3 * 1024 * 1024 + 5)
    source = tmp_path / "payload.bin"
    source.write_bytes(content)
    target = tmp_path / "target"

    # A field error comes back next to its field, and nothing is lost from the form.
    page.set_input_files("#file", str(source))
    page.locator(".target input[type=checkbox]").check()
    page.fill("#target_dir", "relative/dir")
    page.click("#send-button")
    error = page.locator('.field-error[data-for="target_dir"]')
    error.wait_for(state="visible", timeout=15000)
    assert "absolute" in error.inner_text()

    page.fill("#target_dir", str(target))
    page.fill("#mode", "0600")
    page.click("#send-button")
    page.wait_for_url("**/files/f-*/", timeout=30000)
    assert page.locator("#upload-progress").count() == 0  # we left the form: the upload completed
    page.evaluate("window.__sameDocument = true")
    page.locator("#overall", has_text="Success").wait_for(timeout=30000)
    assert page.evaluate("window.__sameDocument") is True  # updated in place, not reloaded
    assert page.locator("[data-role=status]").inner_text() == "Success"
    written = target / "payload.bin"  # the file name defaults to the uploaded one
    assert hashlib.sha256(written.read_bytes()).hexdigest() == hashlib.sha256(content).hexdigest()
    assert oct(written.stat().st_mode & 0o777) == "0o600"

    page.goto(console.url + "/files/")
    assert page.locator("table.grid tbody tr").count() == 1
    assert "Success" in page.locator("table.grid tbody tr").inner_text()


def test_a_dropped_file_uploads_with_a_moving_progress_bar(browser, console_with_local_agent, tmp_path):  # noqa: F811
    console, password = console_with_local_agent
    page = browser.new_page()
    page.goto(console.url + "/")
    page.fill("input[name=username]", "admin@default")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(console.url + "/")
    for _ in range(60):
        page.goto(console.url + "/files/send/")
        if page.locator(".target .badge.ok").count() == 1:
            break
        page.wait_for_timeout(500)
    assert page.locator(".target .badge.ok").count() == 1, "the local agent never came online"

    # Drop a file on the drop zone, as a user dragging it from their desktop does.
    size = 4 * 1024 * 1024
    dropped = page.evaluate_handle(
        """(size) => {
            const bytes = new Uint8Array(size);
            for (let i = 0; i < size; i++) bytes[i] = (i * 7 + 3) & 0xff;
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "dropped.bin"));
            return transfer;
        }""",
        size,
    )
    page.dispatch_event("#drop", "dragenter", {"dataTransfer": dropped})
    assert "over" in page.locator("#drop").get_attribute("class")  # the zone shows it will take the file
    page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
    assert page.locator("#chosen").inner_text() == f"dropped.bin ({size} bytes)"
    assert page.evaluate("document.getElementById('file').files[0].name") == "dropped.bin"

    # A slow uplink (1 MB/s) so the bar is seen between the start and the end of the upload.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 1024 * 1024},
    )
    target = tmp_path / "dropped"
    page.locator(".target input[type=checkbox]").check()
    page.fill("#target_dir", str(target))
    page.click("#send-button")
    page.wait_for_function(
        "() => { const bar = document.getElementById('upload-progress');"
        " return bar && !bar.hidden && bar.value > 0 && bar.value < 100; }",
        timeout=15000,
    )
    assert page.locator("#send-button").is_disabled()  # no second upload while one runs
    assert page.locator("#upload-percent").inner_text().endswith(" %")
    page.wait_for_url("**/files/f-*/", timeout=60000)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
             "downloadThroughput": -1, "uploadThroughput": -1})  # fmt: skip
    page.locator("#overall", has_text="Success").wait_for(timeout=30000)
    expected = bytes((i * 7 + 3) & 0xFF for i in range(size))
    written = target / "dropped.bin"
    assert hashlib.sha256(written.read_bytes()).hexdigest() == hashlib.sha256(expected).hexdigest()
