"""Every RPC operation, called as someone who must not touch the victim's rows: the root user of another
account, and a RAM user of the victim's account without any policy. The request names the victim's
resources (instance, invocation, command, activation, file transfer, terminal session, user, group,
policy); the answer must be a refusal or show nothing of the victim, and nothing of the victim may change.

The walk reads the registry, so a new operation is walked as soon as it exists."""

import json

import pytest
from django.apps import apps
from django.test import Client

from console.api.actions import ACTIONS
from console.api.actions.registry import VERSIONS
from console.iam import services
from console.iam.principal import Principal
from tests.api.conftest import Rpc, Tenant
from tests.iam.test_isolation import World, world  # noqa: F401 - the victim's rows

pytestmark = pytest.mark.django_db

# Content only the victim's rows hold: never in an intruder's answer. (Ids are not here: an intruder
# sends them, and an error message may quote what was asked for.)
CONTENT_MARKERS = (
    "victim-host-7",
    "victim-content-marker",
    "victim-command-name",
    "victim-comment",
    "victim-file-marker",
    "victim-act",
)
# Operations that create in the caller's own account without naming a victim row: walked for leaks and
# 5xx only (what they create is the intruder's).
CREATES_OWN = {
    "CreateActivation",
    "CreateCommand",
    "CreateUser",
    "CreateGroup",
    "CreatePolicy",
    "CreateRole",
    "GetCallerIdentity",
    "ModifyCloudAssistantSettings",
    "DescribeCloudAssistantSettings",
}


def victim_params(rows: World, region: str) -> dict[str, str]:
    """Every parameter that can name a victim row, plus what operations need to get that far."""
    instance = rows.markers[0]
    return {
        "RegionId": region,
        "InstanceId": instance,
        "InstanceId.1": instance,
        "InvokeId": rows.invocation_id,
        "CommandId": rows.command_id,
        "ActivationId": rows.activation_id,
        "SessionId": rows.terminal_session_id,
        "ResourceType": "managedinstance",
        "ResourceId.1": instance,
        "Tag.1.Key": "owned",
        "Tag.1.Value": "by-intruder",
        "TagKey.1": "owned",
        "All": "true",
        "Type": "RunShellScript",
        "CommandContent": "echo intruder",
        "Name": "intruder-file",
        "TargetDir": "/tmp/intruder",
        "Content": "x",
        "InstanceName": "intruder-name",
        "Description": "intruder",
        "UserName": "victim-alice",
        "NewUserName": "intruder-alice",
        "GroupName": "victim-ops",
        "PolicyName": "victim-policy",
        "PolicyType": "Custom",
        "PolicyDocument": json.dumps(
            {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
        "SetAsDefault": "true",
        "RoleName": "victim-role",
        "RoleArn": f"acs:ram::{world_account(rows)}:role/victim-role",
        "RoleSessionName": "intruder",
        "AssumeRolePolicyDocument": json.dumps(
            {
                "Version": "1",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::1:root"]}}
                ],
            }
        ),
        "UserAccessKeyId": rows.key_id,
        "Password": "An0ther-long-password!",
        "SettingType": "SessionManagerConfig",
        "SessionManagerConfig": json.dumps({"SessionManagerEnabled": False}),
    }


def world_account(rows: World) -> str:
    from console.fleet.models import Instance

    return Instance.objects.get(pk=rows.markers[0]).account_id


STATE_APPS = ("iam", "fleet", "commands", "invocations", "files", "terminals", "tags", "releases")


def _owner_path(model) -> str:
    """How a row leads to its account: ``account_id``, or through a foreign key to a row that has one."""
    fields = {f.name: f for f in model._meta.get_fields()}
    if "account" in fields:
        return "account_id"
    for field in fields.values():
        if field.many_to_one and "account" in {f.name for f in field.related_model._meta.get_fields()}:
            return f"{field.name}__account_id"
    return ""


def victim_state(account_id: str) -> dict[str, object]:
    """Counts of the victim's rows per table, and the fields an intruder might try to change."""
    state: dict[str, object] = {}
    for model in apps.get_models():
        if model._meta.app_label not in STATE_APPS:
            continue
        rows = model._default_manager.all()
        owner = _owner_path(model)
        if owner:
            rows = rows.filter(**{owner: account_id})
        state[model._meta.label] = sorted(str(row) for row in rows)
    return state


def intruders(victim: Principal, client: Client) -> list[tuple[str, Rpc]]:
    stranger_user, stranger_key = services.bootstrap(
        account_name="intruders", username="root", password="pw-long-enough"
    )
    stranger = Tenant(stranger_user, stranger_key.access_key_id, stranger_key.access_key_secret)
    nobody = services.ram_user_create(principal=victim, name="no-policies")
    nobody_key = services.access_key_create(user=nobody)
    insider = Tenant(nobody, nobody_key.access_key_id, nobody_key.access_key_secret)
    return [
        ("another account's root", Rpc(client, stranger)),
        ("a RAM user without policies", Rpc(client, insider)),
    ]


def test_no_operation_reaches_another_accounts_rows(world, root_principal, client, settings) -> None:  # noqa: F811
    settings.ASSIST_API_RATE_LIMIT = ""
    region = settings.ASSIST_REGION
    account = world_account(world)
    params = victim_params(world, region)
    for who, rpc in intruders(root_principal, client):
        for action in sorted(ACTIONS):
            before = victim_state(account)
            response = rpc.v1(action, {**params, "Version": VERSIONS[action]})
            where = f"{who}: {action} -> {response.status_code} {response.content[:300]!r}"
            assert response.status_code < 500, where
            body = response.content.decode(errors="replace")
            leaked = [marker for marker in CONTENT_MARKERS if marker in body]
            assert not leaked, f"{where} shows {leaked}"
            if response.status_code == 200 and action not in CREATES_OWN:
                named = [m for m in (world.invocation_id, world.command_id, world.activation_id) if m in body]
                assert not named, f"{where} answers about {named}"
            if action not in CREATES_OWN:
                assert victim_state(account) == before, f"{where} changed the victim's rows"
