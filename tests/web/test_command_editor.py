"""The command editor's previews (issue 7) through Django's test client: the parameter names the typed
script uses (parsed by console/commands/parameters.py, the run's parser), and the script rendered for one
chosen instance with values and built-ins filled, or the error saying what to do."""

import pytest
from django.test import Client
from django.urls import reverse

from console.iam import services as iam_services
from console.iam.models import User
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(root_principal) -> Client:
    client = Client()
    client.force_login(User.objects.get(pk=root_principal.user_id))
    return client


def _names(client: Client, content: str, enabled: bool = True, **values: str) -> str:
    data = {"content": content, **{f"preview.{k}": v for k, v in values.items()}}
    if enabled:
        data["enable_parameter"] = "on"
    response = client.post(reverse("command-editor-parameters"), data)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    ("content", "shown", "absent"),
    [
        (
            "echo {{version}} {{ env }}",
            ["<code>version</code>", "<code>env</code>", 'name="preview.env"'],
            [],
        ),  # noqa: E501
        ("echo {{Name}} {{name}}", ["<code>Name</code>"], ["<code>name</code>"]),  # case-insensitive, once
        ("echo {{ACS::InstanceId}}", ["Built-ins: <code>ACS::InstanceId</code>", "No parameters used"], []),
        ("echo {{ACS::Nope}}", ["reserved prefix ACS::", "Fix the placeholder"], ["preview."]),
        ("echo {{bad name}}", ["is not valid", 'role="alert"'], []),
        ("echo {{}}", ["has no name"], []),
        (" ".join(f"{{{{p{i}}}}}" for i in range(21)), ["limit is 20"], []),
        ("echo plain", ["No parameters used yet"], []),
    ],
)
def test_parameter_preview_lists_names_or_says_what_is_wrong(logged_in, content, shown, absent):
    html = _names(logged_in, content)
    for text in shown:
        assert text in html
    for text in absent:
        assert text not in html


def test_parameter_preview_with_parameters_off_says_placeholders_stay_literal(logged_in):
    html = _names(logged_in, "echo {{version}}", enabled=False)
    assert "Parameters are off" in html and "preview." not in html


def test_parameter_preview_keeps_typed_values(logged_in):
    html = _names(logged_in, "echo {{version}}", version="1.2")
    assert 'name="preview.version" value="1.2"' in html


def _render(client: Client, **data: str) -> str:
    response = client.post(reverse("command-editor-render"), {"enable_parameter": "on", **data})
    assert response.status_code == 200
    return response.content.decode()


def test_rendered_preview_fills_values_and_builtins_for_the_instance(logged_in, root_principal):
    instance = make_instance(root_principal, "web-7")
    html = _render(
        logged_in,
        content="echo {{version}} on {{ACS::InstanceId}} {{ACS::InstanceName}} {{ACS::AccountId}} "
        "{{ACS::InvokeId}}",
        preview_instance=instance.id,
        **{"preview.version": "2.0"},
    )
    assert f"echo 2.0 on {instance.id} web-7 {root_principal.account_id} t-preview" in html
    assert "shown with a stand-in id" in html


def test_rendered_preview_warns_of_an_empty_value_and_says_what_to_do(logged_in, root_principal):
    instance = make_instance(root_principal)
    html = _render(logged_in, content="echo [{{version}}]", preview_instance=instance.id)
    assert "echo []" in html
    assert "No value for <code>version</code>" in html and "Enter a value above" in html


def test_rendered_preview_escapes_the_script(logged_in, root_principal):
    instance = make_instance(root_principal)
    html = _render(logged_in, content="echo '<script>alert(1)</script>'", preview_instance=instance.id)
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"content": "echo {{x}}"}, "Choose an instance to preview"),
        ({"content": "echo {{x}}", "preview_instance": "mi-nope"}, "not one you may see"),
        ({"content": "echo {{ACS::Bad}}", "preview_instance": "INSTANCE"}, "Change the script"),
        ({"content": "echo", "preview_instance": "INSTANCE", "preview.y": "1"}, "does not appear"),
    ],
)
def test_rendered_preview_errors_say_what_to_do(logged_in, root_principal, data, message):
    instance = make_instance(root_principal)
    data = {key: instance.id if value == "INSTANCE" else value for key, value in data.items()}
    html = _render(logged_in, **data)
    assert 'class="error"' in html and message in html


def test_rendered_preview_refuses_another_accounts_instance(logged_in, other_principal):
    theirs = make_instance(other_principal, "their-host")
    html = _render(logged_in, content="echo {{ACS::InstanceName}}", preview_instance=theirs.id)
    assert "not one you may see" in html and "their-host" not in html and "rendered-script" not in html


def test_rendered_preview_refuses_an_instance_a_ram_user_may_not_see(root_principal):
    hidden = make_instance(root_principal, "hidden-host")
    nobody = iam_services.ram_user_create(principal=root_principal, name="nobody")
    client = Client()
    client.force_login(nobody)
    html = _render(client, content="echo {{ACS::InstanceName}}", preview_instance=hidden.id)
    assert "not one you may see" in html and "hidden-host" not in html


def test_form_page_has_the_editor_and_both_previews(logged_in, root_principal):
    instance = make_instance(root_principal, "web-9")
    html = logged_in.get(reverse("command_new")).content.decode()
    assert 'class="code-editor"' in html and "vendor/highlight/highlight.min.js" in html
    assert "assist/command-editor.js" in html
    assert reverse("command-editor-parameters") in html and reverse("command-editor-render") in html
    assert f'<option value="{instance.id}">web-9' in html


@pytest.mark.parametrize("name", ["command-editor-parameters", "command-editor-render"])
def test_previews_need_login_and_post(client, logged_in, name):
    response = client.post(reverse(name), {"content": "x"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert logged_in.get(reverse(name)).status_code == 405
