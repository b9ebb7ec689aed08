"""Console pages through Django's test client: login wall, account isolation, run form errors."""

import pytest
from django.test import Client
from django.urls import reverse

from console.iam.models import User
from console.invocations import services
from console.invocations.models import Invocation
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, root_principal):
    client.force_login(User.objects.get(pk=root_principal.user_id))
    return client


@pytest.mark.parametrize("name", ["instances", "activations", "run", "invocations"])
def test_pages_need_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_with_name_at_account(client, root_principal):
    response = client.post("/login/", {"username": "admin@acme", "password": "long-enough-pw"})
    assert response.status_code == 302
    wrong = client.post("/login/", {"username": "admin@acme", "password": "nope"})
    assert wrong.status_code == 200 and b"do not match" in wrong.content


def test_run_form_creates_invocation_and_lands_on_it(logged_in, root_principal):
    instance = make_instance(root_principal)
    response = logged_in.post(
        reverse("run"), {"content": "echo hi", "timeout": "30", "instance_ids": [instance.id]}
    )
    invocation = Invocation.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("invocation", args=[invocation.id])
    page = logged_in.get(response["Location"])
    assert page.status_code == 200 and instance.id.encode() in page.content


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"content": "", "timeout": "30"}, b"must not be empty"),
        ({"content": "echo", "timeout": "0"}, b"positive whole number"),
        ({"content": "echo", "timeout": "abc"}, b"positive whole number"),
    ],
)
def test_run_form_errors_are_shown_and_nothing_is_created(logged_in, root_principal, form, message):
    instance = make_instance(root_principal)
    response = logged_in.post(reverse("run"), {**form, "instance_ids": [instance.id]})
    assert response.status_code == 400 and message in response.content
    assert Invocation.objects.count() == 0


def test_another_accounts_invocation_and_instances_are_invisible(logged_in, other_principal):
    foreign = make_instance(other_principal, "their-host")
    invocation = services.invocation_run_command(
        principal=other_principal, instance_ids=[foreign.id], command_content="id"
    )
    assert logged_in.get(reverse("invocation", args=[invocation.id])).status_code == 404
    assert b"their-host" not in logged_in.get(reverse("instances")).content
    assert invocation.id.encode() not in logged_in.get(reverse("invocations")).content


def test_script_output_is_escaped(logged_in, root_principal):
    from console.invocations import reports

    instance = make_instance(root_principal)
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="x"
    )
    result = invocation.results.get()
    reports.result_record_output(
        instance_id=instance.id, task_id=result.id, seq=1, data=b"<script>alert(1)</script>"
    )
    page = logged_in.get(reverse("invocation", args=[invocation.id]))
    assert b"<script>alert(1)</script>" not in page.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page.content


def test_activation_code_is_shown_once(logged_in):
    response = logged_in.post(reverse("activations"), {"instance_count": "3", "ttl_hours": "4"})
    assert response.status_code == 200 and b"assist-agent register" in response.content
    again = logged_in.get(reverse("activations"))
    assert b"assist-agent register" not in again.content
    bad = logged_in.post(reverse("activations"), {"instance_count": "0", "ttl_hours": "4"})
    assert bad.status_code == 400 and b"between 1 and 1000" in bad.content


def test_invocation_list_shows_status_and_count_in_constant_queries(
    logged_in, root_principal, django_assert_max_num_queries
):
    instances = [make_instance(root_principal, f"h{n}").id for n in range(3)]
    for n in range(5):
        services.invocation_run_command(
            principal=root_principal, instance_ids=instances[: 1 + n % 3], command_content="id"
        )
    with django_assert_max_num_queries(12):
        page = logged_in.get(reverse("invocations"))
    assert page.content.count(b"s-Pending") == 5
    assert b"<td>3</td>" in page.content and b"<td>1</td>" in page.content


def test_home_page_is_the_dashboard_for_a_logged_in_user(logged_in, root_principal):
    make_instance(root_principal, "home-1")
    anonymous = Client().get("/")
    assert anonymous.status_code == 302 and anonymous["Location"] == "/login/"
    home, dashboard = logged_in.get("/"), logged_in.get(reverse("dashboard"))
    assert home.status_code == dashboard.status_code == 200
    assert "<h1>Dashboard</h1>" in home.content.decode()
    assert 'id="online-count"' in home.content.decode()
