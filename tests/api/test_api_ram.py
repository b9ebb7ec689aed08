"""The RAM API (2015-05-01) through signed requests (tests/api/conftest.Rpc): every parameter refusal,
table-driven, changes nothing; the login password never reaches the audit trail."""

import json

import pytest
from alibabacloud_ram20150501 import models as ram_models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.api.actions.registry import VERSIONS
from console.audit.models import AuditEvent
from console.iam import services as iam
from console.iam import sts
from console.iam.models import (
    AccessKey,
    Group,
    GroupMembership,
    Policy,
    PolicyAttachment,
    PolicyVersion,
    Role,
    User,
)
from tests.api.test_api_fuzz import HOSTILE

RAM = {"Version": "2015-05-01"}
ALLOW_ALL = json.dumps(
    {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]}
)


def trust(account_id: str) -> str:
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": [f"acs:ram::{account_id}:root"]},
    }
    return json.dumps({"Version": "1", "Statement": [statement]})


@pytest.fixture
def entities(tenant) -> None:
    root = tenant.principal
    alice = iam.ram_user_create(principal=root, name="alice")
    iam.ram_user_create(principal=root, name="bob")
    iam.group_create(principal=root, name="team")
    iam.policy_create(principal=root, name="custom-p", document=ALLOW_ALL)
    iam.access_key_create(user=alice)
    sts.role_create(principal=root, name="Ops", trust_policy=trust(tenant.account_id))


def snapshot() -> dict[str, object]:
    return {
        "users": sorted(User.objects.values_list("name", "display_name", "email", "password")),
        "groups": sorted(Group.objects.values_list("name", "comments")),
        "memberships": GroupMembership.objects.count(),
        "policies": sorted(Policy.objects.values_list("name", "default_version", "document")),
        "versions": PolicyVersion.objects.count(),
        "attachments": PolicyAttachment.objects.count(),
        "roles": sorted(Role.objects.values_list("name", flat=True)),
        "keys": AccessKey.objects.count(),
    }


ROWS = [
    ("CreateUser", {}, 400, "MissingParameter.UserName"),
    ("CreateUser", {"UserName": "has space"}, 400, "InvalidParameter.UserName"),
    ("CreateUser", {"UserName": "x" * 65}, 400, "InvalidParameter.UserName"),
    ("CreateUser", {"UserName": "carol", "Email": "not-mail"}, 400, "InvalidParameter.Email"),
    ("CreateUser", {"UserName": "carol", "MobilePhone": "12345"}, 400, "InvalidParameter.MobilePhone"),
    ("CreateUser", {"UserName": "carol", "DisplayName": "d" * 129}, 400, "InvalidParameter.DisplayName"),
    ("CreateUser", {"UserName": "carol", "Comments": "c" * 129}, 400, "InvalidParameter.Comments"),
    ("CreateUser", {"UserName": "alice"}, 409, "EntityAlreadyExists.User"),
    ("GetUser", {"UserName": "root"}, 404, "EntityNotExist.User"),  # the root user is not a RAM user
    ("GetUser", {"UserName": "nobody"}, 404, "EntityNotExist.User"),
    ("UpdateUser", {"UserName": "alice", "NewUserName": "has space"}, 400, "InvalidParameter.NewUserName"),
    ("UpdateUser", {"UserName": "alice", "NewUserName": "bob"}, 409, "EntityAlreadyExists.User"),
    ("UpdateUser", {"UserName": "alice", "NewEmail": "x@"}, 400, "InvalidParameter.Email"),
    ("UpdateUser", {"UserName": "root", "NewDisplayName": "R"}, 404, "EntityNotExist.User"),
    ("DeleteUser", {"UserName": "root"}, 404, "EntityNotExist.User"),
    ("DeleteUser", {"UserName": "alice"}, 409, "DeleteConflict.User.AccessKey"),
    ("ListUsers", {"MaxItems": "0"}, 400, "InvalidParameter.MaxItems"),
    ("ListUsers", {"MaxItems": "1001"}, 400, "InvalidParameter.MaxItems"),
    ("ListUsers", {"Marker": "not-a-marker"}, 400, "InvalidParameter.Marker"),
    ("CreateLoginProfile", {"UserName": "bob"}, 400, "MissingParameter.Password"),
    ("CreateLoginProfile", {"UserName": "bob", "Password": "short"}, 400, "InvalidParameter.Password"),
    ("CreateLoginProfile", {"UserName": "bob", "Password": "abcdefghijkl"}, 400, "InvalidParameter.Password"),
    (
        "CreateLoginProfile",
        {"UserName": "bob", "Password": "Tr0ub4dor&3-horse", "PasswordResetRequired": "true"},
        400,
        "InvalidParameter.PasswordResetRequired",
    ),
    (
        "CreateLoginProfile",
        {"UserName": "bob", "Password": "Tr0ub4dor&3-horse", "MFABindRequired": "true"},
        400,
        "InvalidParameter.MFABindRequired",
    ),
    ("CreateGroup", {"GroupName": "bad name!"}, 400, "InvalidParameter.GroupName"),
    ("CreateGroup", {"GroupName": "g", "Comments": "c" * 129}, 400, "InvalidParameter.Comments"),
    ("CreateGroup", {"GroupName": "team"}, 409, "EntityAlreadyExists.Group"),
    ("AddUserToGroup", {"GroupName": "nope", "UserName": "alice"}, 404, "EntityNotExist.Group"),
    ("AddUserToGroup", {"GroupName": "team", "UserName": "nope"}, 404, "EntityNotExist.User"),
    ("RemoveUserFromGroup", {"GroupName": "team", "UserName": "alice"}, 404, "EntityNotExist.User.Group"),
    ("ListGroups", {"MaxItems": "x"}, 400, "InvalidParameter.MaxItems"),
    ("CreatePolicy", {"PolicyName": "p2"}, 400, "MissingParameter.PolicyDocument"),
    ("CreatePolicy", {"PolicyName": "p_2", "PolicyDocument": ALLOW_ALL}, 400, "InvalidParameter.PolicyName"),
    (
        "CreatePolicy",
        {"PolicyName": "p2", "PolicyDocument": '{"Version": "1"}'},
        400,
        "MalformedPolicyDocument",
    ),
    ("CreatePolicy", {"PolicyName": "p2", "PolicyDocument": "{not json"}, 400, "MalformedPolicyDocument"),
    (
        "CreatePolicy",
        {"PolicyName": "p2", "PolicyDocument": ALLOW_ALL, "Tag": '[{"Key":"a","Value":"b"}]'},
        400,
        "InvalidParameter.Tag",
    ),
    (
        "CreatePolicy",
        {"PolicyName": "custom-p", "PolicyDocument": ALLOW_ALL},
        409,
        "EntityAlreadyExists.Policy",
    ),
    ("GetPolicy", {"PolicyName": "custom-p"}, 400, "MissingParameter.PolicyType"),
    ("GetPolicy", {"PolicyName": "custom-p", "PolicyType": "Managed"}, 400, "InvalidParameter.PolicyType"),
    ("GetPolicy", {"PolicyName": "custom-p", "PolicyType": "System"}, 404, "EntityNotExist.Policy"),
    ("ListPolicies", {"PolicyType": "Both"}, 400, "InvalidParameter.PolicyType"),
    ("ListPolicies", {"Tag.1.Key": "env", "Tag.1.Value": "test"}, 400, "InvalidParameter.Tag"),
    ("DeletePolicy", {"PolicyName": "AdministratorAccess"}, 404, "EntityNotExist.Policy"),
    (
        "DeletePolicy",
        {"PolicyName": "custom-p", "CascadingDelete": "yes"},
        400,
        "InvalidParameter.CascadingDelete",
    ),
    (
        "CreatePolicyVersion",
        {"PolicyName": "custom-p", "PolicyDocument": ALLOW_ALL, "SetAsDefault": "maybe"},
        400,
        "InvalidParameter.SetAsDefault",
    ),
    (
        "CreatePolicyVersion",
        {"PolicyName": "custom-p", "PolicyDocument": "x" * 6145},
        400,
        "MalformedPolicyDocument",
    ),
    (
        "SetDefaultPolicyVersion",
        {"PolicyName": "custom-p", "VersionId": "v2"},
        404,
        "EntityNotExist.Policy.Version",
    ),
    (
        "AttachPolicyToUser",
        {"PolicyName": "custom-p", "PolicyType": "Custom", "UserName": "alice", "ResourceGroupId": "rg-1"},
        400,
        "InvalidParameter.ResourceGroupId",
    ),
    (
        "AttachPolicyToUser",
        {"PolicyName": "custom-p", "UserName": "alice"},
        400,
        "MissingParameter.PolicyType",
    ),
    (
        "AttachPolicyToGroup",
        {"PolicyName": "custom-p", "PolicyType": "Custom"},
        400,
        "MissingParameter.GroupName",
    ),
    (
        "AttachPolicyToRole",
        {"PolicyName": "custom-p", "PolicyType": "Custom", "RoleName": "No"},
        404,
        "EntityNotExist.Role",
    ),
    (
        "DetachPolicyFromUser",
        {"PolicyName": "custom-p", "PolicyType": "Custom", "UserName": "alice"},
        404,
        "EntityNotExist.User.Policy",
    ),
    ("CreateAccessKey", {"UserName": "nobody"}, 404, "EntityNotExist.User"),
    ("DeleteAccessKey", {"UserName": "alice"}, 400, "MissingParameter.UserAccessKeyId"),
    (
        "DeleteAccessKey",
        {"UserName": "alice", "UserAccessKeyId": "LTAInope"},
        404,
        "EntityNotExist.User.AccessKey",
    ),
    ("CreateRole", {"RoleName": "R"}, 400, "MissingParameter.AssumeRolePolicyDocument"),
    (
        "CreateRole",
        {"RoleName": "bad name", "AssumeRolePolicyDocument": "{}"},
        400,
        "InvalidParameter.RoleName",
    ),
    ("CreateRole", {"RoleName": "R", "AssumeRolePolicyDocument": ALLOW_ALL}, 400, "MalformedPolicyDocument"),
    ("CreateRole", {"RoleName": "ops", "AssumeRolePolicyDocument": "TRUST"}, 409, "EntityAlreadyExists.Role"),
    (
        "CreateRole",
        {"RoleName": "R", "AssumeRolePolicyDocument": "TRUST", "MaxSessionDuration": "900"},
        400,
        "InvalidParameter.MaxSessionDuration",
    ),
    (
        "CreateRole",
        {"RoleName": "R", "AssumeRolePolicyDocument": "TRUST", "AllowConsoleLogin": "true"},
        400,
        "InvalidParameter.AllowConsoleLogin",
    ),
    ("GetRole", {"RoleName": "Nope"}, 404, "EntityNotExist.Role"),
    ("DeleteRole", {}, 400, "MissingParameter.RoleName"),
    ("ListUsers", {"Version": "2014-05-26"}, 400, "InvalidVersion"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "params", "status", "code"), ROWS, ids=[f"{r[0]} {r[3]} {i}" for i, r in enumerate(ROWS)]
)
def test_refusals_change_nothing(rpc, tenant, entities, action, params, status, code) -> None:
    params = {k: (trust(tenant.account_id) if v == "TRUST" else v) for k, v in params.items()}
    before = snapshot()
    answer = rpc.v1(action, {**RAM, **params})
    assert answer.status_code == status, answer.content
    assert answer.json()["Code"] == code
    assert snapshot() == before


@pytest.mark.django_db
def test_v3_signatures_and_xml_answers(rpc, tenant, entities, monkeypatch) -> None:
    monkeypatch.setattr("tests.api.conftest.VERSION", "2015-05-01")  # the V3 helper's x-acs-version
    listed = rpc.v3("ListUsers", {"MaxItems": "1"})
    assert listed.status_code == 200, listed.content
    body = listed.json()
    assert [u["UserName"] for u in body["Users"]["User"]] == ["alice"] and body["IsTruncated"] is True
    xml = rpc.v1("GetUser", {**RAM, "UserName": "alice"}, fmt="XML")
    assert xml.status_code == 200
    assert b"<GetUserResponse>" in xml.content and b"<UserName>alice</UserName>" in xml.content


@pytest.mark.django_db
def test_the_login_password_is_not_audited(rpc, tenant, entities) -> None:
    password = "Tr0ub4dor&3-horse"
    answer = rpc.v1("CreateLoginProfile", {**RAM, "UserName": "bob", "Password": password})
    assert answer.status_code == 200, answer.content
    assert answer.json()["LoginProfile"]["UserName"] == "bob"
    event = AuditEvent.objects.get(event_name="CreateLoginProfile")
    assert event.success and event.request_parameters["Password"] == "******"
    assert password not in json.dumps(list(AuditEvent.objects.values_list("request_parameters", flat=True)))
    assert User.objects.get(name="bob").check_password(password)


@pytest.mark.django_db
def test_role_sessions_manage_keys_only_by_user_name(rpc, tenant) -> None:
    """STS credentials have no user of their own: CreateAccessKey needs a UserName from them."""
    root = tenant.principal
    role = sts.role_create(principal=root, name="Admin", trust_policy=trust(tenant.account_id))
    admin = Policy.objects.get(account=None, name="AdministratorAccess")
    iam.policy_attach(principal=root, policy=admin, to_role=role)
    creds = rpc.v1(
        "AssumeRole",
        {
            "Version": "2015-04-01",
            "RoleArn": f"acs:ram::{tenant.account_id}:role/admin",
            "RoleSessionName": "s1",
        },
    ).json()["Credentials"]
    signed = {"access_key_id": creds["AccessKeyId"], "secret": creds["AccessKeySecret"]}
    token = {"SecurityToken": creds["SecurityToken"]}
    missing = rpc.v1("CreateAccessKey", {**RAM, **token}, **signed)
    assert (missing.status_code, missing.json()["Code"]) == (400, "MissingParameter.UserName")
    iam.ram_user_create(principal=root, name="svc")
    made = rpc.v1("CreateAccessKey", {**RAM, **token, "UserName": "svc"}, **signed)
    assert made.status_code == 200, made.content
    assert AccessKey.objects.filter(user__name="svc").count() == 1
    # The root user's keys stay the root user's own, even for an administrator.
    root_keys = rpc.v1("ListAccessKeys", {**RAM, **token, "UserName": "root"}, **signed)
    assert (root_keys.status_code, root_keys.json()["Code"]) == (403, "Forbidden.RootAccessKey")


FUZZ_NAMES = [
    "UserName", "NewUserName", "DisplayName", "NewDisplayName", "Comments", "NewComments", "Email",
    "MobilePhone", "Password", "PasswordResetRequired", "GroupName", "PolicyName", "PolicyType",
    "PolicyDocument", "Description", "VersionId", "SetAsDefault", "RotateStrategy", "CascadingDelete",
    "RoleName", "AssumeRolePolicyDocument", "MaxSessionDuration", "UserAccessKeyId", "Marker", "MaxItems",
    "Tag", "ResourceGroupId",
]  # fmt: skip
RAM_ACTIONS = sorted(name for name, version in VERSIONS.items() if version == RAM["Version"])


@pytest.mark.django_db
@pytest.mark.parametrize("action", RAM_ACTIONS)
def test_hostile_parameters_never_answer_5xx_nor_change_anything_when_refused(
    rpc, tenant, entities, action
) -> None:
    names = [
        "alice",
        "bob",
        "team",
        "custom-p",
        "Ops",
        "AdministratorAccess",
        "Custom",
        "System",
        "v1",
        "root",
    ]
    value = st.one_of(HOSTILE, st.sampled_from(names))

    @settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(params=st.dictionaries(st.sampled_from(FUZZ_NAMES), value, max_size=6))
    def check(params: dict[str, str]) -> None:
        before = snapshot()
        answer = rpc.v1(action, {**RAM, **params})
        assert answer.status_code < 500, (action, params, answer.content[:300])
        body = answer.json()
        if answer.status_code >= 400:
            assert body["Code"] and isinstance(body["Message"], str), body
            assert snapshot() == before, (action, params, body)

    check()


# Each RAM operation needs the RAM action of its name on one resource (after acs:ram::<account>:), as
# docs/permissions.md lists: a delegate granted exactly that may act; granted it on another resource, not.
CUSTOM = {"PolicyName": "custom-p", "PolicyType": "Custom"}
HELD = {"PolicyName": "held", "PolicyType": "Custom"}
GRANTS = [
    ("CreateUser", {"UserName": "carol"}, "user/carol"),
    ("GetUser", {"UserName": "alice"}, "user/alice"),
    ("ListUsers", {}, "user/*"),
    ("UpdateUser", {"UserName": "alice", "NewDisplayName": "A"}, "user/alice"),
    ("DeleteUser", {"UserName": "bob"}, "user/bob"),
    ("CreateLoginProfile", {"UserName": "bob", "Password": "Tr0ub4dor&3-horse"}, "user/bob"),
    ("CreateGroup", {"GroupName": "g2"}, "group/g2"),
    ("ListGroups", {}, "group/*"),
    ("AddUserToGroup", {"GroupName": "team", "UserName": "bob"}, "group/team"),
    ("RemoveUserFromGroup", {"GroupName": "team", "UserName": "alice"}, "group/team"),
    ("CreatePolicy", {"PolicyName": "p2", "PolicyDocument": ALLOW_ALL}, "policy/p2"),
    ("GetPolicy", CUSTOM, "policy/custom-p"),
    ("ListPolicies", {}, "policy/*"),
    ("DeletePolicy", {"PolicyName": "lonely"}, "policy/lonely"),
    ("CreatePolicyVersion", {"PolicyName": "custom-p", "PolicyDocument": ALLOW_ALL}, "policy/custom-p"),
    ("SetDefaultPolicyVersion", {"PolicyName": "custom-p", "VersionId": "v2"}, "policy/custom-p"),
    ("GetPolicyVersion", {**CUSTOM, "VersionId": "v2"}, "policy/custom-p"),
    ("ListPolicyVersions", CUSTOM, "policy/custom-p"),
    ("DeletePolicyVersion", {"PolicyName": "custom-p", "VersionId": "v2"}, "policy/custom-p"),
    ("AttachPolicyToUser", {**CUSTOM, "UserName": "bob"}, "user/bob"),
    ("AttachPolicyToGroup", {**CUSTOM, "GroupName": "team"}, "group/team"),
    ("AttachPolicyToRole", {**CUSTOM, "RoleName": "Ops"}, "role/ops"),
    ("DetachPolicyFromUser", {**HELD, "UserName": "alice"}, "user/alice"),
    ("DetachPolicyFromGroup", {**HELD, "GroupName": "team"}, "group/team"),
    ("DetachPolicyFromRole", {**HELD, "RoleName": "Held"}, "role/held"),
    ("ListPoliciesForUser", {"UserName": "alice"}, "user/alice"),
    ("CreateAccessKey", {"UserName": "bob"}, "user/bob"),
    ("ListAccessKeys", {"UserName": "alice"}, "user/alice"),
    ("DeleteAccessKey", {"UserName": "alice", "UserAccessKeyId": "ALICE_KEY"}, "user/alice"),
    ("CreateRole", {"RoleName": "R2", "AssumeRolePolicyDocument": "TRUST"}, "role/r2"),
    ("GetRole", {"RoleName": "Ops"}, "role/ops"),
    ("DeleteRole", {"RoleName": "Ops"}, "role/ops"),
]


def grant_world(tenant, params: dict[str, str]) -> dict[str, str]:
    """The ``entities`` plus what the GRANTS rows act on; ``params`` with its placeholders filled in."""
    root = tenant.principal
    alice = User.objects.get(name="alice")
    iam.group_add_user(principal=root, group=Group.objects.get(name="team"), user=alice)
    held = iam.policy_create(principal=root, name="held", document=ALLOW_ALL)
    iam.policy_attach(principal=root, policy=held, to_user=alice)
    iam.policy_attach(principal=root, policy=held, to_group=Group.objects.get(name="team"))
    iam.policy_attach(
        principal=root,
        policy=held,
        to_role=sts.role_create(principal=root, name="Held", trust_policy=trust(tenant.account_id)),
    )
    iam.policy_create(principal=root, name="lonely", document=ALLOW_ALL)
    iam.policy_version_create(principal=root, policy=Policy.objects.get(name="custom-p"), document=ALLOW_ALL)
    substitutes = {"TRUST": trust(tenant.account_id), "ALICE_KEY": AccessKey.objects.get(user=alice).pk}
    return {**RAM, **{k: substitutes.get(v, v) for k, v in params.items()}}


def test_every_operation_has_a_grant_row() -> None:
    assert sorted(row[0] for row in GRANTS) == RAM_ACTIONS


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "params", "resource"), GRANTS, ids=[row[0] for row in GRANTS])
def test_each_operation_needs_its_ram_action_on_its_resource(
    rpc, tenant, entities, action, params, resource
) -> None:
    ram_action = f"ram:{action}"
    root = tenant.principal
    params = grant_world(tenant, params)

    def delegate(name: str, granted_on: str):
        grant = {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": ram_action, "Resource": granted_on}],
        }
        user = iam.ram_user_create(principal=root, name=name)
        iam.policy_attach(
            principal=root,
            policy=iam.policy_create(principal=root, name=f"{name}-grant", document=grant),
            to_user=user,
        )
        key = iam.access_key_create(user=user)
        return {"access_key_id": key.access_key_id, "secret": key.access_key_secret}

    elsewhere = delegate("elsewhere", f"acs:ram::{tenant.account_id}:{resource.split('/')[0]}/unrelated")
    exact = delegate("exact", f"acs:ram::{tenant.account_id}:{resource}")
    before = snapshot()
    refused = rpc.v1(action, params, **elsewhere)
    assert (refused.status_code, refused.json()["Code"]) == (403, "Forbidden.RAM"), refused.content
    assert ram_action in refused.json()["Message"]
    assert snapshot() == before
    allowed = rpc.v1(action, params, **exact)
    assert allowed.status_code == 200, allowed.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("module", "limit", "action", "params", "code"),
    [
        (iam, "MAX_USERS_PER_ACCOUNT", "CreateUser", {"UserName": "carol"}, "LimitExceeded.User"),
        (iam, "MAX_GROUPS_PER_ACCOUNT", "CreateGroup", {"GroupName": "g2"}, "LimitExceeded.Group"),
        (
            iam,
            "MAX_GROUPS_PER_USER",
            "AddUserToGroup",
            {"GroupName": "team", "UserName": "bob"},
            "LimitExceeded.User.Group",
        ),
        (
            iam,
            "MAX_CUSTOM_POLICIES_PER_ACCOUNT",
            "CreatePolicy",
            {"PolicyName": "p2", "PolicyDocument": ALLOW_ALL},
            "LimitExceeded.Policy",
        ),
        (
            iam,
            "MAX_CUSTOM_POLICIES_PER_TARGET",
            "AttachPolicyToUser",
            {"PolicyName": "custom-p", "PolicyType": "Custom", "UserName": "alice"},
            "LimitExceeded.User.Policy",
        ),
        (
            sts,
            "MAX_ROLES_PER_ACCOUNT",
            "CreateRole",
            {"RoleName": "R2", "AssumeRolePolicyDocument": "TRUST"},
            "LimitExceeded.Role",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and value.startswith("LimitExceeded") else None,
)
def test_limits(rpc, tenant, entities, monkeypatch, module, limit, action, params, code) -> None:
    counts = {
        "MAX_USERS_PER_ACCOUNT": User.objects.filter(account_id=tenant.account_id).count(),
        "MAX_GROUPS_PER_ACCOUNT": 1,
        "MAX_GROUPS_PER_USER": 0,
        "MAX_CUSTOM_POLICIES_PER_ACCOUNT": 1,
        "MAX_CUSTOM_POLICIES_PER_TARGET": 0,
        "MAX_ROLES_PER_ACCOUNT": 1,
    }
    monkeypatch.setattr(module, limit, counts[limit])
    params = {k: (trust(tenant.account_id) if v == "TRUST" else v) for k, v in params.items()}
    before = snapshot()
    answer = rpc.v1(action, {**RAM, **params})
    assert (answer.status_code, answer.json()["Code"]) == (400, code), answer.content
    assert snapshot() == before


@pytest.mark.django_db
def test_every_answer_survives_the_sdk_models_round_trip(rpc, tenant, entities) -> None:
    """Each JSON answer, parsed by the SDK's ``<Action>ResponseBody`` and written back with ``to_map``,
    is unchanged: no field has a name or a wrapper the SDK would drop (it drops them silently)."""
    grant_world(tenant, {})
    for action, params, _ in GRANTS:
        if action.startswith("Delete"):
            continue  # their answer is the RequestId alone; the rows before them change what they need
        sent = {**RAM, **{k: v for k, v in params.items() if k != "Version"}}
        if sent.get("AssumeRolePolicyDocument") == "TRUST":
            sent["AssumeRolePolicyDocument"] = trust(tenant.account_id)
        if sent.get("UserAccessKeyId") == "ALICE_KEY":
            sent["UserAccessKeyId"] = AccessKey.objects.get(user__name="alice").pk
        answer = rpc.v1(action, sent)
        assert answer.status_code == 200, (action, answer.content)
        body = answer.json()
        model = getattr(ram_models, f"{action}ResponseBody")()
        assert model.from_map(body).to_map() == body, action
