"""Every error says what to do (issue 7): the 400/403/404/500 pages and the CSRF failure page name the
next step, and a refused console form adds the way out to the service's message (console/web/errors.py)."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views import defaults
from django.views.csrf import csrf_failure

from console.errors import NotFound, ServiceError
from console.iam import services as iam_services
from console.iam.authz import AccessDenied
from console.iam.models import User
from console.web.errors import form_error
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("error", "next_step"),
    [
        (AccessDenied("ecs:RunCommand", "acs:ecs:r:1:instance/mi-1"), "Ask an administrator"),
        (NotFound("InvalidInstance.NotFound", "The instance does not exist: mi-1."), "Reload the page"),
        (ServiceError("InvalidParameter.Timeout", "Timeout must be at most 604800 seconds (7 days)."), None),
    ],
)
def test_form_errors_keep_the_message_and_add_the_next_step(error, next_step):
    text = form_error(error)
    assert text.startswith(error.message)
    if next_step:
        assert next_step in text[len(error.message) :]
    else:  # the message already says what to do: nothing is added
        assert text == error.message


def test_404_page_says_what_to_do(root_principal):
    client = Client()
    client.force_login(User.objects.get(pk=root_principal.user_id))
    answer = client.get(reverse("invocation", args=["t-nope"]))
    html = answer.content.decode()
    assert answer.status_code == 404
    assert "Page not found" in html and "What you can do" in html and 'href="/"' in html


@pytest.mark.parametrize(
    ("render", "status", "words"),
    [
        (lambda r: defaults.permission_denied(r, PermissionDenied("No.")), 403, ["No.", "policy"]),
        (lambda r: defaults.bad_request(r, ValueError()), 400, ["Reload the page"]),
        (lambda r: defaults.server_error(r), 500, ["Try again in a moment", "log"]),
        (lambda r: csrf_failure(r, reason="token"), 403, ["reload the page, and send the form again"]),
    ],
)
def test_error_pages_say_what_to_do(rf: RequestFactory, root_principal, render, status, words):
    request = rf.get("/somewhere/")
    request.user = User.objects.get(pk=root_principal.user_id)
    answer = render(request)
    assert answer.status_code == status
    for word in words:
        assert word in answer.content.decode()


def test_a_ram_user_refused_on_the_run_form_is_told_whom_to_ask(root_principal):
    instance = make_instance(root_principal)
    user = iam_services.ram_user_create(principal=root_principal, name="no-run")
    client = Client()
    client.force_login(user)
    answer = client.post(reverse("run"), {"content": "echo", "timeout": "60", "instance_ids": [instance.id]})
    html = answer.content.decode()
    assert answer.status_code == 400
    assert "User not authorized" in html and "Ask an administrator of the account" in html
