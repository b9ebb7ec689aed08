"""RAM users, groups and policies through their services: the RAM action checked, each refusal's code,
nothing left behind, and the system policies the migration ships."""

import json
from collections.abc import Callable
from typing import Any

import pytest

from console.errors import ServiceError
from console.iam import policy as policy_lang
from console.iam import services
from console.iam.models import Group, GroupMembership, Policy, PolicyAttachment, User
from console.iam.principal import Principal
from console.iam.system_policies import SYSTEM_POLICIES
from tests.iam.conftest import ram_principal
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db


def test_system_policies_are_shipped_and_valid() -> None:
    shipped = {p.name: p for p in Policy.objects.filter(account=None)}
    assert set(shipped) == {
        "AdministratorAccess",
        "AliyunECSAssistantFullAccess",
        "AliyunECSAssistantReadonlyAccess",
    }
    for name, system in shipped.items():
        assert system.policy_type == Policy.SYSTEM
        assert policy_lang.validate(system.document) == []
        assert json.loads(system.document) == SYSTEM_POLICIES[name][1]


def test_build_user_group_policy_and_attach(root_principal: Principal) -> None:
    user = services.ram_user_create(principal=root_principal, name="alice", password="long-enough-pw")
    assert user.login_name == "alice@acme" and not user.is_root and user.check_password("long-enough-pw")
    keyless = services.ram_user_create(principal=root_principal, name="robot")
    assert not keyless.has_usable_password()
    group = services.group_create(principal=root_principal, name="ops", comments="on call")
    services.group_add_user(principal=root_principal, group=group, user=user)
    custom = services.policy_create(
        principal=root_principal, name="run-anywhere", document=doc(allow("ecs:RunCommand"))
    )
    assert custom.policy_type == Policy.CUSTOM and custom.account_id == root_principal.account_id
    system = Policy.objects.get(account=None, name="AliyunECSAssistantReadonlyAccess")
    services.policy_attach(principal=root_principal, policy=custom, to_group=group)
    services.policy_attach(principal=root_principal, policy=system, to_user=user)
    assert PolicyAttachment.objects.filter(account_id=root_principal.account_id).count() == 2
    services.policy_detach(principal=root_principal, policy=system, from_user=user)
    services.policy_detach(principal=root_principal, policy=custom, from_group=group)
    services.group_remove_user(principal=root_principal, group=group, user=user)
    services.policy_delete(principal=root_principal, policy=custom)
    assert not PolicyAttachment.objects.exists() and not GroupMembership.objects.exists()
    assert not Policy.objects.filter(account__isnull=False).exists()


def test_policy_text_is_kept_as_written(root_principal: Principal) -> None:
    text = (
        '{"Version": "1",\n "Statement": [{"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]}'
    )
    assert services.policy_create(principal=root_principal, name="p", document=text).document == text


def _fixture(root: Principal, other: Principal) -> dict[str, Any]:
    """Rows every refusal case may point at."""
    user = services.ram_user_create(principal=root, name="alice")
    group = services.group_create(principal=root, name="ops")
    custom = services.policy_create(principal=root, name="mine", document=doc(allow("ecs:Describe*")))
    theirs_user = services.ram_user_create(principal=other, name="mallory")
    theirs_group = services.group_create(principal=other, name="ops")
    theirs_policy = services.policy_create(principal=other, name="theirs", document=doc(allow("*")))
    services.policy_attach(principal=root, policy=custom, to_user=user)
    services.group_add_user(principal=root, group=group, user=user)
    return {
        "user": user,
        "group": group,
        "custom": custom,
        "admin": Policy.objects.get(account=None, name="AdministratorAccess"),
        "theirs_user": theirs_user,
        "theirs_group": theirs_group,
        "theirs_policy": theirs_policy,
    }


Call = Callable[[Principal, dict[str, Any]], object]

REFUSALS: list[tuple[str, Call, str]] = [
    (
        "user name taken",
        lambda p, r: services.ram_user_create(principal=p, name="alice"),
        "EntityAlreadyExists.User",
    ),
    (
        "user name bad",
        lambda p, r: services.ram_user_create(principal=p, name="a b"),
        "InvalidParameter.UserName",
    ),
    (
        "password short",
        lambda p, r: services.ram_user_create(principal=p, name="bob", password="short"),
        "InvalidParameter.Password",
    ),
    (
        "group name taken",
        lambda p, r: services.group_create(principal=p, name="ops"),
        "EntityAlreadyExists.Group",
    ),
    (
        "group name bad",
        lambda p, r: services.group_create(principal=p, name="o/ps"),
        "InvalidParameter.GroupName",
    ),
    (
        "already in group",
        lambda p, r: services.group_add_user(principal=p, group=r["group"], user=r["user"]),
        "EntityAlreadyExists.User.Group",
    ),
    (
        "other account's user into group",
        lambda p, r: services.group_add_user(principal=p, group=r["group"], user=r["theirs_user"]),
        "EntityNotExist.User",
    ),
    (
        "into other account's group",
        lambda p, r: services.group_add_user(principal=p, group=r["theirs_group"], user=r["user"]),
        "EntityNotExist.Group",
    ),
    (
        "remove non-member",
        lambda p, r: services.group_remove_user(
            principal=p, group=services.group_create(principal=p, name="empty"), user=r["user"]
        ),
        "EntityNotExist.User.Group",
    ),
    (
        "policy malformed",
        lambda p, r: services.policy_create(principal=p, name="bad", document='{"Version": "1"'),
        "MalformedPolicyDocument",
    ),
    (
        "policy invalid statement",
        lambda p, r: services.policy_create(principal=p, name="bad", document=doc({"Effect": "Perhaps"})),
        "MalformedPolicyDocument",
    ),
    (
        "policy name taken",
        lambda p, r: services.policy_create(principal=p, name="mine", document=doc(allow("*"))),
        "EntityAlreadyExists.Policy",
    ),
    (
        "policy name bad",
        lambda p, r: services.policy_create(principal=p, name="my_policy", document=doc(allow("*"))),
        "InvalidParameter.PolicyName",
    ),
    (
        "attach twice",
        lambda p, r: services.policy_attach(principal=p, policy=r["custom"], to_user=r["user"]),
        "EntityAlreadyExists.User.Policy",
    ),
    (
        "attach other account's policy",
        lambda p, r: services.policy_attach(principal=p, policy=r["theirs_policy"], to_user=r["user"]),
        "EntityNotExist.Policy",
    ),
    (
        "attach to other account's user",
        lambda p, r: services.policy_attach(principal=p, policy=r["admin"], to_user=r["theirs_user"]),
        "EntityNotExist.User",
    ),
    (
        "attach to other account's group",
        lambda p, r: services.policy_attach(principal=p, policy=r["admin"], to_group=r["theirs_group"]),
        "EntityNotExist.Group",
    ),
    (
        "attach to both",
        lambda p, r: services.policy_attach(
            principal=p, policy=r["admin"], to_user=r["user"], to_group=r["group"]
        ),
        "InvalidParameter.Target",
    ),
    (
        "attach to nothing",
        lambda p, r: services.policy_attach(principal=p, policy=r["admin"]),
        "InvalidParameter.Target",
    ),
    (
        "detach unattached",
        lambda p, r: services.policy_detach(principal=p, policy=r["admin"], from_user=r["user"]),
        "EntityNotExist.User.Policy",
    ),
    (
        "detach from group unattached",
        lambda p, r: services.policy_detach(principal=p, policy=r["custom"], from_group=r["group"]),
        "EntityNotExist.Group.Policy",
    ),
    (
        "delete attached policy",
        lambda p, r: services.policy_delete(principal=p, policy=r["custom"]),
        "DeleteConflict.Policy.Attachment",
    ),
    (
        "delete system policy",
        lambda p, r: services.policy_delete(principal=p, policy=r["admin"]),
        "EntityNotExist.Policy",
    ),
    (
        "delete other account's policy",
        lambda p, r: services.policy_delete(principal=p, policy=r["theirs_policy"]),
        "EntityNotExist.Policy",
    ),
]


def _counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (User, Group, GroupMembership, Policy, PolicyAttachment))


@pytest.mark.parametrize(("call", "code"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_refusals(root_principal, other_principal, call: Call, code: str) -> None:
    rows = _fixture(root_principal, other_principal)
    before = _counts()
    with pytest.raises(ServiceError) as refused:
        call(root_principal, rows)
    assert refused.value.code == code, refused.value.message
    if code != "EntityNotExist.User.Group":  # that case creates its empty group first
        assert _counts() == before


def test_malformed_policy_message_names_the_place(root_principal) -> None:
    with pytest.raises(ServiceError) as refused:
        services.policy_create(
            principal=root_principal, name="bad", document=doc(allow("ecs:RunCommand", "instance/*"))
        )
    assert refused.value.message.startswith("Statement[0].Resource: 'instance/*' is not a resource ARN")


def test_custom_policy_limit_per_user(root_principal) -> None:
    user = services.ram_user_create(principal=root_principal, name="alice")
    for i in range(services.MAX_CUSTOM_POLICIES_PER_TARGET):
        created = services.policy_create(principal=root_principal, name=f"p{i}", document=doc(allow("*")))
        services.policy_attach(principal=root_principal, policy=created, to_user=user)
    extra = services.policy_create(principal=root_principal, name="extra", document=doc(allow("*")))
    with pytest.raises(ServiceError) as refused:
        services.policy_attach(principal=root_principal, policy=extra, to_user=user)
    assert refused.value.code == "LimitExceeded.User.Policy"
    # System policies count separately.
    admin = Policy.objects.get(account=None, name="AdministratorAccess")
    services.policy_attach(principal=root_principal, policy=admin, to_user=user)


RAM_ACTIONS: list[tuple[str, str, Call]] = [
    ("ram:CreateUser", "user/*", lambda p, r: services.ram_user_create(principal=p, name="dave")),
    ("ram:CreateGroup", "group/*", lambda p, r: services.group_create(principal=p, name="devs")),
    (
        "ram:AddUserToGroup",
        "group/ops",
        lambda p, r: services.group_add_user(principal=p, group=r["group"], user=r["bob"]),
    ),
    (
        "ram:RemoveUserFromGroup",
        "group/ops",
        lambda p, r: services.group_remove_user(principal=p, group=r["group"], user=r["user"]),
    ),
    (
        "ram:CreatePolicy",
        "policy/*",
        lambda p, r: services.policy_create(principal=p, name="new", document=doc(allow("*"))),
    ),
    (
        "ram:DeletePolicy",
        "policy/loose",
        lambda p, r: services.policy_delete(principal=p, policy=r["loose"]),
    ),
    (
        "ram:AttachPolicyToUser",
        "user/alice",
        lambda p, r: services.policy_attach(principal=p, policy=r["admin"], to_user=r["user"]),
    ),
    (
        "ram:AttachPolicyToGroup",
        "group/ops",
        lambda p, r: services.policy_attach(principal=p, policy=r["admin"], to_group=r["group"]),
    ),
    (
        "ram:DetachPolicyFromUser",
        "user/alice",
        lambda p, r: services.policy_detach(principal=p, policy=r["custom"], from_user=r["user"]),
    ),
    (
        "ram:DetachPolicyFromGroup",
        "group/ops",
        lambda p, r: services.policy_detach(principal=p, policy=r["custom"], from_group=r["group"]),
    ),
]


@pytest.mark.parametrize(("action", "resource", "call"), RAM_ACTIONS, ids=[c[0] for c in RAM_ACTIONS])
def test_each_service_checks_its_ram_action(root_principal, other_principal, action, resource, call) -> None:
    rows = _fixture(root_principal, other_principal)
    rows["bob"] = services.ram_user_create(principal=root_principal, name="bob")
    rows["loose"] = services.policy_create(principal=root_principal, name="loose", document=doc(allow("*")))
    services.policy_attach(principal=root_principal, policy=rows["custom"], to_group=rows["group"])
    account = root_principal.account_id
    nobody = ram_principal(root_principal, "nobody")
    before = _counts()
    with pytest.raises(ServiceError) as refused:
        call(nobody, rows)
    assert refused.value.code == "Forbidden.RAM" and action in refused.value.message
    assert _counts() == before
    # A delegated administrator holding exactly that action on exactly that resource may do it.
    delegate = ram_principal(
        root_principal, "delegate", documents=(doc(allow(action, f"acs:ram::{account}:{resource}")),)
    )
    call(delegate, rows)


def test_delegation_is_scoped_to_the_named_resource(root_principal) -> None:
    account = root_principal.account_id
    bob = services.ram_user_create(principal=root_principal, name="bob")
    carol = services.ram_user_create(principal=root_principal, name="carol")
    admin = Policy.objects.get(account=None, name="AdministratorAccess")
    delegate = ram_principal(
        root_principal,
        "helpdesk",
        documents=(doc(allow("ram:AttachPolicyToUser", f"acs:ram::{account}:user/bob")),),
    )
    services.policy_attach(principal=delegate, policy=admin, to_user=bob)
    with pytest.raises(ServiceError) as refused:
        services.policy_attach(principal=delegate, policy=admin, to_user=carol)
    assert refused.value.code == "Forbidden.RAM"
