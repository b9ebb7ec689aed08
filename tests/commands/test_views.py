"""Console pages of the command library, the run form of a saved command and the stop page, through
Django's test client: what they show, what they create, their errors, labels and account isolation."""

import re

import pytest
from django.urls import reverse

from console.commands import services as cmd_services
from console.commands.models import Command
from console.iam.models import User
from console.invocations import services as inv_services
from console.invocations import status as st
from console.invocations.delivery import task_run_frame
from console.invocations.models import Invocation, InvocationResult
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, root_principal):
    client.force_login(User.objects.get(pk=root_principal.user_id))
    return client


def saved(principal, **overrides):
    arguments = {"principal": principal, "name": "deploy", "command_content": "echo {{version}} {{env}}",
                 "enable_parameter": True, **overrides}  # fmt: skip
    return cmd_services.command_create(**arguments)


def assert_every_input_is_labelled(html: str) -> None:
    """Every visible input, select and textarea has a <label for=its id>; every button has text."""
    labels = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'type="hidden"' in tag:
            continue
        found = re.search(r'\bid="([^"]+)"', tag)
        assert found and found.group(1) in labels, f"unlabelled: {tag}"
    for text in re.findall(r"<button\b[^>]*>(.*?)</button>", html, flags=re.S):
        assert text.strip(), "a button without text"


@pytest.mark.parametrize(
    ("name", "args"),
    [("commands", []), ("command_new", []), ("command", ["c-x"]), ("command_run", ["c-x"]),
     ("command_delete", ["c-x"]), ("invocation_stop", ["t-x"])],
)  # fmt: skip
def test_pages_need_login(client, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_list_and_search(logged_in, root_principal, other_principal):
    saved(root_principal, name="deploy-web", description="rolls out")
    saved(root_principal, name="restart", command_type="RunPowerShellScript", enable_parameter=False,
          command_content="Restart-Service W3SVC")  # fmt: skip
    saved(other_principal, name="their-command")
    page = logged_in.get(reverse("commands"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "deploy-web" in html and "restart" in html and "their-command" not in html
    assert_every_input_is_labelled(html)
    found = logged_in.get(reverse("commands"), {"q": "ROLLS"}, headers={"HX-Request": "true"})
    assert "deploy-web" in found.content.decode() and "restart" not in found.content.decode()
    assert "<html" not in found.content.decode()  # the fragment only
    by_type = logged_in.get(reverse("commands"), {"type": "RunPowerShellScript"}).content.decode()
    assert "restart" in by_type and "deploy-web" not in by_type
    assert "No command matches" in logged_in.get(reverse("commands"), {"q": "zzz"}).content.decode()


def test_create_form(logged_in, root_principal):
    page = logged_in.get(reverse("command_new"))
    assert page.status_code == 200
    assert_every_input_is_labelled(page.content.decode())
    response = logged_in.post(reverse("command_new"), {
        "name": "greet", "description": "d", "type": "RunShellScript", "content": "echo {{who}}\r\nid",
        "working_dir": "/tmp", "timeout": "30", "enable_parameter": "on",
    })  # fmt: skip
    command = Command.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("command", args=[command.id])
    assert (command.name, command.content, command.timeout, command.enable_parameter) == (
        "greet", "echo {{who}}\nid", 30, True)  # fmt: skip


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "content": "id"}, "must not be empty"),
        ({"name": "x", "content": ""}, "must not be empty"),
        ({"name": "x", "content": "id", "timeout": "abc"}, "positive whole number"),
        ({"name": "x", "content": "echo {{a b}}", "enable_parameter": "on"}, "not valid"),
        ({"name": "x", "content": "id", "type": "RunPythonScript"}, "is not one of"),
    ],
)
def test_create_form_errors(logged_in, form, message):
    response = logged_in.post(reverse("command_new"), {"type": "RunShellScript", "timeout": "60", **form})
    assert response.status_code == 400 and message in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    assert not Command.objects.exists()


def test_detail_shows_content_parameters_and_versions(logged_in, root_principal):
    command = saved(root_principal, command_content="echo {{version}} <b>{{ACS::InstanceId}}</b> {{Env}}")
    clone = cmd_services.command_clone(principal=root_principal, command_id=command.id, name="deploy v2")
    html = logged_in.get(reverse("command", args=[command.id])).content.decode()
    assert "echo {{version}} &lt;b&gt;{{ACS::InstanceId}}&lt;/b&gt; {{Env}}" in html
    names = re.search(r'<ul id="parameter-names">(.*?)</ul>', html, flags=re.S).group(1)
    assert re.findall(r"<code>(.*?)</code>", names) == ["version", "Env"]
    assert "{{ACS::InvokeId}}" in html
    assert clone.id in html and "deploy v2" in html
    assert_every_input_is_labelled(html)


def test_edit_form(logged_in, root_principal):
    command = saved(root_principal)
    page = logged_in.get(reverse("command_edit", args=[command.id])).content.decode()
    assert 'name="content"' not in page  # content and type are not editable
    assert_every_input_is_labelled(page)
    edit = reverse("command_edit", args=[command.id])
    response = logged_in.post(
        edit, {"name": "renamed", "description": "", "working_dir": "/w", "timeout": "15"}
    )
    assert response.status_code == 302
    command.refresh_from_db()
    assert (command.name, command.working_dir, command.timeout) == ("renamed", "/w", 15)
    bad = logged_in.post(edit, {"name": "n" * 129, "description": "", "working_dir": "", "timeout": "15"})
    assert bad.status_code == 400 and "at most 128" in bad.content.decode()


def test_clone_form_is_prefilled_and_saves_a_new_version(logged_in, root_principal):
    command = saved(root_principal, description="first")
    page = logged_in.get(reverse("command_clone", args=[command.id])).content.decode()
    assert "echo {{version}} {{env}}" in page and 'value="first"' in page and "checked" in page
    assert_every_input_is_labelled(page)
    response = logged_in.post(reverse("command_clone", args=[command.id]), {
        "name": "deploy", "description": "second", "type": "RunShellScript", "content": "echo v2",
        "working_dir": "", "timeout": "60",
    })  # fmt: skip
    clone = Command.objects.exclude(pk=command.id).get()
    assert response["Location"] == reverse("command", args=[clone.id])
    assert (clone.content, clone.description, clone.version, clone.enable_parameter) == (
        "echo v2", "second", 2, False)  # fmt: skip


def test_delete_asks_then_deletes(logged_in, root_principal):
    command = saved(root_principal)
    confirm = logged_in.get(reverse("command_delete", args=[command.id]))
    assert confirm.status_code == 200 and "Delete command" in confirm.content.decode()
    assert Command.objects.exists()
    response = logged_in.post(reverse("command_delete", args=[command.id]))
    assert response.status_code == 302 and response["Location"] == reverse("commands")
    assert not Command.objects.exists()
    assert logged_in.get(reverse("command", args=[command.id])).status_code == 404


def test_run_form_has_one_input_per_parameter_and_invokes(logged_in, root_principal):
    command = saved(root_principal, command_content="echo {{version}} {{Env}} {{ACS::InstanceId}}")
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    page = logged_in.get(reverse("command_run", args=[command.id])).content.decode()
    assert re.findall(r'name="param\.([^"]+)"', page) == ["version", "Env"]
    assert a.id in page and b.id in page
    assert_every_input_is_labelled(page)
    form = {"param.version": "1.2", "param.Env": "", "instance_ids": [a.id, b.id], "timeout": "",
            "working_dir": "", "username": ""}  # fmt: skip
    response = logged_in.post(reverse("command_run", args=[command.id]), form)
    invocation = Invocation.objects.get()
    assert response["Location"] == reverse("invocation", args=[invocation.id])
    assert invocation.parameters == {"version": "1.2"}  # empty inputs are not passed
    contents = {r.instance_id: task_run_frame(r).content for r in InvocationResult.objects.all()}
    assert contents == {a.id: f"echo 1.2  {a.id}", b.id: f"echo 1.2  {b.id}"}


def test_run_form_errors(logged_in, root_principal):
    command = saved(root_principal)
    make_instance(root_principal)
    response = logged_in.post(reverse("command_run", args=[command.id]), {"param.version": "1"})
    assert response.status_code == 400 and "Choose at least one instance" in response.content.decode()
    assert 'value="1"' in response.content.decode()  # the form keeps what was typed
    assert not Invocation.objects.exists()


def test_another_accounts_command_is_not_found(logged_in, other_principal):
    theirs = saved(other_principal)
    for name in ("command", "command_edit", "command_clone", "command_delete", "command_run"):
        assert logged_in.get(reverse(name, args=[theirs.id])).status_code == 404
    assert logged_in.post(reverse("command_delete", args=[theirs.id])).status_code == 404
    assert Command.objects.filter(pk=theirs.id).exists()


def test_stop_button_and_confirmation(logged_in, root_principal, monkeypatch):
    monkeypatch.setattr(inv_services.events, "ring_agent_stop", lambda *_: None)
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    invocation = inv_services.invocation_run_command(
        principal=root_principal, instance_ids=[a.id, b.id], command_content="sleep 30"
    )
    InvocationResult.objects.filter(instance_id=a.id).update(status=st.RUNNING)
    detail = logged_in.get(reverse("invocation", args=[invocation.id])).content.decode()
    assert 'id="stop-button"' in detail and reverse("invocation_stop", args=[invocation.id]) in detail
    confirm = logged_in.get(reverse("invocation_stop", args=[invocation.id]))
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert html.count('name="instance_ids"') == 2 and html.count("checked") == 2
    assert_every_input_is_labelled(html)
    assert InvocationResult.objects.filter(status=st.PENDING).count() == 1  # GET changes nothing
    response = logged_in.post(
        reverse("invocation_stop", args=[invocation.id]), {"instance_ids": [a.id, b.id]}
    )
    assert response["Location"] == reverse("invocation", args=[invocation.id])
    statuses = dict(InvocationResult.objects.values_list("instance_id", "status"))
    assert statuses == {a.id: st.STOPPING, b.id: st.CANCELLED}
    after = logged_in.get(reverse("invocation", args=[invocation.id])).content.decode()
    assert 'id="stop-button"' in after  # still Stopping
    InvocationResult.objects.filter(instance_id=a.id).update(status=st.TERMINATED)
    done = logged_in.get(reverse("invocation", args=[invocation.id])).content.decode()
    assert 'id="stop-button"' not in done
    nothing = logged_in.get(reverse("invocation_stop", args=[invocation.id])).content.decode()
    assert "nothing to stop" in nothing


def test_stop_some_and_none(logged_in, root_principal, monkeypatch):
    monkeypatch.setattr(inv_services.events, "ring_agent_stop", lambda *_: None)
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    invocation = inv_services.invocation_run_command(
        principal=root_principal, instance_ids=[a.id, b.id], command_content="sleep 30"
    )
    empty = logged_in.post(reverse("invocation_stop", args=[invocation.id]), {})
    assert empty.status_code == 400 and "Choose at least one instance" in empty.content.decode()
    logged_in.post(reverse("invocation_stop", args=[invocation.id]), {"instance_ids": [b.id]})
    assert dict(InvocationResult.objects.values_list("instance_id", "status")) == {
        a.id: st.PENDING, b.id: st.CANCELLED}  # fmt: skip


def test_another_accounts_invocation_cannot_be_stopped(logged_in, other_principal):
    foreign = make_instance(other_principal)
    invocation = inv_services.invocation_run_command(
        principal=other_principal, instance_ids=[foreign.id], command_content="sleep 30"
    )
    assert logged_in.get(reverse("invocation_stop", args=[invocation.id])).status_code == 404
    assert logged_in.post(reverse("invocation_stop", args=[invocation.id]),
                          {"instance_ids": [foreign.id]}).status_code == 404  # fmt: skip
    assert InvocationResult.objects.get().status == st.PENDING


def test_nav_links_to_commands(logged_in):
    assert reverse("commands") in logged_in.get(reverse("instances")).content.decode()
