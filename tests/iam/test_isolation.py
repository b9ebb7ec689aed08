"""Every console URL, walked as someone who must not see the victim's data: the root user of another
account, and a RAM user of the victim's account without any policy. Each answer must be a refusal (403,
404, 405), a redirect, or a page without any of the victim's markers.

Every route is also POSTed to (its query as the form): nothing of anybody may change.

A route missing from ROUTES fails ``test_every_route_is_walked``: whoever adds a page says here how to
address the victim's rows through it, and the walk then checks that the page holds its wall."""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from console.audit import services as audit_services
from console.commands.common import public_commands
from console.files import services as file_services
from console.fleet import services as fleet_services
from console.iam import services, sts
from console.iam.models import Policy, User
from console.iam.principal import Principal
from console.invocations import services as inv_services
from console.terminals import services as terminal_services
from tests.conftest import make_instance
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class World:
    """The victim's rows, and strings that appear only in pages that show them."""

    invocation_id: str
    command_id: str
    activation_id: str
    key_id: str
    markers: tuple[str, ...]
    file_transfer_id: str = ""
    terminal_session_id: str = ""
    result_id: str = ""


Route = Callable[[World], tuple[dict[str, str], dict[str, str]]]  # world -> (URL kwargs, query)


def _none(world: World) -> tuple[dict[str, str], dict[str, str]]:
    return {}, {}


def _user(world: World) -> tuple[dict[str, str], dict[str, str]]:
    return {"name": "victim-alice"}, {}


def _group(world: World) -> tuple[dict[str, str], dict[str, str]]:
    return {"name": "victim-ops"}, {}


def _command(world: World) -> tuple[dict[str, str], dict[str, str]]:
    return {"command_id": world.command_id}, {}


def _common_command(world: World) -> tuple[dict[str, str], dict[str, str]]:
    return {"command_id": public_commands()[0].id}, {}


ROUTES: dict[str, Route] = {
    "root": _none,
    "agent-register": _none,
    "agent-pyz": _none,
    "agent-pyz-sha256": _none,
    "agent-install-script": _none,
    "agent-uninstall-script": _none,
    "agent-deregister": _none,
    "agent-release-key": _none,
    "api-openapi": _none,
    "mfa": _none,
    "mfa-verify": _none,
    "agent-release-download": lambda w: ({"version": "0.1.0"}, {}),
    "agent-releases": _none,
    "login": _none,
    "logout": _none,
    "instances": _none,
    "activations": _none,
    "run": _none,
    "invocations": _none,
    "invocation": lambda w: ({"invocation_id": w.invocation_id}, {}),
    # Console pages of issue 7 (console/web): output views and rerun address the victim's invocation.
    "invocation-output": lambda w: (
        {"invocation_id": w.invocation_id, "result_id": w.result_id},
        {"download": "1"},
    ),
    "invocation-rerun": lambda w: ({"invocation_id": w.invocation_id}, {}),
    "dashboard": _none,
    "iam": _none,
    "audit": _none,
    "audit-export": _none,
    "iam-user-create": _none,
    "iam-user": _user,
    "iam-user-key-create": _user,
    "iam-user-key-delete": lambda w: ({"name": "victim-alice", "key_id": w.key_id}, {}),
    "iam-user-policy-attach": _user,
    "iam-user-policy-detach": lambda w: ({"name": "victim-alice"}, {"policy": "Custom:victim-policy"}),
    "iam-group-create": _none,
    "iam-group": _group,
    "iam-group-member-add": _group,
    "iam-group-member-remove": lambda w: ({"name": "victim-ops"}, {"user": "victim-alice"}),
    "iam-group-policy-attach": _group,
    "iam-group-policy-detach": lambda w: ({"name": "victim-ops"}, {"policy": "Custom:victim-policy"}),
    # The policy editor: with ?policy=<name> it shows and edits the victim's policy.
    "iam-policy-create": lambda w: ({}, {"policy": "victim-policy"}),
    "iam-policy-delete": lambda w: ({"name": "victim-policy"}, {}),
    # Roles (console/iam/manage.py): the victim's role by name.
    "iam-role-create": _none,
    "iam-role": lambda w: ({"name": "victim-role"}, {}),
    "iam-role-delete": lambda w: ({"name": "victim-role"}, {}),
    "iam-role-policy-attach": lambda w: ({"name": "victim-role"}, {}),
    "iam-role-policy-detach": lambda w: ({"name": "victim-role"}, {"policy": "Custom:victim-policy"}),
    "commands": _none,
    "command_new": _none,
    "command": _command,
    "command_edit": _command,
    "command_clone": _command,
    "command_delete": _command,
    "command_run": _command,
    # Common commands are the product's, the same for every account: nothing of the victim's to reach.
    "common_commands": _none,
    "common_command": _common_command,
    "common_command_run": _common_command,
    # A copy lands in the caller's own account, legitimately: the POST walk (nothing may change) asks
    # for a command that does not exist instead.
    "common_command_clone": lambda w: ({"command_id": "c-acs-none"}, {}),
    "invocation_stop": lambda w: ({"invocation_id": w.invocation_id}, {}),
    # Send file (console/files): the victim's transfer is addressed by its id.
    "file-send": _none,
    "file-transfers": _none,
    "file-transfer": lambda w: ({"transfer_id": w.file_transfer_id}, {}),
    # Terminal sessions (console/terminals): the victim's instance page and session.
    "instance": lambda w: ({"instance_id": w.markers[0]}, {}),
    # Instance page tags (issue 7): the victim's instance, a tag key to add or remove.
    "instance-tag-add": lambda w: ({"instance_id": w.markers[0]}, {"tag": "env=attacker"}),
    "instance-tag-remove": lambda w: ({"instance_id": w.markers[0]}, {"key": "env"}),
    "terminals": _none,
    "terminal": lambda w: ({"session_id": w.terminal_session_id}, {}),
    "terminal-replay": lambda w: ({"session_id": w.terminal_session_id}, {}),
    "terminal-recording": lambda w: ({"session_id": w.terminal_session_id}, {}),
    "terminal-end": lambda w: ({"session_id": w.terminal_session_id}, {}),
    # The command editor's previews (the victim's instance named) and one invocation row.
    "command-editor-parameters": lambda w: ({}, {"content": "echo {{x}}", "enable_parameter": "on"}),
    "command-editor-render": lambda w: (
        {},
        {"content": "echo {{ACS::InstanceName}}", "enable_parameter": "on", "preview_instance": w.markers[0]},
    ),
    "invocation-result-panel": lambda w: ({"invocation_id": w.invocation_id, "result_id": w.result_id}, {}),
}


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield entry.name or "", prefix + str(entry.pattern)


def url_names() -> list[str]:
    return sorted({name for name, _ in _walk(get_resolver().url_patterns)})


def test_every_route_is_walked() -> None:
    unnamed = [route for name, route in _walk(get_resolver().url_patterns) if not name]
    assert not unnamed, f"name these routes so the isolation walk can reach them: {unnamed}"
    missing = sorted(set(url_names()) - set(ROUTES))
    assert not missing, (
        f"add these routes to ROUTES in {__file__} (how to reach the victim's rows): {missing}"
    )


@pytest.fixture
def world(root_principal) -> World:
    victim = root_principal
    instance = make_instance(victim, "victim-host-7")
    invocation = inv_services.invocation_run_command(
        principal=victim,
        instance_ids=[instance.id],
        command_content="echo victim-content-marker",
        name="victim-command-name",
        keep_command=True,
    )
    activation = fleet_services.activation_create(
        principal=victim, instance_count=1, description="victim-act"
    )
    alice = services.ram_user_create(principal=victim, name="victim-alice")
    key = services.access_key_create(user=alice)
    ops = services.group_create(principal=victim, name="victim-ops", comments="victim-comment")
    services.group_add_user(principal=victim, group=ops, user=alice)
    policy = services.policy_create(principal=victim, name="victim-policy", document=doc(allow("ecs:*")))
    services.policy_attach(principal=victim, policy=policy, to_user=alice)
    services.policy_attach(principal=victim, policy=policy, to_group=ops)
    role = sts.role_create(
        principal=victim,
        name="victim-role",
        trust_policy=json.dumps(
            {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"RAM": [f"acs:ram::{victim.account_id}:root"]}}]}
        ),
        description="victim-role-marker",
    )  # fmt: skip
    services.policy_attach(principal=victim, policy=policy, to_role=role)
    audit_services.audit_event_record(
        identity=audit_services.Identity(account_id=victim.account_id, user_name="admin"),
        event_name="VictimEventMarker",
        event_type="ApiCall",
        source="api",
        outcome=audit_services.Outcome(success=True),
    )
    transfer = file_services.file_send(
        principal=victim, instance_ids=[instance.id], name="victim-file-marker", target_dir="/srv", data=b"x"
    )
    terminal = terminal_services.session_start(principal=victim, instance_id=instance.id, username="root")
    return World(
        terminal_session_id=terminal.session.id,
        file_transfer_id=transfer.id,
        invocation_id=invocation.id,
        result_id=invocation.results.get().id,
        command_id=invocation.command_id,
        activation_id=activation.activation.id,
        key_id=key.access_key_id,
        markers=(
            instance.id,
            "victim-host-7",
            invocation.id,
            invocation.command_id,
            "victim-content-marker",
            "victim-command-name",
            activation.activation.id,
            "victim-alice",
            key.access_key_id,
            "victim-ops",
            "victim-comment",
            "victim-policy",
            "victim-role",
            "VictimEventMarker",
            transfer.id,
            "victim-file-marker",
            terminal.session.id,
        ),
    )


def _client(principal: Principal) -> Client:
    client = Client()
    client.force_login(User.objects.get(pk=principal.user_id))
    return client


def _body(response: Any) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _assert_walled(client: Client, world: World, who: str) -> None:
    for name in url_names():
        kwargs, query = ROUTES[name](world)
        url = reverse(name, kwargs=kwargs)
        response = client.get(url, query)
        where = f"{who} GET {url} -> {response.status_code}"
        assert response.status_code in (200, 302, 403, 404, 405), where
        if response.status_code == 302:
            assert not any(m in response["Location"] for m in world.markers), where
        if response.status_code == 200:
            leaked = [m for m in world.markers if m in _body(response)]
            assert not leaked, f"{where} shows {leaked}"


STATE_APPS = ("iam", "fleet", "commands", "invocations", "files", "terminals")


def _state() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.app_label in STATE_APPS
    }


def _assert_posts_change_nothing(principal: Principal, world: World, who: str) -> None:
    """POST to every route (with the query as the form), logged in afresh each time (a log-out would
    otherwise end the walk): nothing of anybody changes, and no answer shows the victim's rows."""
    before = _state()
    for name in url_names():
        kwargs, query = ROUTES[name](world)
        url = reverse(name, kwargs=kwargs)
        response = _client(principal).post(url, query)
        where = f"{who} POST {url} -> {response.status_code}"
        assert response.status_code in (200, 302, 400, 403, 404, 405), where
        if response.status_code in (200, 400):
            leaked = [m for m in world.markers if m in _body(response)]
            assert not leaked, f"{where} shows {leaked}"
    assert _state() == before


def test_another_accounts_root_sees_nothing_of_the_victim(world, other_principal) -> None:
    _assert_walled(_client(other_principal), world, "other account's root")
    _assert_posts_change_nothing(other_principal, world, "other account's root")


def test_a_ram_user_without_policies_sees_nothing_of_its_account(world, root_principal) -> None:
    nobody = Principal.for_user(services.ram_user_create(principal=root_principal, name="nobody"))
    _assert_walled(_client(nobody), world, "RAM user without policies")
    _assert_posts_change_nothing(nobody, world, "RAM user without policies")


def test_the_walk_would_see_a_leak(world, root_principal) -> None:
    """The walk itself: the victim's own root sees its markers on the pages that list them."""
    client = _client(root_principal)
    assert "victim-host-7" in _body(client.get(reverse("instances")))
    assert "victim-policy" in _body(client.get(reverse("iam")))
    assert "VictimEventMarker" in _body(client.get(reverse("audit-export")))
    assert Policy.objects.filter(name="victim-policy").exists()
