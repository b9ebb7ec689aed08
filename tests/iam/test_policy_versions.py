"""Policy versions: at most five per custom policy, the default one is the evaluated document, and every
change of the default takes effect at the next permission check."""

import pytest

from console.errors import ServiceError
from console.iam import selectors, services
from console.iam.authz import AccessDenied
from console.iam.models import Group, Policy, PolicyVersion
from console.iam.principal import Principal
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db

MAY_CREATE_GROUPS = doc(allow("ram:CreateGroup"))
MAY_ONLY_LIST_GROUPS = doc(allow("ram:ListGroups"))


def versions_of(policy: Policy) -> list[tuple[str, bool]]:
    policy.refresh_from_db()
    return [
        (v.version_id, v.version_id == policy.default_version) for v in selectors.policy_versions_of(policy)
    ]


def test_the_default_version_decides(root_principal) -> None:
    user = services.ram_user_create(principal=root_principal, name="dev")
    policy = services.policy_create(principal=root_principal, name="groups", document=MAY_CREATE_GROUPS)
    services.policy_attach(principal=root_principal, policy=policy, to_user=user)
    dev = Principal.for_user(user)
    services.group_create(principal=dev, name="allowed-by-v1")

    v2 = services.policy_version_create(
        principal=root_principal, policy=policy, document=MAY_ONLY_LIST_GROUPS, set_as_default=True
    )
    assert v2.version_id == "v2"
    with pytest.raises(AccessDenied):
        services.group_create(principal=dev, name="refused-by-v2")
    assert services.groups_list(principal=dev).count() == 1  # v2's own grant works

    services.policy_version_set_default(principal=root_principal, policy=policy, version_id="v1")
    services.group_create(principal=dev, name="allowed-again")
    assert sorted(Group.objects.values_list("name", flat=True)) == ["allowed-again", "allowed-by-v1"]
    with pytest.raises(AccessDenied):
        services.groups_list(principal=dev)
    # A version created without SetAsDefault changes nothing.
    services.policy_version_create(principal=root_principal, policy=policy, document=MAY_ONLY_LIST_GROUPS)
    services.group_create(principal=dev, name="still-v1")
    assert versions_of(policy) == [("v1", True), ("v2", False), ("v3", False)]


def test_five_versions_at_most_and_ids_are_never_reused(root_principal) -> None:
    policy = services.policy_create(principal=root_principal, name="p", document=MAY_CREATE_GROUPS)
    for _ in range(4):
        services.policy_version_create(principal=root_principal, policy=policy, document=MAY_ONLY_LIST_GROUPS)
    with pytest.raises(ServiceError) as full:
        services.policy_version_create(principal=root_principal, policy=policy, document=MAY_ONLY_LIST_GROUPS)
    assert full.value.code == "LimitExceeded.Policy.Version"
    rotated = services.policy_version_create(
        principal=root_principal,
        policy=policy,
        document=MAY_ONLY_LIST_GROUPS,
        rotate_strategy=services.ROTATE_DELETE_OLDEST,
    )
    assert rotated.version_id == "v6"
    # The oldest version that is not the default went (v1 is the default and stays).
    assert versions_of(policy) == [("v1", True), ("v3", False), ("v4", False), ("v5", False), ("v6", False)]
    services.policy_version_delete(principal=root_principal, policy=policy, version_id="v6")
    assert (
        services.policy_version_create(
            principal=root_principal, policy=policy, document=MAY_ONLY_LIST_GROUPS
        ).version_id
        == "v7"
    )


@pytest.mark.parametrize(
    ("call", "code", "status"),
    [
        (
            lambda root, p: services.policy_version_delete(principal=root, policy=p, version_id="v1"),
            "DeleteConflict.Policy.DefaultVersion",
            409,
        ),
        (
            lambda root, p: services.policy_version_delete(principal=root, policy=p, version_id="v9"),
            "EntityNotExist.Policy.Version",
            404,
        ),
        (
            lambda root, p: services.policy_version_set_default(principal=root, policy=p, version_id="v9"),
            "EntityNotExist.Policy.Version",
            404,
        ),
        (
            lambda root, p: services.policy_version_create(
                principal=root, policy=p, document='{"Version": "1"}'
            ),
            "MalformedPolicyDocument",
            400,
        ),
        (
            lambda root, p: services.policy_version_create(
                principal=root, policy=p, document=MAY_CREATE_GROUPS, rotate_strategy="Sometimes"
            ),
            "InvalidParameter.RotateStrategy",
            400,
        ),
        (
            lambda root, p: services.policy_version_create(
                principal=root,
                policy=Policy.objects.get(name="AdministratorAccess"),
                document=MAY_CREATE_GROUPS,
            ),
            "EntityNotExist.Policy",
            404,
        ),
    ],
    ids=[
        "delete default",
        "delete unknown",
        "default unknown",
        "bad document",
        "bad rotation",
        "system policy",
    ],
)
def test_version_refusals_change_nothing(root_principal, call, code, status) -> None:
    policy = services.policy_create(principal=root_principal, name="p", document=MAY_CREATE_GROUPS)
    with pytest.raises(ServiceError) as refused:
        call(root_principal, policy)
    assert (refused.value.code, refused.value.status) == (code, status)
    assert versions_of(policy) == [("v1", True)]
    assert policy.document == services._document_text(MAY_CREATE_GROUPS)


def test_another_accounts_policy_has_no_versions_for_the_caller(root_principal, other_principal) -> None:
    policy = services.policy_create(principal=root_principal, name="p", document=MAY_CREATE_GROUPS)
    for call in (
        lambda: services.policy_version_create(
            principal=other_principal, policy=policy, document=MAY_CREATE_GROUPS
        ),
        lambda: services.policy_version_set_default(
            principal=other_principal, policy=policy, version_id="v1"
        ),
        lambda: services.policy_versions_list(principal=other_principal, policy=policy),
    ):
        with pytest.raises(ServiceError) as refused:
            call()
        assert refused.value.code == "EntityNotExist.Policy"


def test_policies_without_stored_versions_have_an_implicit_v1(root_principal) -> None:
    """System policies and policies from before versions: their document is v1; a new version stores it."""
    admin = Policy.objects.get(name="AdministratorAccess")
    assert PolicyVersion.objects.filter(policy=admin, version_id="v1").exists()  # shipped by migration 0005
    policy = services.policy_create(principal=root_principal, name="old", document=MAY_CREATE_GROUPS)
    policy.versions.all().delete()
    assert versions_of(policy) == [("v1", True)]
    services.policy_version_create(
        principal=root_principal, policy=policy, document=MAY_ONLY_LIST_GROUPS, set_as_default=True
    )
    assert versions_of(policy) == [("v1", False), ("v2", True)]
    assert PolicyVersion.objects.get(policy=policy, version_id="v1").document == services._document_text(
        MAY_CREATE_GROUPS
    )


def test_deleting_a_policy_with_versions(root_principal) -> None:
    user = services.ram_user_create(principal=root_principal, name="dev")
    policy = services.policy_create(principal=root_principal, name="p", document=MAY_CREATE_GROUPS)
    services.policy_attach(principal=root_principal, policy=policy, to_user=user)
    services.policy_version_create(principal=root_principal, policy=policy, document=MAY_ONLY_LIST_GROUPS)
    with pytest.raises(ServiceError) as attached:
        services.policy_delete(principal=root_principal, policy=policy)
    assert attached.value.code == "DeleteConflict.Policy.Attachment"
    services.policy_detach(principal=root_principal, policy=policy, from_user=user)
    with pytest.raises(ServiceError) as versioned:  # the RAM API's DeletePolicy
        services.policy_delete(principal=root_principal, policy=policy, refuse_versions=True)
    assert versioned.value.code == "DeleteConflict.Policy.Version"
    services.policy_attach(principal=root_principal, policy=policy, to_user=user)
    services.policy_delete(principal=root_principal, policy=policy, cascade=True)  # CascadingDelete
    assert not Policy.objects.filter(pk=policy.pk).exists()
    assert not PolicyVersion.objects.filter(policy_id=policy.pk).exists()


def test_the_console_deletes_a_policy_with_its_versions(root_principal) -> None:
    policy = services.policy_create(principal=root_principal, name="p", document=MAY_CREATE_GROUPS)
    services.policy_version_create(principal=root_principal, policy=policy, document=MAY_ONLY_LIST_GROUPS)
    services.policy_delete(principal=root_principal, policy=policy)
    assert not PolicyVersion.objects.filter(policy_id=policy.pk).exists()
