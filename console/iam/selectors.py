"""Reads of IAM rows on behalf of a principal. Rows of another account are never returned: missing and
forbidden answer the same ``EntityNotExist.*`` error."""

from django.db.models import Q, QuerySet

from console.errors import NotFound
from console.iam import policy as policy_lang
from console.iam.models import Group, Policy, PolicyAttachment, PolicyVersion, User
from console.iam.principal import Principal


def users_visible(principal: Principal) -> QuerySet[User]:
    return User.objects.filter(account_id=principal.account_id)


def groups_visible(principal: Principal) -> QuerySet[Group]:
    return Group.objects.filter(account_id=principal.account_id)


def policies_visible(principal: Principal) -> QuerySet[Policy]:
    """The system policies and the account's own custom policies."""
    return Policy.objects.filter(Q(account__isnull=True) | Q(account_id=principal.account_id))


def user_by_name(principal: Principal, name: str) -> User:
    user = users_visible(principal).filter(name=name).first()
    if user is None:
        raise NotFound("EntityNotExist.User", f"The user does not exist: {name}.")
    return user


def group_by_name(principal: Principal, name: str) -> Group:
    group = groups_visible(principal).filter(name=name).first()
    if group is None:
        raise NotFound("EntityNotExist.Group", f"The group does not exist: {name}.")
    return group


def policy_by_name(principal: Principal, name: str, policy_type: str = Policy.CUSTOM) -> Policy:
    found = policies_visible(principal).filter(name=name, policy_type=policy_type).first()
    if found is None:
        raise NotFound("EntityNotExist.Policy", f"The policy does not exist: {policy_type} {name}.")
    return found


def attached_policies_of_user(user_id: int) -> list[policy_lang.AttachedPolicy]:
    """Every policy that applies to a RAM user: its own and its groups' (pooled), in one query."""
    rows = (
        PolicyAttachment.objects.filter(Q(user_id=user_id) | Q(group__memberships__user_id=user_id))
        .select_related("policy", "group")
        .order_by("pk")
    )
    return [
        policy_lang.AttachedPolicy(
            name=row.policy.name,
            policy=policy_lang.parse(row.policy.document),
            attached="user" if row.group is None else f"group:{row.group.name}",
        )
        for row in rows
    ]


def attached_policies_of_role(role_id: int) -> list[policy_lang.AttachedPolicy]:
    """The policies attached to a role, in one query."""
    rows = PolicyAttachment.objects.filter(role_id=role_id).select_related("policy").order_by("pk")
    return [
        policy_lang.AttachedPolicy(
            name=row.policy.name, policy=policy_lang.parse(row.policy.document), attached="role"
        )
        for row in rows
    ]


def ram_user_by_name(principal: Principal, name: str) -> User:
    """A RAM user of the principal's account (the root user is not a RAM user)."""
    user = users_visible(principal).filter(name=name, is_root=False).first()
    if user is None:
        raise NotFound("EntityNotExist.User", f"The user does not exist: {name}.")
    return user


def policy_versions_of(policy: Policy) -> list[PolicyVersion]:
    """A policy's versions, oldest first. A policy stored before versions existed (none stored) has its
    document as an implicit default ``v1``."""
    versions = list(policy.versions.order_by("pk"))
    if not versions:
        versions = [
            PolicyVersion(
                policy=policy,
                version_id=policy.default_version,
                document=policy.document,
                created_at=policy.created_at,
            )
        ]
    return versions
