"""Every destructive action asks first (issue 7). A form whose button removes, deletes, ends, stops,
detaches, disables or turns something off either carries ``data-confirm`` (the dialog of
static/assist/confirm.js, driven in tests/browser/test_console_instance.py) or is itself a confirmation
page reached from a "…" link or button."""

import re
from pathlib import Path

import pytest
from django.conf import settings

TEMPLATES = Path(settings.BASE_DIR) / "templates"
DESTRUCTIVE = re.compile(
    r"\b(Remove|Delete|End session|Stop|Detach|Disable|Deregister|Revoke|Turn \w+ off)\b"
)
# Pages that are the confirmation: they say what will happen and their button does it.
CONFIRMATION_PAGES = {
    "commands/delete.html",
    "commands/stop.html",
    "iam/confirm.html",
    "web/rerun.html",
    "web/invocation.html",  # the stop dialog's "Stop now"
}
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S)
BUTTON = re.compile(r"<button\b[^>]*>(.*?)</button>", re.S)


def _destructive_forms():
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        for attributes, body in FORM.findall(path.read_text()):
            if "post" not in attributes.lower():
                continue
            labels = " ".join(BUTTON.findall(body))
            if DESTRUCTIVE.search(labels):
                yield name, attributes, labels.strip()


def test_the_scan_finds_the_known_destructive_forms():
    found = {name for name, _, _ in _destructive_forms()}
    assert {"terminals/instance.html", "terminals/terminal.html", "mfa/manage.html"} <= found


@pytest.mark.parametrize(("name", "attributes", "labels"), list(_destructive_forms()))
def test_every_destructive_form_asks_first(name, attributes, labels):
    if name in CONFIRMATION_PAGES:
        return
    assert "data-confirm=" in attributes, f"{name}: the form of {labels!r} submits without confirmation"


def test_links_to_destructive_pages_say_they_ask_first():
    """A GET link or button to a delete/detach/remove/stop page ends with "…" (it opens a confirmation)."""
    link = re.compile(r"<(a|button)\b[^>]*>([^<]*\b(?:Delete|Detach|Remove|Stop)\b[^<]*)</\1>")
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        if name in CONFIRMATION_PAGES:
            continue
        text = path.read_text()
        for form_attributes, body in FORM.findall(text):
            if "post" in form_attributes.lower():  # checked above
                text = text.replace(body, "")
        for _, label in link.findall(text):
            assert label.strip().endswith("…"), f"{name}: {label.strip()!r} should open a confirmation (…)"
