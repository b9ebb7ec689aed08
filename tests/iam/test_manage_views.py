"""Managing RAM users, access keys, groups and policies in the console, through Django's test client:
what each page does, what it refuses (and with which status), and that it never crosses accounts."""

import json

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from console.audit.models import AuditEvent
from console.audit.redact import REDACTED
from console.iam import services
from console.iam.models import AccessKey, Group, GroupMembership, Policy, PolicyAttachment, User
from console.iam.principal import Principal
from tests.api.conftest import Rpc, Tenant
from tests.conftest import make_instance
from tests.iam.conftest import ram_principal
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "Good-Passw0rd"
LIST_ACTIONS = doc(allow(["ram:ListUsers", "ram:ListGroups", "ram:ListPolicies"]))


def as_user(principal: Principal) -> Client:
    client = Client()
    client.force_login(User.objects.get(pk=principal.user_id))
    return client


@pytest.fixture
def root(root_principal) -> Client:
    return as_user(root_principal)


@pytest.fixture
def world(root_principal):
    """alice (one key, in ops), ops (no policies), a custom policy; mallory in another account."""
    alice = services.ram_user_create(principal=root_principal, name="alice", password=GOOD_PASSWORD)
    services.access_key_create(user=alice)
    ops = services.group_create(principal=root_principal, name="ops")
    services.group_add_user(principal=root_principal, group=ops, user=alice)
    services.policy_create(
        principal=root_principal, name="run-anywhere", document=doc(allow("ecs:RunCommand"))
    )
    return {"alice": alice, "ops": ops}


# ------------------------------------------------------------------------------------------ users


def test_create_a_user_with_a_console_password(root, root_principal) -> None:
    form = root.get(reverse("iam-user-create"))
    assert form.status_code == 200 and b"at least 8 characters" in form.content
    response = root.post(
        reverse("iam-user-create"),
        {"name": "bob", "password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == reverse("iam-user", args=["bob"])
    page = root.get(response["Location"])
    assert b"bob@acme" in page.content and b"User bob created" in page.content
    bob = User.objects.get(name="bob")
    assert bob.account_id == root_principal.account_id and not bob.is_root
    assert Client().post("/login/", {"username": "bob@acme", "password": GOOD_PASSWORD}).status_code == 302
    event = AuditEvent.objects.get(event_name="CreateUser")
    assert event.success and event.request_parameters["password"] == REDACTED
    assert f"acs:ram::{root_principal.account_id}:user/bob" in event.resources
    assert GOOD_PASSWORD not in json.dumps(event.request_parameters)


def test_a_user_without_a_password_has_no_console_log_in(root) -> None:
    assert root.post(reverse("iam-user-create"), {"name": "robot"}).status_code == 302
    assert not User.objects.get(name="robot").has_usable_password()


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"name": "bob", "password": "lowercaseonly", "password_again": "lowercaseonly"}, 400, "kinds"),
        ({"name": "bob", "password": GOOD_PASSWORD, "password_again": "other"}, 400, "not the same"),
        ({"name": "bad name!", "password": ""}, 400, "User names are"),
        ({"name": "alice"}, 409, "already exists"),
    ],
    ids=["weak password", "passwords differ", "bad name", "exists"],
)
def test_create_user_errors(root, world, form, status, message) -> None:
    users = User.objects.count()
    response = root.post(reverse("iam-user-create"), form)
    assert response.status_code == status and message in response.content.decode()
    assert User.objects.count() == users
    assert AuditEvent.objects.filter(event_name="CreateUser", success=False).count() == 1


# ------------------------------------------------------------------------------------ access keys


def test_access_keys_at_most_two_and_the_secret_shown_once(root, world) -> None:
    url = reverse("iam-user-key-create", args=["alice"])
    response = root.post(url)
    assert response.status_code == 200
    issued = response.context["issued"]
    assert issued.access_key_secret in response.content.decode()
    stored = AccessKey.objects.get(pk=issued.access_key_id)
    assert issued.access_key_secret not in stored.secret_encrypted
    again = root.get(reverse("iam-user", args=["alice"]))
    assert issued.access_key_id in again.content.decode()
    assert issued.access_key_secret not in again.content.decode()
    assert b"Create access key" not in again.content  # two keys: the button is gone
    third = root.post(url)
    assert third.status_code == 400 and b"at most 2 access keys" in third.content
    assert AccessKey.objects.filter(user=world["alice"]).count() == 2
    event = AuditEvent.objects.filter(event_name="CreateAccessKey").order_by("pk").last()
    assert event.error_code == "LimitExceeded.User.AccessKey"
    assert issued.access_key_secret not in json.dumps(
        [e.request_parameters for e in AuditEvent.objects.all()]
    )


def test_delete_an_access_key_after_confirming(root, world) -> None:
    key = AccessKey.objects.get(user=world["alice"])
    url = reverse("iam-user-key-delete", args=["alice", key.pk])
    confirm = root.get(url)
    assert confirm.status_code == 200 and b"Delete access key" in confirm.content
    assert AccessKey.objects.filter(pk=key.pk).exists()  # asking is not deleting
    assert root.post(url).status_code == 302
    assert not AccessKey.objects.filter(pk=key.pk).exists()
    assert root.post(url).status_code == 404  # gone
    root_key = AccessKey.objects.filter(user__is_root=True).first()
    assert root.get(reverse("iam-user-key-delete", args=["alice", root_key.pk])).status_code == 404
    assert root.post(reverse("iam-user-key-delete", args=["alice", root_key.pk])).status_code == 404
    assert AccessKey.objects.filter(pk=root_key.pk).exists()  # another user's key, even named in the URL


# ------------------------------------------------------------------------------- custom policies


def test_create_a_custom_policy_with_precise_errors(root, root_principal) -> None:
    form = root.get(reverse("iam-policy-create"))
    assert form.status_code == 200 and b"acs:ResourceTag/env" in form.content  # an example to start from
    bad = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "ecs:RunCommand", "Resource": "*"},
            {"Effect": "Perhaps", "Action": ["ecs:Run Command"], "Resource": "*"},
        ],
    }
    response = root.post(reverse("iam-policy-create"), {"name": "p1", "document": json.dumps(bad)})
    assert response.status_code == 400
    paths = [problem.path for problem in response.context["problems"]]
    assert "Statement[1].Effect" in paths and "Statement[1].Action" in paths
    assert b"Statement[1].Effect" in response.content
    not_json = root.post(reverse("iam-policy-create"), {"name": "p1", "document": "{nope"})
    assert not_json.status_code == 400 and not_json.context["problems"]
    assert not Policy.objects.filter(name="p1").exists()
    good = json.dumps(doc(allow("ecs:Describe*")))
    created = root.post(reverse("iam-policy-create"), {"name": "p1", "description": "read", "document": good})
    assert created.status_code == 302
    policy = Policy.objects.get(name="p1")
    assert (policy.account_id, policy.document, policy.description) == (
        root_principal.account_id,
        good,
        "read",
    )


def test_edit_a_custom_policy_as_a_new_default_version(root, root_principal, world) -> None:
    """The editor of an existing policy: its versions and attachments, the document to change; saving
    makes a new default version that applies at the next check; five versions at most, the oldest that
    is not the default making room; bad documents are refused with their problems, nothing changed."""
    from console.iam.authz import can
    from console.iam.principal import arn

    services.policy_attach(
        principal=root_principal, policy=Policy.objects.get(name="run-anywhere"), to_user=world["alice"]
    )
    alice = Principal.for_user(world["alice"])
    instance = arn(root_principal.account_id, settings.ASSIST_REGION, "instance", "mi-1")
    assert can(alice, "ecs:RunCommand", [instance]) and not can(alice, "ecs:SendFile", [instance])
    editor_link = f'href="{reverse("iam-policy-create")}?policy=run-anywhere"'
    home = root.get(reverse("iam")).content.decode()
    assert editor_link in home
    assert editor_link in root.get(reverse("iam-user", args=["alice"])).content.decode()
    assert "?policy=AdministratorAccess" not in home  # system policies are not edited

    page = root.get(reverse("iam-policy-create"), {"policy": "run-anywhere"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "user alice" in body and "v1" in body and "Save as new default version" in body
    assert json.loads(page.context["document"]) == doc(allow("ecs:RunCommand"))

    bad = root.post(reverse("iam-policy-create"), {"policy": "run-anywhere", "document": '{"Version": "1"}'})
    assert bad.status_code == 400 and bad.context["problems"] and b"policy-problems" in bad.content
    assert Policy.objects.get(name="run-anywhere").default_version == "v1"

    new = json.dumps(doc(allow(["ecs:RunCommand", "ecs:SendFile"])))
    saved = root.post(reverse("iam-policy-create"), {"policy": "run-anywhere", "document": new})
    assert saved.status_code == 302 and saved["Location"].endswith("?policy=run-anywhere")
    policy = Policy.objects.get(name="run-anywhere")
    assert (policy.default_version, policy.document) == ("v2", new)
    assert can(alice, "ecs:SendFile", [instance])
    failed, event = AuditEvent.objects.filter(event_name="CreatePolicyVersion").order_by("pk")
    assert (failed.success, failed.error_code) == (False, "MalformedPolicyDocument")
    assert event.success and event.resources == [f"acs:ram::{root_principal.account_id}:policy/run-anywhere"]

    for n in range(3, 8):
        again = json.dumps(doc(allow(f"ecs:Describe{n}")))
        assert (
            root.post(reverse("iam-policy-create"), {"policy": "run-anywhere", "document": again}).status_code
            == 302
        )
    versions = [v.version_id for v in policy.versions.order_by("pk")]
    assert versions == ["v3", "v4", "v5", "v6", "v7"]
    assert Policy.objects.get(name="run-anywhere").default_version == "v7"
    assert not can(alice, "ecs:RunCommand", [instance])

    for missing in ("AdministratorAccess", "no-such-policy"):
        assert root.get(reverse("iam-policy-create"), {"policy": missing}).status_code == 404
        posted = root.post(reverse("iam-policy-create"), {"policy": missing, "document": new})
        assert posted.status_code == 404


def test_delete_a_custom_policy_after_confirming(root, world) -> None:
    url = reverse("iam-policy-delete", args=["run-anywhere"])
    assert root.get(url).status_code == 200 and Policy.objects.filter(name="run-anywhere").exists()
    assert root.post(url).status_code == 302
    assert not Policy.objects.filter(name="run-anywhere").exists()
    assert root.get(reverse("iam-policy-delete", args=["AdministratorAccess"])).status_code == 404


def test_a_policy_in_use_is_not_deleted(root, root_principal, world) -> None:
    policy = Policy.objects.get(name="run-anywhere")
    services.policy_attach(principal=root_principal, policy=policy, to_user=world["alice"])
    response = root.post(reverse("iam-policy-delete", args=["run-anywhere"]))
    assert response.status_code == 409 and b"Detach the policy" in response.content
    assert Policy.objects.filter(pk=policy.pk).exists()


# ------------------------------------------------------------------------------------- attachments


@pytest.mark.parametrize("kind", ["user", "group"])
@pytest.mark.parametrize("ref", ["System:AliyunECSAssistantReadonlyAccess", "Custom:run-anywhere"])
def test_attach_and_detach(root, world, kind, ref) -> None:
    name = "alice" if kind == "user" else "ops"
    target = {"user": world["alice"]} if kind == "user" else {"group": world["ops"]}
    policy_name = ref.split(":")[1]
    attach = root.post(reverse(f"iam-{kind}-policy-attach", args=[name]), {"policy": ref})
    assert attach.status_code == 302
    assert PolicyAttachment.objects.filter(policy__name=policy_name, **target).exists()
    assert policy_name in root.get(reverse(f"iam-{kind}", args=[name])).content.decode()
    twice = root.post(reverse(f"iam-{kind}-policy-attach", args=[name]), {"policy": ref})
    assert twice.status_code == 409
    detach_url = reverse(f"iam-{kind}-policy-detach", args=[name])
    confirm = root.get(detach_url, {"policy": ref})
    assert confirm.status_code == 200 and b"Detach policy" in confirm.content
    assert PolicyAttachment.objects.filter(policy__name=policy_name, **target).exists()
    assert root.post(detach_url, {"policy": ref}).status_code == 302
    assert not PolicyAttachment.objects.filter(policy__name=policy_name, **target).exists()


def test_attach_refuses_unknown_and_foreign_policies(root, world, other_principal) -> None:
    services.policy_create(principal=other_principal, name="theirs", document=doc(allow("*")))
    for ref in ("Custom:theirs", "Custom:nope", "Bogus:x", "AdministratorAccess"):
        response = root.post(reverse("iam-user-policy-attach", args=["alice"]), {"policy": ref})
        assert response.status_code == 404, ref
    assert not PolicyAttachment.objects.exists()


# ------------------------------------------------------------------------------------------ groups


def test_create_a_group_and_manage_members(root, world) -> None:
    assert root.get(reverse("iam-group-create")).status_code == 200
    response = root.post(reverse("iam-group-create"), {"name": "dbas", "comments": "databases"})
    assert response.status_code == 302 and response["Location"] == reverse("iam-group", args=["dbas"])
    group = Group.objects.get(name="dbas")
    assert root.post(reverse("iam-group-create"), {"name": "dbas"}).status_code == 409
    assert root.post(reverse("iam-group-member-add", args=["dbas"]), {"user": "alice"}).status_code == 302
    assert GroupMembership.objects.filter(group=group, user=world["alice"]).exists()
    assert root.post(reverse("iam-group-member-add", args=["dbas"]), {"user": "alice"}).status_code == 409
    assert root.post(reverse("iam-group-member-add", args=["dbas"]), {"user": "ghost"}).status_code == 404
    remove = reverse("iam-group-member-remove", args=["dbas"])
    confirm = root.get(remove, {"user": "alice"})
    assert confirm.status_code == 200 and b"Remove from group" in confirm.content
    assert GroupMembership.objects.filter(group=group, user=world["alice"]).exists()
    assert root.post(remove, {"user": "alice"}).status_code == 302
    assert not GroupMembership.objects.filter(group=group).exists()
    user_page = root.get(reverse("iam-user", args=["alice"])).content.decode()
    assert "ops" in user_page and "dbas" not in user_page.split("<h2>Groups</h2>")[1].split("<h2>")[0]


# ----------------------------------------------------------------------------- who may do this


def _pages(world) -> list[tuple[str, str, dict]]:
    key = AccessKey.objects.get(user=world["alice"]).pk
    return [
        ("get", reverse("iam-user-create"), {}),
        (
            "post",
            reverse("iam-user-create"),
            {"name": "eve", "password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD},
        ),
        ("get", reverse("iam-user", args=["alice"]), {}),
        ("post", reverse("iam-user-key-create", args=["alice"]), {}),
        ("get", reverse("iam-user-key-delete", args=["alice", key]), {}),
        ("post", reverse("iam-user-key-delete", args=["alice", key]), {}),
        ("post", reverse("iam-user-policy-attach", args=["alice"]), {"policy": "System:AdministratorAccess"}),
        ("get", reverse("iam-user-policy-detach", args=["alice"]), {"policy": "Custom:run-anywhere"}),
        ("post", reverse("iam-user-policy-detach", args=["alice"]), {"policy": "Custom:run-anywhere"}),
        ("get", reverse("iam-group-create"), {}),
        ("post", reverse("iam-group-create"), {"name": "eve-group"}),
        ("get", reverse("iam-group", args=["ops"]), {}),
        ("post", reverse("iam-group-member-add", args=["ops"]), {"user": "viewer"}),
        ("get", reverse("iam-group-member-remove", args=["ops"]), {"user": "alice"}),
        ("post", reverse("iam-group-member-remove", args=["ops"]), {"user": "alice"}),
        ("post", reverse("iam-group-policy-attach", args=["ops"]), {"policy": "System:AdministratorAccess"}),
        ("get", reverse("iam-group-policy-detach", args=["ops"]), {"policy": "Custom:run-anywhere"}),
        ("post", reverse("iam-group-policy-detach", args=["ops"]), {"policy": "Custom:run-anywhere"}),
        ("get", reverse("iam-policy-create"), {}),
        ("post", reverse("iam-policy-create"), {"name": "eve-p", "document": json.dumps(doc(allow("*")))}),
        ("get", reverse("iam-policy-delete", args=["run-anywhere"]), {}),
        ("post", reverse("iam-policy-delete", args=["run-anywhere"]), {}),
        ("get", reverse("iam-policy-create"), {"policy": "run-anywhere"}),
        (
            "post",
            reverse("iam-policy-create"),
            {"policy": "run-anywhere", "document": json.dumps(doc(allow("*")))},
        ),
    ]


def _state() -> tuple:
    return (
        sorted(User.objects.values_list("name", flat=True)),
        sorted(AccessKey.objects.values_list("pk", flat=True)),
        sorted(Group.objects.values_list("name", flat=True)),
        sorted(GroupMembership.objects.values_list("group__name", "user__name")),
        sorted(Policy.objects.values_list("name", "default_version", "document")),
        sorted(PolicyAttachment.objects.values_list("policy__name", "user__name", "group__name"), key=str),
    )


def test_a_ram_user_without_ram_permissions_gets_404_everywhere(root_principal, world) -> None:
    policy = Policy.objects.get(name="run-anywhere")
    services.policy_attach(principal=root_principal, policy=policy, to_user=world["alice"])
    services.policy_attach(principal=root_principal, policy=policy, to_group=world["ops"])
    nobody = ram_principal(root_principal, "viewer", system=("AliyunECSAssistantFullAccess",))
    client = as_user(nobody)
    before = _state()
    for method, url, data in _pages(world):
        assert getattr(client, method)(url, data).status_code == 404, (method, url)
    assert _state() == before
    refused = AuditEvent.objects.filter(user_name="viewer", allowed=False)
    assert refused.count() == len(_pages(world))


def test_a_ram_user_who_may_only_list_is_refused_every_change(root_principal, world) -> None:
    policy = Policy.objects.get(name="run-anywhere")
    services.policy_attach(principal=root_principal, policy=policy, to_user=world["alice"])
    services.policy_attach(principal=root_principal, policy=policy, to_group=world["ops"])
    lister = ram_principal(root_principal, "viewer", documents=(LIST_ACTIONS,))
    client = as_user(lister)
    before = _state()
    for method, url, data in _pages(world):
        response = getattr(client, method)(url, data)
        expected = 200 if method == "get" else 403
        assert response.status_code == expected, (method, url, response.status_code)
    assert _state() == before
    user_page = client.get(reverse("iam-user", args=["alice"])).content
    for hidden in (b"Create access key", b"Attach policy", b"Delete\xe2\x80\xa6", b"Detach\xe2\x80\xa6"):
        assert hidden not in user_page
    policy_page = client.get(reverse("iam-policy-create"), {"policy": "run-anywhere"}).content
    assert b"Save as new default version" not in policy_page and b"policy-document" in policy_page


def test_a_ram_user_with_ram_full_access_may_manage(root_principal, world) -> None:
    delegate = ram_principal(root_principal, "delegate", documents=(doc(allow("ram:*")),))
    client = as_user(delegate)
    response = client.post(
        reverse("iam-user-create"),
        {"name": "eve", "password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD},
    )
    assert response.status_code == 302 and User.objects.filter(name="eve").exists()
    assert client.post(reverse("iam-user-key-create", args=["eve"])).status_code == 200


def test_another_accounts_rows_do_not_exist(root, world, other_principal) -> None:
    mallory = services.ram_user_create(principal=other_principal, name="mallory")
    key = services.access_key_create(user=mallory)
    theirs = services.group_create(principal=other_principal, name="theirs")
    services.policy_create(principal=other_principal, name="their-policy", document=doc(allow("*")))
    for url in (
        reverse("iam-user", args=["mallory"]),
        reverse("iam-user-key-delete", args=["mallory", key.access_key_id]),
        reverse("iam-group", args=["theirs"]),
        reverse("iam-policy-delete", args=["their-policy"]),
        reverse("iam-policy-create") + "?policy=their-policy",
    ):
        assert root.get(url).status_code == 404, url
        assert root.post(url).status_code in (404, 405), url
    assert root.post(reverse("iam-user-key-create", args=["mallory"])).status_code == 404
    assert root.post(reverse("iam-group-member-add", args=["theirs"]), {"user": "alice"}).status_code == 404
    assert root.post(reverse("iam-group-member-add", args=["ops"]), {"user": "mallory"}).status_code == 404
    assert AccessKey.objects.filter(user=mallory).count() == 1
    assert not GroupMembership.objects.filter(group=theirs).exists()


def test_a_key_created_in_the_console_signs_api_calls_until_deleted(root, root_principal) -> None:
    """Item 4 end to end: the key a RAM user gets on its page signs RPC calls as that user (its policies
    decide), and stops working once deleted on the same page."""
    instance = make_instance(root_principal)
    reader = services.ram_user_create(principal=root_principal, name="reader")
    readonly = Policy.objects.get(account=None, name="AliyunECSAssistantReadonlyAccess")
    services.policy_attach(principal=root_principal, policy=readonly, to_user=reader)
    issued = root.post(reverse("iam-user-key-create", args=["reader"])).context["issued"]
    rpc = Rpc(Client(), Tenant(reader, issued.access_key_id, issued.access_key_secret))
    region = settings.ASSIST_REGION
    assert rpc.v1("DescribeInvocationResults", {"RegionId": region}).status_code == 200
    run = rpc.v1(
        "RunCommand",
        {"RegionId": region, "Type": "RunShellScript", "CommandContent": "id", "InstanceId.1": instance.id},
    )
    assert run.status_code == 403 and run.json()["Code"] == "Forbidden.RAM"
    denied = AuditEvent.objects.get(event_name="RunCommand")
    assert (denied.allowed, denied.user_name, denied.access_key_id) == (False, "reader", issued.access_key_id)
    root.post(reverse("iam-user-key-delete", args=["reader", issued.access_key_id]))
    gone = rpc.v1("DescribeInvocationResults", {"RegionId": region})
    assert gone.status_code == 400 and gone.json()["Code"] == "InvalidAccessKeyId.NotFound"


def test_nobody_but_root_manages_the_root_users_keys(root_principal, world) -> None:
    """Even ``ram:*`` does not let a delegate mint root credentials or delete root's keys."""
    delegate = as_user(ram_principal(root_principal, "delegate", documents=(doc(allow("*")),)))
    root_key = AccessKey.objects.get(user_id=root_principal.user_id)
    page = delegate.get(reverse("iam-user", args=["admin"]))
    assert page.status_code == 200 and b"Create access key" not in page.content
    assert b"Delete\xe2\x80\xa6" not in page.content
    refused = delegate.post(reverse("iam-user-key-create", args=["admin"]))
    assert refused.status_code == 403 and b"Only the root user" in refused.content
    assert delegate.post(reverse("iam-user-key-delete", args=["admin", root_key.pk])).status_code == 403
    assert list(AccessKey.objects.filter(user_id=root_principal.user_id)) == [root_key]
    own = as_user(root_principal).post(reverse("iam-user-key-create", args=["admin"]))
    assert own.status_code == 200 and AccessKey.objects.filter(user_id=root_principal.user_id).count() == 2
