"""The Content-Security-Policy header (console/web/csp.py) on every console answer, and no inline script
or event handler left in any template."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from console.iam.models import User
from console.web.csp import HEADER, policy
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def _directives(header: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in header.split("; ")}


def test_policy_forbids_inline_scripts_and_framing():
    directives = _directives(policy())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self' ws: wss:"
    assert "unsafe-inline" in _directives(policy(inline_styles=True))["style-src"]
    assert _directives(policy(inline_styles=True))["script-src"] == "'self'"


@pytest.mark.parametrize(
    "name,args",
    [
        ("dashboard", []),
        ("instances", []),
        ("instance", ["INSTANCE"]),
        ("run", []),
        ("invocations", []),
        ("commands", []),
        ("file-transfers", []),
        ("file-send", []),
        ("terminals", []),
        ("iam", []),
        ("audit", []),
        ("mfa", []),
        ("activations", []),
        ("agent-releases", []),
    ],
)
def test_every_console_page_carries_the_policy(root_principal, name, args):
    instance = make_instance(root_principal)
    client = Client()
    client.force_login(User.objects.get(pk=root_principal.user_id))
    response = client.get(reverse(name, args=[instance.id if a == "INSTANCE" else a for a in args]))
    assert response.status_code == 200, name
    assert response[HEADER] == policy()


def test_login_page_errors_and_api_answers_carry_the_policy(db):
    client = Client()
    assert client.get(reverse("login"))[HEADER] == policy()
    assert client.get("/no-such-page/")[HEADER] == policy()
    assert HEADER in client.post("/?Action=DescribeInstances")


def test_no_template_has_an_inline_script_event_handler_or_style():
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    event_handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        inline_styles = (re.compile(r"<style\b", re.IGNORECASE), re.compile(r"\sstyle\s*=", re.IGNORECASE))
        for pattern in (inline_script, event_handler, *inline_styles):
            offenders += [f"{template.relative_to(TEMPLATES)}: {m.group(0)}" for m in pattern.finditer(text)]
        if "javascript:" in text:
            offenders.append(f"{template.relative_to(TEMPLATES)}: javascript: URL")
    assert offenders == []
