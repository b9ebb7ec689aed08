"""Console pages of the common commands through Django's test client: the list with its filters, a
version's detail with documented parameters, the run form (defaults fill empty inputs; bad values are
shown again with the service's message), copying into an own command, and RAM narrowing."""

import pytest
from django.urls import reverse

from console.commands.common import public_command, public_commands
from console.commands.models import Command
from console.iam.models import User
from console.invocations.delivery import task_run_frame
from console.invocations.models import Invocation, InvocationResult
from tests.commands.test_views import assert_every_input_is_labelled
from tests.conftest import make_instance
from tests.iam.conftest import ram_principal

pytestmark = pytest.mark.django_db

INSTALL = "c-acs-installpackage-linux-v1"


@pytest.fixture
def logged_in(client, root_principal):
    client.force_login(User.objects.get(pk=root_principal.user_id))
    return client


@pytest.mark.parametrize(
    ("name", "args"),
    [("common_commands", []), ("common_command", [INSTALL]), ("common_command_run", [INSTALL])],
)
def test_pages_need_login(client, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_command_list_links_to_the_common_commands(logged_in):
    html = logged_in.get(reverse("commands")).content.decode()
    assert f'href="{reverse("common_commands")}"' in html


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("", [c.id for c in public_commands() if c.latest], ["c-acs-healthcheck-linux-v1"]),
        ("?versions=all", ["c-acs-healthcheck-linux-v1", "c-acs-healthcheck-linux-v2"], []),
        ("?provider=AlibabaCloud.ECS.GuestOS", [INSTALL], ["c-acs-healthcheck-linux-v2"]),
        ("?provider=AlibabaCloud.ECS.GuestOSDiagnose", ["c-acs-healthcheck-linux-v2"], [INSTALL]),
        ("?q=chpasswd", ["c-acs-resetpassword-linux-v1"], [INSTALL]),  # found by its description
        ("?q=installpackage", [INSTALL], ["c-acs-resetpassword-linux-v1"]),
        ("?type=RunPowerShellScript", ["c-acs-manageservice-windows-v1"], [INSTALL]),
    ],
)
def test_list_filters(logged_in, query, shown, hidden):
    response = logged_in.get(reverse("common_commands") + query)
    assert response.status_code == 200
    html = response.content.decode()
    for command_id in shown:
        assert reverse("common_command", args=[command_id]) in html
    for command_id in hidden:
        assert reverse("common_command", args=[command_id]) not in html
    assert_every_input_is_labelled(html)


def test_list_answers_htmx_with_the_table_only(logged_in):
    response = logged_in.get(reverse("common_commands") + "?q=nothing-like-this", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and "No common command matches." in html


def test_detail_shows_script_parameters_and_versions(logged_in):
    response = logged_in.get(reverse("common_command", args=["ACS-ECS-InstanceHealthCheck-for-linux.sh"]))
    assert response.status_code == 200
    html = response.content.decode()
    command = public_command("c-acs-healthcheck-linux-v2")
    assert "c-acs-healthcheck-linux-v2" in html and "AlibabaCloud.ECS.GuestOSDiagnose" in html
    assert "disk_threshold" in html and command.parameters[0].description in html
    assert "set -eu" in html  # the script
    assert reverse("common_command", args=["c-acs-healthcheck-linux-v1"]) in html  # the other version
    assert reverse("common_command_run", args=["c-acs-healthcheck-linux-v2"]) in html
    assert logged_in.get(reverse("common_command", args=["c-acs-nothing"])).status_code == 404


def test_run_form_fills_defaults_and_runs(logged_in, root_principal):
    instance = make_instance(root_principal)
    url = reverse("common_command_run", args=[INSTALL])
    page = logged_in.get(url).content.decode()
    assert 'name="param.packages"' in page and 'name="param.dry_run"' in page
    assert '<option value="false" selected>' in page  # the default of a choice
    assert_every_input_is_labelled(page)

    refused = logged_in.post(url, {"instance_ids": [instance.id], "param.packages": "curl; reboot"})
    assert refused.status_code == 400
    assert "must match the pattern" in refused.content.decode()
    assert not Invocation.objects.exists()

    response = logged_in.post(
        url, {"instance_ids": [instance.id], "param.packages": "curl", "param.dry_run": ""}
    )
    invocation = Invocation.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("invocation", args=[invocation.id])
    assert (invocation.command_id, invocation.command_name) == (INSTALL, public_command(INSTALL).name)
    script = task_run_frame(InvocationResult.objects.get(invocation=invocation)).content
    assert "packages='curl'\ndry_run='false'\n" in script


def test_copy_into_my_commands(logged_in, root_principal):
    response = logged_in.post(reverse("common_command_clone", args=[INSTALL]))
    copy = Command.objects.get(account_id=root_principal.account_id)
    assert response.status_code == 302 and response["Location"] == reverse("command", args=[copy.id])
    assert copy.content == public_command(INSTALL).content and copy.enable_parameter


def test_ram_user_sees_only_the_public_commands_its_policy_names(client, root_principal):
    allowed = public_command(INSTALL).name
    document = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ecs:DescribeCommands",
                "Resource": f"acs:ecs:*:*:command/{allowed}",
            }
        ],
    }
    user = ram_principal(root_principal, "viewer", documents=(document,))
    client.force_login(User.objects.get(pk=user.user_id))
    html = client.get(reverse("common_commands")).content.decode()
    assert reverse("common_command", args=[INSTALL]) in html
    assert reverse("common_command", args=["c-acs-healthcheck-linux-v2"]) not in html
    assert client.get(reverse("common_command", args=["c-acs-healthcheck-linux-v2"])).status_code == 404


def test_the_command_page_of_a_common_id_or_name_leads_to_its_common_page(logged_in):
    command = public_commands()[0]
    for key in (command.id, command.name):
        response = logged_in.get(reverse("command", args=[key]))
        assert response.status_code == 302
        assert response["Location"] == reverse("common_command", args=[key])
    assert logged_in.get(reverse("command", args=["c-nothing-here"])).status_code == 404
