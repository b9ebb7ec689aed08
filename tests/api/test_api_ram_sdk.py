"""The RAM API (2015-05-01) through the official ``alibabacloud-ram20150501`` SDK, unchanged, against the
console served over HTTP. The SDK silently leaves fields None when a wrapper or a name is wrong, so every
call checks the parsed fields, not only the status."""

import importlib
import json
import re
from urllib.parse import urlsplit

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_ram20150501 import models as ram
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi import exceptions as tea_exceptions
from alibabacloud_tea_openapi.models import Config
from django.apps import apps
from django.conf import settings

from console.iam import authz
from console.iam.models import AccessKey, Policy, PolicyAttachment, Role, User
from console.iam.principal import Principal
from tests.api.conftest import make_tenant

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
STRONG_PASSWORD = "Tr0ub4dor&3-horse"


@pytest.fixture(autouse=True)
def system_policies(transactional_db) -> None:
    """Transactional tests flush every table, the migration-shipped system policies too: ship them again."""
    ship = importlib.import_module("console.iam.migrations.0003_system_policies").ship_system_policies
    ship(apps, None)


def config(live_server, key_id: str, secret: str, algorithm: str | None = None) -> Config:
    endpoint = urlsplit(live_server.url).netloc.replace("localhost", "127.0.0.1")
    made = Config(access_key_id=key_id, access_key_secret=secret, endpoint=endpoint, protocol="http")
    if algorithm:
        made.signature_algorithm = algorithm
    return made


def client_of(live_server, tenant, algorithm: str | None = None) -> RamClient:
    return RamClient(config(live_server, tenant.access_key_id, tenant.access_key_secret, algorithm))


def refused(call) -> tea_exceptions.ClientException:
    with pytest.raises(tea_exceptions.ClientException) as caught:
        call()
    return caught.value


def document(actions: list[str], resources: list[str] | str = "*", effect: str = "Allow") -> str:
    return json.dumps(
        {"Version": "1", "Statement": [{"Effect": effect, "Action": actions, "Resource": resources}]}
    )


def trust_account(account_id: str) -> str:
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": [f"acs:ram::{account_id}:root"]},
    }
    return json.dumps({"Version": "1", "Statement": [statement]})


@pytest.mark.parametrize("algorithm", [None, "v2"], ids=["v3", "v1"])
def test_users_login_profiles_and_groups(live_server, transactional_db, algorithm) -> None:
    tenant = make_tenant("ram-users")
    client = client_of(live_server, tenant, algorithm)

    created = client.create_user(
        ram.CreateUserRequest(
            user_name="alice",
            display_name="Alice",
            comments="ops",
            email="alice@example.com",
            mobile_phone="86-18600008888",
        )
    ).body
    assert created.request_id
    user = created.user
    assert (user.user_name, user.display_name, user.comments, user.email, user.mobile_phone) == (
        "alice",
        "Alice",
        "ops",
        "alice@example.com",
        "86-18600008888",
    )
    assert user.user_id == str(User.objects.get(name="alice").pk) and TIME.match(user.create_date)
    client.create_user(ram.CreateUserRequest(user_name="bob"))
    client.create_user(ram.CreateUserRequest(user_name="carol"))

    got = client.get_user(ram.GetUserRequest(user_name="alice")).body.user
    assert (got.user_name, got.email, got.last_login_date) == ("alice", "alice@example.com", "")
    assert TIME.match(got.update_date)

    first = client.list_users(ram.ListUsersRequest(max_items=2)).body
    assert [u.user_name for u in first.users.user] == ["alice", "bob"]  # the root user is not a RAM user
    assert first.is_truncated is True and first.marker
    rest = client.list_users(ram.ListUsersRequest(max_items=2, marker=first.marker)).body
    assert [u.user_name for u in rest.users.user] == ["carol"]
    assert rest.is_truncated is False and rest.marker is None

    updated = client.update_user(
        ram.UpdateUserRequest(
            user_name="carol", new_user_name="carla", new_display_name="Carla", new_comments=""
        )
    ).body.user
    assert (updated.user_name, updated.display_name, updated.comments) == ("carla", "Carla", "")
    assert User.objects.get(name="carla").login_name == "carla@ram-users"

    weak = refused(
        lambda: client.create_login_profile(
            ram.CreateLoginProfileRequest(user_name="alice", password="password")
        )
    )
    assert (weak.status_code, weak.code) == (400, "InvalidParameter.Password")
    profile = client.create_login_profile(
        ram.CreateLoginProfileRequest(user_name="alice", password=STRONG_PASSWORD)
    ).body.login_profile
    assert (profile.user_name, profile.password_reset_required, profile.mfabind_required) == (
        "alice",
        False,
        False,
    )
    assert TIME.match(profile.create_date)
    assert User.objects.get(name="alice").check_password(STRONG_PASSWORD)
    again = refused(
        lambda: client.create_login_profile(
            ram.CreateLoginProfileRequest(user_name="alice", password=STRONG_PASSWORD)
        )
    )
    assert (again.status_code, again.code) == (409, "EntityAlreadyExists.User.LoginProfile")

    group = client.create_group(ram.CreateGroupRequest(group_name="deployers", comments="CI")).body.group
    assert (
        (group.group_name, group.comments) == ("deployers", "CI")
        and group.group_id
        and TIME.match(group.create_date)
    )
    client.add_user_to_group(ram.AddUserToGroupRequest(group_name="deployers", user_name="alice"))
    twice = refused(
        lambda: client.add_user_to_group(ram.AddUserToGroupRequest(group_name="deployers", user_name="alice"))
    )
    assert (twice.status_code, twice.code) == (409, "EntityAlreadyExists.User.Group")
    groups = client.list_groups(ram.ListGroupsRequest()).body
    assert [(g.group_name, g.comments) for g in groups.groups.group] == [("deployers", "CI")]
    assert groups.is_truncated is False

    conflict = refused(lambda: client.delete_user(ram.DeleteUserRequest(user_name="alice")))
    assert (conflict.status_code, conflict.code) == (409, "DeleteConflict.User.Group")
    client.remove_user_from_group(ram.RemoveUserFromGroupRequest(group_name="deployers", user_name="alice"))
    assert client.delete_user(ram.DeleteUserRequest(user_name="alice")).body.request_id
    gone = refused(lambda: client.get_user(ram.GetUserRequest(user_name="alice")))
    assert (gone.status_code, gone.code) == (404, "EntityNotExist.User")


def test_policies_versions_and_attachments(live_server, transactional_db) -> None:
    tenant = make_tenant("ram-policies")
    client = client_of(live_server, tenant)
    client.create_user(ram.CreateUserRequest(user_name="dev"))
    client.create_group(ram.CreateGroupRequest(group_name="devs"))
    client.create_role(
        ram.CreateRoleRequest(
            role_name="Runner", assume_role_policy_document=trust_account(tenant.account_id)
        )
    )

    v1 = document(["ecs:DescribeInvocations"])
    made = client.create_policy(
        ram.CreatePolicyRequest(policy_name="read-runs", policy_document=v1, description="reads runs")
    ).body.policy
    assert (made.policy_name, made.policy_type, made.default_version, made.description) == (
        "read-runs",
        "Custom",
        "v1",
        "reads runs",
    )
    assert TIME.match(made.create_date)

    version = client.create_policy_version(
        ram.CreatePolicyVersionRequest(policy_name="read-runs", policy_document=document(["ecs:RunCommand"]))
    ).body.policy_version
    assert (version.version_id, version.is_default_version) == ("v2", False)
    assert json.loads(version.policy_document)["Statement"][0]["Action"] == ["ecs:RunCommand"]
    version3 = client.create_policy_version(
        ram.CreatePolicyVersionRequest(
            policy_name="read-runs", policy_document=document(["ecs:StopInvocation"]), set_as_default=True
        )
    ).body.policy_version
    assert (version3.version_id, version3.is_default_version) == ("v3", True)

    got = client.get_policy(ram.GetPolicyRequest(policy_name="read-runs", policy_type="Custom")).body
    assert (got.policy.default_version, got.policy.attachment_count) == ("v3", 0)
    assert json.loads(got.policy.policy_document)["Statement"][0]["Action"] == ["ecs:StopInvocation"]
    assert (got.default_policy_version.version_id, got.default_policy_version.is_default_version) == (
        "v3",
        True,
    )
    assert got.default_policy_version.policy_document == got.policy.policy_document
    client.set_default_policy_version(
        ram.SetDefaultPolicyVersionRequest(policy_name="read-runs", version_id="v1")
    )
    versions = client.list_policy_versions(
        ram.ListPolicyVersionsRequest(policy_name="read-runs", policy_type="Custom")
    ).body
    assert [(v.version_id, v.is_default_version) for v in versions.policy_versions.policy_version] == [
        ("v1", True),
        ("v2", False),
        ("v3", False),
    ]
    assert Policy.objects.get(name="read-runs").document == v1  # the evaluated document follows

    system = client.get_policy(
        ram.GetPolicyRequest(policy_name="AdministratorAccess", policy_type="System")
    ).body
    assert (system.policy.policy_type, system.default_policy_version.version_id) == ("System", "v1")
    assert json.loads(system.policy.policy_document)["Statement"][0]["Action"] == "*"

    for request, call in (
        (
            ram.AttachPolicyToUserRequest(policy_name="read-runs", policy_type="Custom", user_name="dev"),
            client.attach_policy_to_user,
        ),
        (
            ram.AttachPolicyToGroupRequest(policy_name="read-runs", policy_type="Custom", group_name="devs"),
            client.attach_policy_to_group,
        ),
        (
            ram.AttachPolicyToRoleRequest(policy_name="read-runs", policy_type="Custom", role_name="Runner"),
            client.attach_policy_to_role,
        ),
        (
            ram.AttachPolicyToUserRequest(
                policy_name="AliyunECSAssistantReadonlyAccess", policy_type="System", user_name="dev"
            ),
            client.attach_policy_to_user,
        ),
    ):
        assert call(request).body.request_id
    assert PolicyAttachment.objects.filter(account_id=tenant.account_id).count() == 4
    twice = refused(
        lambda: client.attach_policy_to_user(
            ram.AttachPolicyToUserRequest(policy_name="read-runs", policy_type="Custom", user_name="dev")
        )
    )
    assert (twice.status_code, twice.code) == (409, "EntityAlreadyExists.User.Policy")

    mine = client.list_policies_for_user(ram.ListPoliciesForUserRequest(user_name="dev")).body.policies.policy
    assert [(p.policy_name, p.policy_type, p.default_version) for p in mine] == [
        ("read-runs", "Custom", "v1"),
        ("AliyunECSAssistantReadonlyAccess", "System", "v1"),
    ]
    assert all(TIME.match(p.attach_date) for p in mine) and mine[0].description == "reads runs"

    listed = client.list_policies(ram.ListPoliciesRequest(policy_type="Custom")).body
    assert [(p.policy_name, p.attachment_count) for p in listed.policies.policy] == [("read-runs", 3)]
    everything = client.list_policies(ram.ListPoliciesRequest(max_items=1000)).body.policies.policy
    by_name = {p.policy_name: p for p in everything}
    assert by_name["AdministratorAccess"].policy_type == "System" and "read-runs" in by_name
    assert by_name["AliyunECSAssistantReadonlyAccess"].attachment_count == 1
    paged = client.list_policies(ram.ListPoliciesRequest(max_items=1)).body
    assert len(paged.policies.policy) == 1 and paged.is_truncated is True and paged.marker

    in_use = refused(lambda: client.delete_policy(ram.DeletePolicyRequest(policy_name="read-runs")))
    assert (in_use.status_code, in_use.code) == (409, "DeleteConflict.Policy.Attachment")
    client.detach_policy_from_user(
        ram.DetachPolicyFromUserRequest(policy_name="read-runs", policy_type="Custom", user_name="dev")
    )
    client.detach_policy_from_group(
        ram.DetachPolicyFromGroupRequest(policy_name="read-runs", policy_type="Custom", group_name="devs")
    )
    client.detach_policy_from_role(
        ram.DetachPolicyFromRoleRequest(policy_name="read-runs", policy_type="Custom", role_name="Runner")
    )
    not_attached = refused(
        lambda: client.detach_policy_from_role(
            ram.DetachPolicyFromRoleRequest(policy_name="read-runs", policy_type="Custom", role_name="Runner")
        )
    )
    assert (not_attached.status_code, not_attached.code) == (404, "EntityNotExist.Role.Policy")
    versioned = refused(lambda: client.delete_policy(ram.DeletePolicyRequest(policy_name="read-runs")))
    assert (versioned.status_code, versioned.code) == (409, "DeleteConflict.Policy.Version")
    client.delete_policy_version(ram.DeletePolicyVersionRequest(policy_name="read-runs", version_id="v2"))
    client.delete_policy(ram.DeletePolicyRequest(policy_name="read-runs", cascading_delete=True))
    assert not Policy.objects.filter(name="read-runs").exists()


def test_access_keys_and_roles(live_server, transactional_db) -> None:
    tenant = make_tenant("ram-keys")
    client = client_of(live_server, tenant)
    client.create_user(ram.CreateUserRequest(user_name="robot"))
    ecs_reader = document(["ecs:DescribeInvocations"])
    client.create_policy(ram.CreatePolicyRequest(policy_name="reader", policy_document=ecs_reader))
    client.attach_policy_to_user(
        ram.AttachPolicyToUserRequest(policy_name="reader", policy_type="Custom", user_name="robot")
    )

    key = client.create_access_key(ram.CreateAccessKeyRequest(user_name="robot")).body.access_key
    assert key.access_key_id.startswith("LTAI") and key.access_key_secret and key.status == "Active"
    assert TIME.match(key.create_date)
    assert key.access_key_secret not in AccessKey.objects.get(pk=key.access_key_id).secret_encrypted
    # The new key signs requests as robot, with robot's policies.
    robot_ecs = EcsClient(config(live_server, key.access_key_id, key.access_key_secret))
    described = robot_ecs.describe_invocations(
        ecs_models.DescribeInvocationsRequest(region_id=settings.ASSIST_REGION)
    )
    assert described.body.total_count == 0

    second = client.create_access_key(ram.CreateAccessKeyRequest(user_name="robot")).body.access_key
    third = refused(lambda: client.create_access_key(ram.CreateAccessKeyRequest(user_name="robot")))
    assert third.code == "LimitExceeded.User.AccessKey"
    keys = client.list_access_keys(ram.ListAccessKeysRequest(user_name="robot")).body.access_keys.access_key
    assert [(k.access_key_id, k.status) for k in keys] == [
        (key.access_key_id, "Active"),
        (second.access_key_id, "Active"),
    ]
    assert all(TIME.match(k.create_date) for k in keys)
    # Without UserName: the caller's own keys (here the root user's one key).
    own = client.list_access_keys(ram.ListAccessKeysRequest()).body.access_keys.access_key
    assert [k.access_key_id for k in own] == [tenant.access_key_id]

    has_keys = refused(lambda: client.delete_user(ram.DeleteUserRequest(user_name="robot")))
    assert (has_keys.status_code, has_keys.code) == (409, "DeleteConflict.User.AccessKey")
    client.delete_access_key(
        ram.DeleteAccessKeyRequest(user_name="robot", user_access_key_id=key.access_key_id)
    )
    client.delete_access_key(
        ram.DeleteAccessKeyRequest(user_name="robot", user_access_key_id=second.access_key_id)
    )
    with pytest.raises(tea_exceptions.ClientException) as deleted_key:
        robot_ecs.describe_invocations(
            ecs_models.DescribeInvocationsRequest(region_id=settings.ASSIST_REGION)
        )
    assert deleted_key.value.code == "InvalidAccessKeyId.NotFound"
    has_policies = refused(lambda: client.delete_user(ram.DeleteUserRequest(user_name="robot")))
    assert (has_policies.status_code, has_policies.code) == (409, "DeleteConflict.User.Policy")

    trust = trust_account(tenant.account_id)
    role = client.create_role(
        ram.CreateRoleRequest(
            role_name="Deployer",
            assume_role_policy_document=trust,
            description="CD",
            max_session_duration=7200,
        )
    ).body.role
    assert (
        role.role_name,
        role.description,
        role.max_session_duration,
        role.assume_role_policy_document,
    ) == (
        "Deployer",
        "CD",
        7200,
        trust,
    )
    assert (
        role.arn == f"acs:ram::{tenant.account_id}:role/deployer"
        and role.role_id
        and TIME.match(role.create_date)
    )
    got = client.get_role(
        ram.GetRoleRequest(role_name="deployer")
    ).body.role  # names match case-insensitively
    assert (got.role_name, got.arn, got.is_service_linked_role, got.max_session_duration) == (
        "Deployer",
        role.arn,
        False,
        7200,
    )
    client.attach_policy_to_role(
        ram.AttachPolicyToRoleRequest(policy_name="reader", policy_type="Custom", role_name="Deployer")
    )
    attached = refused(lambda: client.delete_role(ram.DeleteRoleRequest(role_name="Deployer")))
    assert (attached.status_code, attached.code) == (409, "DeleteConflict.Role.Policy")
    client.detach_policy_from_role(
        ram.DetachPolicyFromRoleRequest(policy_name="reader", policy_type="Custom", role_name="Deployer")
    )
    client.delete_role(ram.DeleteRoleRequest(role_name="Deployer"))
    assert not Role.objects.exists()
    missing = refused(lambda: client.get_role(ram.GetRoleRequest(role_name="Deployer")))
    assert (missing.status_code, missing.code) == (404, "EntityNotExist.Role")


def test_refusals_for_ram_users_and_other_accounts(live_server, transactional_db) -> None:
    tenant = make_tenant("ram-walls")
    other = make_tenant("ram-other")
    client = client_of(live_server, tenant)
    foreign = client_of(live_server, other)
    client.create_user(ram.CreateUserRequest(user_name="shared-name"))
    client.create_group(ram.CreateGroupRequest(group_name="team"))
    client.create_policy(
        ram.CreatePolicyRequest(policy_name="mine", policy_document=document(["ecs:RunCommand"]))
    )
    client.create_role(
        ram.CreateRoleRequest(role_name="Mine", assume_role_policy_document=trust_account(tenant.account_id))
    )

    # Another account's entities do not exist for the caller, root or not.
    for call, code in (
        (lambda: foreign.get_user(ram.GetUserRequest(user_name="shared-name")), "EntityNotExist.User"),
        (lambda: foreign.delete_user(ram.DeleteUserRequest(user_name="shared-name")), "EntityNotExist.User"),
        (
            lambda: foreign.add_user_to_group(
                ram.AddUserToGroupRequest(group_name="team", user_name="shared-name")
            ),
            "EntityNotExist.Group",
        ),
        (
            lambda: foreign.get_policy(ram.GetPolicyRequest(policy_name="mine", policy_type="Custom")),
            "EntityNotExist.Policy",
        ),
        (lambda: foreign.delete_policy(ram.DeletePolicyRequest(policy_name="mine")), "EntityNotExist.Policy"),
        (
            lambda: foreign.create_policy_version(
                ram.CreatePolicyVersionRequest(policy_name="mine", policy_document=document(["*"]))
            ),
            "EntityNotExist.Policy",
        ),
        (lambda: foreign.get_role(ram.GetRoleRequest(role_name="Mine")), "EntityNotExist.Role"),
        (lambda: foreign.delete_role(ram.DeleteRoleRequest(role_name="Mine")), "EntityNotExist.Role"),
        (
            lambda: foreign.list_access_keys(ram.ListAccessKeysRequest(user_name="shared-name")),
            "EntityNotExist.User",
        ),
    ):
        error = refused(call)
        assert (error.status_code, error.code) == (404, code)
    assert foreign.list_users(ram.ListUsersRequest()).body.users.user == []
    assert foreign.list_groups(ram.ListGroupsRequest()).body.groups.group == []
    custom = foreign.list_policies(ram.ListPoliciesRequest(policy_type="Custom")).body.policies.policy
    assert custom == []
    # Same names in another account are independent.
    foreign.create_user(ram.CreateUserRequest(user_name="shared-name"))
    assert User.objects.filter(name="shared-name").count() == 2

    # A RAM user without grants is refused every RAM action (403 Forbidden.RAM, naming action and ARN).
    client.create_user(ram.CreateUserRequest(user_name="intern"))
    issued = client.create_access_key(ram.CreateAccessKeyRequest(user_name="intern")).body.access_key
    intern = RamClient(config(live_server, issued.access_key_id, issued.access_key_secret))
    for call, action in (
        (lambda: intern.list_users(ram.ListUsersRequest()), "ram:ListUsers"),
        (lambda: intern.create_user(ram.CreateUserRequest(user_name="sneaky")), "ram:CreateUser"),
        (lambda: intern.get_user(ram.GetUserRequest(user_name="shared-name")), "ram:GetUser"),
        (
            lambda: intern.create_access_key(ram.CreateAccessKeyRequest(user_name="shared-name")),
            "ram:CreateAccessKey",
        ),
        (
            lambda: intern.attach_policy_to_user(
                ram.AttachPolicyToUserRequest(
                    policy_name="AdministratorAccess", policy_type="System", user_name="intern"
                )
            ),
            "ram:AttachPolicyToUser",
        ),
        (
            lambda: intern.get_policy(ram.GetPolicyRequest(policy_name="mine", policy_type="Custom")),
            "ram:GetPolicy",
        ),
        (
            lambda: intern.create_policy_version(
                ram.CreatePolicyVersionRequest(
                    policy_name="mine", policy_document=document(["*"]), set_as_default=True
                )
            ),
            "ram:CreatePolicyVersion",
        ),
        (lambda: intern.delete_role(ram.DeleteRoleRequest(role_name="Mine")), "ram:DeleteRole"),
        (lambda: intern.list_groups(ram.ListGroupsRequest()), "ram:ListGroups"),
    ):
        error = refused(call)
        assert (error.status_code, error.code) == (403, "Forbidden.RAM")
        assert action in error.message
    assert not User.objects.filter(name="sneaky").exists()
    assert not PolicyAttachment.objects.filter(user__name="intern").exists()
    assert Policy.objects.get(name="mine").default_version == "v1"
    assert Role.objects.filter(name="Mine").exists()

    # Granted exactly ram:ListUsers on the account's users, it may list them and nothing more.
    client.create_policy(
        ram.CreatePolicyRequest(
            policy_name="list-users",
            policy_document=document(["ram:ListUsers"], f"acs:ram::{tenant.account_id}:user/*"),
        )
    )
    client.attach_policy_to_user(
        ram.AttachPolicyToUserRequest(policy_name="list-users", policy_type="Custom", user_name="intern")
    )
    names = [u.user_name for u in intern.list_users(ram.ListUsersRequest()).body.users.user]
    assert names == ["shared-name", "intern"]
    assert refused(lambda: intern.get_user(ram.GetUserRequest(user_name="intern"))).code == "Forbidden.RAM"
    intern_principal = Principal.for_user(User.objects.get(name="intern"))
    assert authz.can(intern_principal, "ram:ListUsers", [f"acs:ram::{tenant.account_id}:user/*"])
