"""The console's run form with a schedule, and the invocation page of a periodic task."""

import pytest
from django.urls import reverse

from console.iam.models import User
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, root_principal):
    client.force_login(User.objects.get(pk=root_principal.user_id))
    return client


def post_run(client, instance, **fields):
    data = {"content": "echo hi", "timeout": "30", "instance_ids": [instance.id], **fields}
    return client.post(reverse("run"), data)


def test_the_form_offers_the_schedules(logged_in):
    html = logged_in.get(reverse("run")).content.decode()
    for value in ("once", "rate", "at", "cron"):
        assert f'<option value="{value}"' in html
    assert 'name="frequency"' in html


@pytest.mark.parametrize(
    ("schedule", "frequency", "stored"),
    [
        ("rate", "5m", "rate(5m)"),
        ("at", "2099-12-01 10:00:00 Asia/Tokyo", "at(2099-12-01 10:00:00 Asia/Tokyo)"),
        ("cron", "0 0 12 * * ?", "0 0 12 * * ?"),
    ],
)
def test_a_scheduled_run_waits_and_its_page_shows_the_next_run(
    logged_in, root_principal, schedule, frequency, stored
):
    instance = make_instance(root_principal)
    answer = post_run(logged_in, instance, schedule=schedule, frequency=frequency)
    assert answer.status_code == 302
    invocation = Invocation.objects.get()
    assert (invocation.repeat_mode, invocation.frequency) == ("Period", stored)
    assert InvocationResult.objects.get().status == st.SCHEDULED
    page = logged_in.get(answer.url).content.decode()
    assert "Scheduled" in page
    assert f'next run <time datetime="{invocation.next_run_at.isoformat()}' in page.replace(
        "+00:00", "+00:00"
    )


@pytest.mark.parametrize(
    ("schedule", "frequency", "message"),
    [
        ("rate", "30s", "at least 60 seconds"),
        ("cron", "", "Give the cron schedule"),
        ("at", "2001-01-01 00:00:00", "already passed"),
        ("cron", "0 0 12 1 * MON", "either a day of month or a day of week"),
    ],
)
def test_a_bad_frequency_is_explained_and_nothing_runs(
    logged_in, root_principal, schedule, frequency, message
):
    instance = make_instance(root_principal)
    answer = post_run(logged_in, instance, schedule=schedule, frequency=frequency)
    assert answer.status_code == 400
    assert message in answer.content.decode()
    assert not Invocation.objects.exists()
    assert f'value="{frequency}"' in answer.content.decode()  # what was typed is kept


def test_once_ignores_a_leftover_frequency(logged_in, root_principal):
    answer = post_run(logged_in, make_instance(root_principal), schedule="once", frequency="5m")
    assert answer.status_code == 302
    assert Invocation.objects.get().repeat_mode == "Once"


def test_a_saved_command_can_be_scheduled_from_its_run_page(logged_in, root_principal):
    import base64

    from console.commands import services as cmd_services

    instance = make_instance(root_principal)
    command = cmd_services.command_create(
        principal=root_principal, name="c", command_content=base64.b64encode(b"uptime").decode(), timeout=20
    )
    url = reverse("command_run", args=[command.id])
    page = logged_in.get(url).content.decode()
    assert '<select id="schedule" name="schedule">' in page
    refused = logged_in.post(url, {"instance_ids": [instance.id], "schedule": "rate", "frequency": "10s"})
    assert refused.status_code == 400 and "at least 60 seconds" in refused.content.decode()
    answer = logged_in.post(
        url, {"instance_ids": [instance.id], "schedule": "cron", "frequency": "0 0 3 ? * MON"}
    )
    assert answer.status_code == 302
    invocation = Invocation.objects.get()
    assert (invocation.command_id, invocation.repeat_mode, invocation.frequency) == (
        command.id, "Period", "0 0 3 ? * MON",
    )  # fmt: skip
