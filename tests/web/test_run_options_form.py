"""The run options on both console run pages (issue 3): termination mode, container, MaxConcurrency,
MaxErrors and the reboot repeat modes reach RunCommand's and InvokeCommand's services from the forms,
and a refused value is shown on the form with nothing created."""

import pytest
from django.test import Client
from django.urls import reverse

from console.commands import services as cmd_services
from console.iam.models import User
from console.invocations.models import Invocation, InvocationResult
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db
CONTAINER = "a" * 64


@pytest.fixture
def logged_in(root_principal) -> Client:
    client = Client()
    client.force_login(User.objects.get(pk=root_principal.user_id))
    return client


def _run(client: Client, url: str, instances, **fields):
    data = {"content": "echo hi", "timeout": "60", "instance_ids": [i.id for i in instances], **fields}
    return client.post(url, data)


@pytest.mark.parametrize("page", ["run", "command_run"])
def test_options_reach_the_invocation(logged_in, root_principal, page):
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    url = reverse("run")
    if page == "command_run":
        command = cmd_services.command_create(principal=root_principal, name="c", command_content="echo")
        url = reverse("command_run", args=[command.id])
    answer = _run(
        logged_in, url, [a, b], max_concurrency="1", max_errors="50%", termination_mode="Process",
        container_id=CONTAINER,
    )  # fmt: skip
    assert answer.status_code == 302, answer.content.decode()[:2000]
    invocation = Invocation.objects.get()
    assert (invocation.max_concurrency, invocation.max_errors) == ("1", "50%")
    assert (invocation.termination_mode, invocation.container_id) == ("Process", CONTAINER)
    queued = InvocationResult.objects.filter(invocation=invocation, queued=True).count()
    assert queued == 1  # MaxConcurrency=1: the second instance waits for a slot


@pytest.mark.parametrize(
    ("choice", "mode"), [("next-reboot", "NextRebootOnly"), ("every-reboot", "EveryReboot")]
)
def test_a_reboot_schedule_makes_a_reboot_task(logged_in, root_principal, choice, mode):
    instance = make_instance(root_principal)
    answer = _run(logged_in, reverse("run"), [instance], schedule=choice)
    assert answer.status_code == 302
    invocation = Invocation.objects.get()
    assert invocation.repeat_mode == mode
    assert InvocationResult.objects.get(invocation=invocation).status == "Scheduled"
    page = logged_in.get(reverse("invocation", args=[invocation.id])).content.decode()
    assert "after the next reboot" in page.lower() or "after every reboot" in page.lower()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_concurrency": "0"}, "MaxConcurrency must be at least 1"),
        ({"max_errors": "150%"}, "from 1% to 100%"),
        ({"container_id": "xyz"}, "64 hexadecimal digits"),
        ({"termination_mode": "Everything"}, "use Process or ProcessTree"),
    ],
)
def test_a_refused_option_is_explained_and_nothing_runs(logged_in, root_principal, fields, message):
    instance = make_instance(root_principal)
    answer = _run(logged_in, reverse("run"), [instance], **fields)
    html = answer.content.decode()
    assert answer.status_code == 400 and message in html
    assert not Invocation.objects.exists()
    for name, value in fields.items():  # the form keeps what was typed
        assert f'value="{value}"' in html or f'value="{value}" selected' in html or name == "termination_mode"


def test_both_run_pages_show_the_labelled_options(logged_in, root_principal):
    make_instance(root_principal)
    command = cmd_services.command_create(principal=root_principal, name="c", command_content="echo")
    for url in (reverse("run"), reverse("command_run", args=[command.id])):
        html = logged_in.get(url).content.decode()
        for field in ("termination_mode", "max_concurrency", "max_errors", "container_id", "container_name"):
            assert f'<label for="{field}"' in html and f'id="{field}"' in html, (url, field)
        assert 'value="next-reboot"' in html and 'value="every-reboot"' in html
        assert '<option value="ProcessTree" selected>' in html  # the services' default, preselected
