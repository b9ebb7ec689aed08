"""The Launcher field of the command pages: new, edit and clone forms save it (and show a refusal), the
detail page shows it."""

import pytest
from django.urls import reverse

from console.commands import services as cmd_services
from console.commands.models import Command
from console.iam.models import User
from tests.commands.test_views import assert_every_input_is_labelled

pytestmark = pytest.mark.django_db

PY = "python3 -u {{ACS::ScriptFileName|Ext(.py)}}"


@pytest.fixture
def logged_in(client, root_principal):
    client.force_login(User.objects.get(pk=root_principal.user_id))
    return client


def _fields(**overrides: str) -> dict[str, str]:
    base = {"name": "py", "description": "", "type": "RunShellScript", "content": "print(1)"}
    return {**base, "working_dir": "", "timeout": "60", **overrides}


def test_new_command_with_a_launcher_and_its_page(logged_in):
    page = logged_in.get(reverse("command_new")).content.decode()
    assert 'id="launcher"' in page and "launcher-help" in page
    assert_every_input_is_labelled(page)

    bad = logged_in.post(reverse("command_new"), _fields(launcher="python3 {{ACS::ScriptFileName|Ext(py)}}"))
    assert bad.status_code == 400 and "bad extension" in bad.content.decode()
    assert not Command.objects.exists()

    response = logged_in.post(reverse("command_new"), _fields(launcher=PY))
    command = Command.objects.get()
    assert response["Location"] == reverse("command", args=[command.id]) and command.launcher == PY
    detail = logged_in.get(reverse("command", args=[command.id])).content.decode()
    assert '<dd id="command-launcher"><code>python3 -u {{ACS::ScriptFileName|Ext(.py)}}</code></dd>' in detail


def test_edit_and_clone_keep_or_change_the_launcher(logged_in, root_principal):
    command = cmd_services.command_create(
        principal=root_principal, name="py", command_content="x", launcher=PY
    )
    edit = reverse("command_edit", args=[command.id])
    assert f'value="{PY}"' in logged_in.get(edit).content.decode()
    logged_in.post(
        edit, {"name": "py", "description": "", "working_dir": "", "timeout": "60", "launcher": "perl"}
    )
    command.refresh_from_db()
    assert command.launcher == "perl"

    clone_page = logged_in.get(reverse("command_clone", args=[command.id])).content.decode()
    assert 'value="perl"' in clone_page
    logged_in.post(reverse("command_clone", args=[command.id]), _fields(launcher="perl"))
    clone = Command.objects.exclude(pk=command.id).get()
    assert clone.launcher == "perl"

    logged_in.post(
        edit, {"name": "py", "description": "", "working_dir": "", "timeout": "60", "launcher": ""}
    )
    command.refresh_from_db()
    assert command.launcher == ""
    detail = logged_in.get(reverse("command", args=[command.id])).content.decode()
    assert '<dd id="command-launcher">the type\'s shell</dd>' in detail
