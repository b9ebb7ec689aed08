import json
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from console.errors import Forbidden, NotFound, ServiceError
from console.iam import crypto
from console.iam import policy as policy_lang
from console.iam.authz import authorize
from console.iam.models import (
    AccessKey,
    Account,
    Group,
    GroupMembership,
    Policy,
    PolicyAttachment,
    User,
)
from console.iam.principal import Principal, ram_arn
from console.ids import new_account_id

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY_ALPHABET = string.ascii_letters + string.digits
_GROUP_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_POLICY_NAME = re.compile(r"^[A-Za-z0-9-]{1,128}$")

# Reference §1.4 limits.
MAX_USERS_PER_ACCOUNT = 5000
MAX_GROUPS_PER_ACCOUNT = 300
MAX_CUSTOM_POLICIES_PER_ACCOUNT = 1500
MAX_GROUPS_PER_USER = 10
MAX_SYSTEM_POLICIES_PER_TARGET = 20
MAX_CUSTOM_POLICIES_PER_TARGET = 10
MAX_ACCESS_KEYS_PER_USER = 2


@dataclass(frozen=True)
class IssuedAccessKey:
    access_key_id: str
    access_key_secret: str


def account_get_or_create(*, name: str) -> Account:
    if not _NAME.match(name):
        raise ServiceError(
            "InvalidParameter.AccountName", "Account names are lowercase letters, digits and hyphens."
        )
    account, _ = Account.objects.get_or_create(name=name, defaults={"id": new_account_id()})
    return account


@transaction.atomic
def root_user_ensure(*, account: Account, username: str, password: str) -> User:
    """Create the account's root user if missing. An existing user keeps its password (idempotent)."""
    if not _USER_NAME.match(username):
        raise ServiceError("InvalidParameter.UserName", "User names are letters, digits, '.', '_' and '-'.")
    if len(password) < 8:
        raise ServiceError("InvalidParameter.Password", "The password must have at least 8 characters.")
    user = User.objects.filter(account=account, name=username).first()
    if user is None:
        user = User(account=account, name=username, login_name=f"{username}@{account.name}", is_root=True)
        user.set_password(password)
        user.full_clean()
        user.save()
    return user


def access_key_create(*, user: User) -> IssuedAccessKey:
    key_id = "LTAI" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20))
    secret = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(30))
    AccessKey.objects.create(id=key_id, user=user, secret_encrypted=crypto.encrypt(secret))
    return IssuedAccessKey(access_key_id=key_id, access_key_secret=secret)


def access_key_secret(*, access_key: AccessKey) -> str:
    return crypto.decrypt(access_key.secret_encrypted)


@transaction.atomic
def bootstrap(*, account_name: str, username: str, password: str) -> tuple[User, IssuedAccessKey]:
    account = account_get_or_create(name=account_name)
    user = root_user_ensure(account=account, username=username, password=password)
    return user, access_key_create(user=user)


# --------------------------------------------------------------------------------------------------------
# RAM users, groups, policies. Every function checks the acting principal with the RAM action first.


def _conflict(code: str, message: str) -> ServiceError:
    return ServiceError(code, message, status=409)


def _same_account(principal: Principal, row: User | Group, code: str) -> None:
    """Rows of another account do not exist for this principal."""
    if row.account_id != principal.account_id:
        raise NotFound(code, f"The {code.rsplit('.', 1)[-1].lower()} does not exist: {row.name}.")


def _check_password(password: str, user: User | None = None) -> None:
    """The account's password policy for RAM users: ``AUTH_PASSWORD_VALIDATORS`` (length, mixed kinds of
    characters, not a common password). Every rule broken is in the message."""
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ServiceError("InvalidParameter.Password", " ".join(error.messages)) from error


@transaction.atomic
def ram_user_create(*, principal: Principal, name: str, password: str | None = None) -> User:
    """A RAM user of the principal's account, logging in as ``name@account`` when it has a password."""
    authorize(principal, "ram:CreateUser", [ram_arn(principal.account_id, "user", name)])
    if not _USER_NAME.match(name):
        raise ServiceError("InvalidParameter.UserName", "User names are letters, digits, '.', '_' and '-'.")
    if password is not None:
        _check_password(password)
    account = Account.objects.select_for_update().get(pk=principal.account_id)
    if User.objects.filter(account=account, name=name).exists():
        raise _conflict("EntityAlreadyExists.User", f"The user already exists: {name}.")
    if User.objects.filter(account=account).count() >= MAX_USERS_PER_ACCOUNT:
        raise ServiceError("LimitExceeded.User", f"An account has at most {MAX_USERS_PER_ACCOUNT} users.")
    user = User(account=account, name=name, login_name=f"{name}@{account.name}", is_root=False)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def group_create(*, principal: Principal, name: str, comments: str = "") -> Group:
    authorize(principal, "ram:CreateGroup", [ram_arn(principal.account_id, "group", name)])
    if not _GROUP_NAME.match(name):
        raise ServiceError(
            "InvalidParameter.GroupName", "Group names are 1-64 letters, digits, '.', '_' and '-'."
        )
    if len(comments) > 128:
        raise ServiceError("InvalidParameter.Comments", "Comments must be at most 128 characters.")
    account = Account.objects.select_for_update().get(pk=principal.account_id)
    if Group.objects.filter(account=account, name=name).exists():
        raise _conflict("EntityAlreadyExists.Group", f"The group already exists: {name}.")
    if Group.objects.filter(account=account).count() >= MAX_GROUPS_PER_ACCOUNT:
        raise ServiceError("LimitExceeded.Group", f"An account has at most {MAX_GROUPS_PER_ACCOUNT} groups.")
    group = Group(account=account, name=name, comments=comments)
    group.full_clean()
    group.save()
    return group


@transaction.atomic
def group_add_user(*, principal: Principal, group: Group, user: User) -> GroupMembership:
    _same_account(principal, group, "EntityNotExist.Group")
    _same_account(principal, user, "EntityNotExist.User")
    authorize(principal, "ram:AddUserToGroup", [ram_arn(principal.account_id, "group", group.name)])
    User.objects.select_for_update().filter(pk=user.pk).first()
    if GroupMembership.objects.filter(group=group, user=user).exists():
        raise _conflict("EntityAlreadyExists.User.Group", f"{user.name} is already in {group.name}.")
    if GroupMembership.objects.filter(user=user).count() >= MAX_GROUPS_PER_USER:
        raise ServiceError(
            "LimitExceeded.User.Group", f"A user can be in at most {MAX_GROUPS_PER_USER} groups."
        )
    membership = GroupMembership(group=group, user=user)
    membership.full_clean()
    membership.save()
    return membership


@transaction.atomic
def group_remove_user(*, principal: Principal, group: Group, user: User) -> None:
    _same_account(principal, group, "EntityNotExist.Group")
    _same_account(principal, user, "EntityNotExist.User")
    authorize(principal, "ram:RemoveUserFromGroup", [ram_arn(principal.account_id, "group", group.name)])
    deleted, _ = GroupMembership.objects.filter(group=group, user=user).delete()
    if not deleted:
        raise NotFound("EntityNotExist.User.Group", f"{user.name} is not in {group.name}.")


def _document_text(document: str | dict[str, Any]) -> str:
    return document if isinstance(document, str) else json.dumps(document, indent=2)


@transaction.atomic
def policy_create(
    *, principal: Principal, name: str, document: str | dict[str, Any], description: str = ""
) -> Policy:
    """A custom policy. The document is checked by the validator; its first problems are the message."""
    authorize(principal, "ram:CreatePolicy", [ram_arn(principal.account_id, "policy", name)])
    if not _POLICY_NAME.match(name):
        raise ServiceError(
            "InvalidParameter.PolicyName", "Policy names are 1-128 letters, digits and hyphens."
        )
    if len(description) > 1024:
        raise ServiceError("InvalidParameter.Description", "The description must be at most 1024 characters.")
    text = _document_text(document)
    errors = policy_lang.validate(text)
    if errors:
        raise ServiceError("MalformedPolicyDocument", "; ".join(str(e) for e in errors[:10]))
    account = Account.objects.select_for_update().get(pk=principal.account_id)
    if Policy.objects.filter(account=account, name=name).exists():
        raise _conflict("EntityAlreadyExists.Policy", f"The policy already exists: {name}.")
    if Policy.objects.filter(account=account).count() >= MAX_CUSTOM_POLICIES_PER_ACCOUNT:
        raise ServiceError(
            "LimitExceeded.Policy",
            f"An account has at most {MAX_CUSTOM_POLICIES_PER_ACCOUNT} custom policies.",
        )
    created = Policy(
        account=account, name=name, policy_type=Policy.CUSTOM, description=description, document=text
    )
    created.full_clean()
    created.save()
    return created


@transaction.atomic
def policy_delete(*, principal: Principal, policy: Policy) -> None:
    if policy.account_id != principal.account_id:
        raise NotFound("EntityNotExist.Policy", f"The policy does not exist: {policy.name}.")
    authorize(principal, "ram:DeletePolicy", [ram_arn(principal.account_id, "policy", policy.name)])
    if policy.attachments.exists():
        raise _conflict(
            "DeleteConflict.Policy.Attachment", "Detach the policy from every user and group first."
        )
    policy.delete()


def _target(
    principal: Principal, to_user: User | None, to_group: Group | None
) -> tuple[str, str, dict[str, User | Group]]:
    """("User"|"Group", the target's ARN, the filter naming it)."""
    if (to_user is None) == (to_group is None):
        raise ServiceError("InvalidParameter.Target", "Give exactly one of a user or a group.")
    if to_user is not None:
        _same_account(principal, to_user, "EntityNotExist.User")
        return "User", ram_arn(principal.account_id, "user", to_user.name), {"user": to_user}
    assert to_group is not None
    _same_account(principal, to_group, "EntityNotExist.Group")
    return "Group", ram_arn(principal.account_id, "group", to_group.name), {"group": to_group}


def _policy_visible(principal: Principal, policy: Policy) -> None:
    if policy.account_id is not None and policy.account_id != principal.account_id:
        raise NotFound("EntityNotExist.Policy", f"The policy does not exist: {policy.name}.")


@transaction.atomic
def policy_attach(
    *,
    principal: Principal,
    policy: Policy,
    to_user: User | None = None,
    to_group: Group | None = None,
) -> PolicyAttachment:
    kind, target_arn, target = _target(principal, to_user, to_group)
    _policy_visible(principal, policy)
    authorize(principal, f"ram:AttachPolicyTo{kind}", [target_arn])
    # Serialise attachments to one target so the limits hold under concurrency.
    (User if kind == "User" else Group).objects.select_for_update().filter(
        pk=next(iter(target.values())).pk
    ).first()
    attached = PolicyAttachment.objects.filter(**target)
    if attached.filter(policy=policy).exists():
        raise _conflict(f"EntityAlreadyExists.{kind}.Policy", f"{policy.name} is already attached.")
    limit = MAX_SYSTEM_POLICIES_PER_TARGET if policy.account_id is None else MAX_CUSTOM_POLICIES_PER_TARGET
    if attached.filter(policy__policy_type=policy.policy_type).count() >= limit:
        raise ServiceError(
            f"LimitExceeded.{kind}.Policy",
            f"A {kind.lower()} can have at most {limit} {policy.policy_type.lower()} policies attached.",
        )
    attachment = PolicyAttachment(account_id=principal.account_id, policy=policy, **target)
    attachment.full_clean()
    attachment.save()
    return attachment


@transaction.atomic
def policy_detach(
    *,
    principal: Principal,
    policy: Policy,
    from_user: User | None = None,
    from_group: Group | None = None,
) -> None:
    kind, target_arn, target = _target(principal, from_user, from_group)
    _policy_visible(principal, policy)
    authorize(principal, f"ram:DetachPolicyFrom{kind}", [target_arn])
    deleted, _ = PolicyAttachment.objects.filter(policy=policy, **target).delete()
    if not deleted:
        raise NotFound(f"EntityNotExist.{kind}.Policy", f"{policy.name} is not attached.")


def _not_roots_keys(principal: Principal, user: User) -> None:
    """The root user's keys are its own: no RAM policy (not even ``ram:*``) lets anyone else mint or
    delete them, or a delegate could give itself root credentials."""
    if user.is_root and principal.user_id != user.pk:
        raise Forbidden(
            "Forbidden.RootAccessKey", "Only the root user itself can manage the root user's access keys."
        )


@transaction.atomic
def ram_access_key_create(*, principal: Principal, user: User) -> IssuedAccessKey:
    """A new key pair for ``user`` (at most two each). The secret is in the answer only: keep it now."""
    _same_account(principal, user, "EntityNotExist.User")
    _not_roots_keys(principal, user)
    authorize(principal, "ram:CreateAccessKey", [ram_arn(principal.account_id, "user", user.name)])
    User.objects.select_for_update().filter(pk=user.pk).first()
    if AccessKey.objects.filter(user=user).count() >= MAX_ACCESS_KEYS_PER_USER:
        raise ServiceError(
            "LimitExceeded.User.AccessKey",
            f"A user can have at most {MAX_ACCESS_KEYS_PER_USER} access keys: delete one first.",
        )
    return access_key_create(user=user)


@transaction.atomic
def ram_access_key_delete(*, principal: Principal, user: User, access_key_id: str) -> None:
    _same_account(principal, user, "EntityNotExist.User")
    _not_roots_keys(principal, user)
    authorize(principal, "ram:DeleteAccessKey", [ram_arn(principal.account_id, "user", user.name)])
    deleted, _ = AccessKey.objects.filter(user=user, pk=access_key_id).delete()
    if not deleted:
        raise NotFound("EntityNotExist.User.AccessKey", f"The access key does not exist: {access_key_id}.")
