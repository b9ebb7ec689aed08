import json
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from console.errors import Forbidden, NotFound, ServiceError
from console.iam import crypto
from console.iam import policy as policy_lang
from console.iam import selectors as iam_selectors
from console.iam.authz import authorize
from console.iam.models import (
    AccessKey,
    Account,
    Group,
    GroupMembership,
    Policy,
    PolicyAttachment,
    PolicyVersion,
    Role,
    User,
)
from console.iam.principal import Principal, ram_arn
from console.iam.sts import role_arn_of
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


def _same_account(principal: Principal, row: User | Group | Role, code: str) -> None:
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
def ram_user_create(
    *,
    principal: Principal,
    name: str,
    password: str | None = None,
    display_name: str = "",
    comments: str = "",
    email: str = "",
    mobile_phone: str = "",
) -> User:
    """A RAM user of the principal's account, logging in as ``name@account`` when it has a password."""
    authorize(principal, "ram:CreateUser", [ram_arn(principal.account_id, "user", name)])
    if not _USER_NAME.match(name):
        raise ServiceError("InvalidParameter.UserName", "User names are letters, digits, '.', '_' and '-'.")
    _check_user_profile(display_name=display_name, comments=comments, email=email, mobile_phone=mobile_phone)
    if password is not None:
        _check_password(password)
    account = Account.objects.select_for_update().get(pk=principal.account_id)
    if User.objects.filter(account=account, name=name).exists():
        raise _conflict("EntityAlreadyExists.User", f"The user already exists: {name}.")
    if User.objects.filter(account=account).count() >= MAX_USERS_PER_ACCOUNT:
        raise ServiceError("LimitExceeded.User", f"An account has at most {MAX_USERS_PER_ACCOUNT} users.")
    user = User(
        account=account,
        name=name,
        login_name=f"{name}@{account.name}",
        is_root=False,
        display_name=display_name,
        comments=comments,
        email=email,
        mobile_phone=mobile_phone,
    )
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
        user.login_profile_created_at = timezone.now()
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
    PolicyVersion.objects.create(policy=created, version_id=created.default_version, document=text)
    return created


@transaction.atomic
def policy_delete(
    *, principal: Principal, policy: Policy, cascade: bool = False, refuse_versions: bool = False
) -> None:
    """Delete a custom policy, which must be attached to nothing unless ``cascade`` (RAM's
    ``CascadingDelete``) detaches it everywhere. Its versions go with it; the RAM API passes
    ``refuse_versions`` to refuse, as RAM does, while versions other than the default remain (the console,
    which has no version pages, deletes them along)."""
    if policy.account_id != principal.account_id:
        raise NotFound("EntityNotExist.Policy", f"The policy does not exist: {policy.name}.")
    authorize(principal, "ram:DeletePolicy", [ram_arn(principal.account_id, "policy", policy.name)])
    if cascade:
        policy.attachments.all().delete()
    if policy.attachments.exists():
        raise _conflict(
            "DeleteConflict.Policy.Attachment", "Detach the policy from every user and group first."
        )
    extra_versions = policy.versions.exclude(version_id=policy.default_version)
    if refuse_versions and not cascade and extra_versions.exists():
        raise _conflict(
            "DeleteConflict.Policy.Version", "Delete the policy's versions other than its default first."
        )
    policy.delete()


def _target(
    principal: Principal, to_user: User | None, to_group: Group | None, to_role: Role | None = None
) -> tuple[str, str, dict[str, User | Group | Role]]:
    """("User"|"Group"|"Role", the target's ARN, the filter naming it)."""
    if sum(target is not None for target in (to_user, to_group, to_role)) != 1:
        raise ServiceError("InvalidParameter.Target", "Give exactly one of a user, a group or a role.")
    if to_role is not None:
        _same_account(principal, to_role, "EntityNotExist.Role")
        return "Role", role_arn_of(principal.account_id, to_role.name), {"role": to_role}
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
    to_role: Role | None = None,
) -> PolicyAttachment:
    kind, target_arn, target = _target(principal, to_user, to_group, to_role)
    _policy_visible(principal, policy)
    authorize(principal, f"ram:AttachPolicyTo{kind}", [target_arn])
    # Serialise attachments to one target so the limits hold under concurrency.
    {"User": User, "Group": Group, "Role": Role}[kind].objects.select_for_update().filter(
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
    from_role: Role | None = None,
) -> None:
    kind, target_arn, target = _target(principal, from_user, from_group, from_role)
    _policy_visible(principal, policy)
    authorize(principal, f"ram:DetachPolicyFrom{kind}", [target_arn])
    deleted, _ = PolicyAttachment.objects.filter(policy=policy, **target).delete()
    if not deleted:
        raise NotFound(f"EntityNotExist.{kind}.Policy", f"{policy.name} is not attached.")


def _not_roots_keys(principal: Principal, user: User) -> None:
    """The root user's keys are its own: no RAM policy (not even ``ram:*``) lets anyone else mint or
    delete them, or a delegate could give itself root credentials. A role session is a delegate too,
    even one the root user assumed."""
    if user.is_root and (principal.is_role_session or principal.user_id != user.pk):
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


# --------------------------------------------------------------------------------------------------------
# The RAM API (console/api/actions/ram.py): reads with their RAM checks, user profiles and deletion, login
# profiles, policy versions. The root user is not a RAM user: these never list, return or change it.

MAX_POLICY_VERSIONS = 5
ROTATE_NONE = "None"
ROTATE_DELETE_OLDEST = "DeleteOldestNonDefaultVersionWhenLimitExceeded"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MOBILE_PHONE = re.compile(r"^[0-9]{1,4}-[0-9]{4,20}$")


def _user_arn(principal: Principal, name: str) -> str:
    return ram_arn(principal.account_id, "user", name)


def _policy_arn(principal: Principal, name: str) -> str:
    return ram_arn(principal.account_id, "policy", name)


def _check_user_profile(
    *,
    display_name: str | None = None,
    comments: str | None = None,
    email: str | None = None,
    mobile_phone: str | None = None,
) -> None:
    if display_name is not None and len(display_name) > 128:
        raise ServiceError("InvalidParameter.DisplayName", "The display name must be at most 128 characters.")
    if comments is not None and len(comments) > 128:
        raise ServiceError("InvalidParameter.Comments", "Comments must be at most 128 characters.")
    if email and (len(email) > 128 or not _EMAIL.match(email)):
        raise ServiceError("InvalidParameter.Email", f"Not an email address: {email!r}.")
    if mobile_phone and not _MOBILE_PHONE.match(mobile_phone):
        raise ServiceError(
            "InvalidParameter.MobilePhone",
            f"A mobile phone is <country code>-<number>, e.g. 86-18600008888, not {mobile_phone!r}.",
        )


def _ram_user_only(principal: Principal, user: User) -> None:
    _same_account(principal, user, "EntityNotExist.User")
    if user.is_root:
        raise NotFound("EntityNotExist.User", f"The user does not exist: {user.name}.")


def ram_user_get(*, principal: Principal, name: str) -> User:
    authorize(principal, "ram:GetUser", [_user_arn(principal, name)])
    return iam_selectors.ram_user_by_name(principal, name)


def ram_users_list(*, principal: Principal) -> QuerySet[User]:
    authorize(principal, "ram:ListUsers", [_user_arn(principal, "*")])
    return User.objects.filter(account_id=principal.account_id, is_root=False)


@transaction.atomic
def ram_user_update(
    *,
    principal: Principal,
    user: User,
    new_name: str | None = None,
    display_name: str | None = None,
    comments: str | None = None,
    email: str | None = None,
    mobile_phone: str | None = None,
) -> User:
    """UpdateUser: only what is given changes. A new name changes the console log-in name too; policies
    naming the old user ARN no longer match it."""
    _ram_user_only(principal, user)
    authorize(principal, "ram:UpdateUser", [_user_arn(principal, user.name)])
    _check_user_profile(display_name=display_name, comments=comments, email=email, mobile_phone=mobile_phone)
    account = Account.objects.select_for_update().get(pk=principal.account_id)
    locked = User.objects.select_for_update().get(pk=user.pk)
    if new_name is not None and new_name != locked.name:
        if not _USER_NAME.match(new_name):
            raise ServiceError(
                "InvalidParameter.NewUserName", "User names are letters, digits, '.', '_' and '-'."
            )
        if User.objects.filter(account=account, name=new_name).exists():
            raise _conflict("EntityAlreadyExists.User", f"The user already exists: {new_name}.")
        locked.name = new_name
        locked.login_name = f"{new_name}@{account.name}"
    for field, value in (
        ("display_name", display_name),
        ("comments", comments),
        ("email", email),
        ("mobile_phone", mobile_phone),
    ):
        if value is not None:
            setattr(locked, field, value)
    locked.updated_at = timezone.now()
    locked.full_clean()
    locked.save()
    return locked


@transaction.atomic
def ram_user_delete(*, principal: Principal, user: User) -> None:
    """DeleteUser, refused (409) while the user still has access keys, groups or policies, as RAM does."""
    _ram_user_only(principal, user)
    authorize(principal, "ram:DeleteUser", [_user_arn(principal, user.name)])
    User.objects.select_for_update().filter(pk=user.pk).first()
    if AccessKey.objects.filter(user=user).exists():
        raise _conflict("DeleteConflict.User.AccessKey", "Delete the user's access keys first.")
    if GroupMembership.objects.filter(user=user).exists():
        raise _conflict("DeleteConflict.User.Group", "Remove the user from its groups first.")
    if PolicyAttachment.objects.filter(user=user).exists():
        raise _conflict("DeleteConflict.User.Policy", "Detach the user's policies first.")
    user.delete()


@transaction.atomic
def login_profile_create(
    *,
    principal: Principal,
    user: User,
    password: str,
    password_reset_required: bool = False,
    mfa_bind_required: bool = False,
) -> User:
    """CreateLoginProfile: a console password for a RAM user that has none, under the password policy."""
    _ram_user_only(principal, user)
    authorize(principal, "ram:CreateLoginProfile", [_user_arn(principal, user.name)])
    unsupported = {"PasswordResetRequired": password_reset_required, "MFABindRequired": mfa_bind_required}
    for name, wanted in unsupported.items():
        if wanted:
            raise ServiceError(
                f"InvalidParameter.{name}", f"{name}=true is not supported by this server yet."
            )
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.has_usable_password():
        raise _conflict("EntityAlreadyExists.User.LoginProfile", f"{user.name} already has a login profile.")
    _check_password(password, locked)
    locked.set_password(password)
    locked.login_profile_created_at = timezone.now()
    locked.save(update_fields=["password", "login_profile_created_at"])
    return locked


def groups_list(*, principal: Principal) -> QuerySet[Group]:
    authorize(principal, "ram:ListGroups", [ram_arn(principal.account_id, "group", "*")])
    return Group.objects.filter(account_id=principal.account_id)


def policy_get(*, principal: Principal, name: str, policy_type: str) -> Policy:
    authorize(principal, "ram:GetPolicy", [_policy_arn(principal, name)])
    return iam_selectors.policy_by_name(principal, name, policy_type)


def policies_list(*, principal: Principal, policy_type: str = "") -> QuerySet[Policy]:
    """The system policies and the account's custom ones (or one kind of them)."""
    authorize(principal, "ram:ListPolicies", [_policy_arn(principal, "*")])
    policies = iam_selectors.policies_visible(principal)
    return policies.filter(policy_type=policy_type) if policy_type else policies


def policies_of_user_list(*, principal: Principal, user: User) -> QuerySet[PolicyAttachment]:
    _ram_user_only(principal, user)
    authorize(principal, "ram:ListPoliciesForUser", [_user_arn(principal, user.name)])
    return PolicyAttachment.objects.filter(user=user).select_related("policy")


def ram_access_keys_list(*, principal: Principal, user: User) -> QuerySet[AccessKey]:
    _same_account(principal, user, "EntityNotExist.User")
    _not_roots_keys(principal, user)
    authorize(principal, "ram:ListAccessKeys", [_user_arn(principal, user.name)])
    return AccessKey.objects.filter(user=user)


def _own_custom_policy(principal: Principal, policy: Policy) -> None:
    """Versions belong to custom policies; system ones (and other accounts') do not exist here."""
    if policy.account_id != principal.account_id:
        raise NotFound("EntityNotExist.Policy", f"The policy does not exist: {policy.name}.")


def _lock_with_stored_versions(policy: Policy) -> Policy:
    """The policy locked for a version change, its implicit ``v1`` (a policy from before versions)
    stored first."""
    locked = Policy.objects.select_for_update().get(pk=policy.pk)
    if not locked.versions.exists():
        PolicyVersion.objects.create(
            policy=locked, version_id=locked.default_version, document=locked.document
        )
    return locked


@transaction.atomic
def policy_version_create(
    *,
    principal: Principal,
    policy: Policy,
    document: str | dict[str, Any],
    set_as_default: bool = False,
    rotate_strategy: str = ROTATE_NONE,
) -> PolicyVersion:
    """CreatePolicyVersion: a new version ``v<n>`` (n never reused). At most 5 are kept: over that, the
    call is refused, or with ``DeleteOldestNonDefaultVersionWhenLimitExceeded`` the oldest version that
    is not the default goes. ``set_as_default`` makes it the evaluated document at once."""
    _own_custom_policy(principal, policy)
    authorize(principal, "ram:CreatePolicyVersion", [_policy_arn(principal, policy.name)])
    if rotate_strategy not in (ROTATE_NONE, ROTATE_DELETE_OLDEST):
        raise ServiceError(
            "InvalidParameter.RotateStrategy", f"RotateStrategy is {ROTATE_NONE} or {ROTATE_DELETE_OLDEST}."
        )
    text = _document_text(document)
    errors = policy_lang.validate(text)
    if errors:
        raise ServiceError("MalformedPolicyDocument", "; ".join(str(e) for e in errors[:10]))
    locked = _lock_with_stored_versions(policy)
    versions = locked.versions.order_by("pk")
    if versions.count() >= MAX_POLICY_VERSIONS:
        if rotate_strategy != ROTATE_DELETE_OLDEST:
            raise ServiceError(
                "LimitExceeded.Policy.Version",
                f"A policy keeps at most {MAX_POLICY_VERSIONS} versions: delete one first.",
            )
        versions.exclude(version_id=locked.default_version).first().delete()  # type: ignore[union-attr]
    locked.last_version_number += 1
    version = PolicyVersion.objects.create(
        policy=locked, version_id=f"v{locked.last_version_number}", document=text
    )
    if set_as_default:
        locked.default_version, locked.document = version.version_id, text
    locked.save()
    return version


def _version_of(policy: Policy, version_id: str) -> PolicyVersion:
    version = policy.versions.filter(version_id=version_id).first()
    if version is None:
        raise NotFound(
            "EntityNotExist.Policy.Version", f"The version does not exist: {policy.name} {version_id}."
        )
    return version


@transaction.atomic
def policy_version_set_default(*, principal: Principal, policy: Policy, version_id: str) -> Policy:
    """SetDefaultPolicyVersion: that version's document is the one evaluated from now on."""
    _own_custom_policy(principal, policy)
    authorize(principal, "ram:SetDefaultPolicyVersion", [_policy_arn(principal, policy.name)])
    locked = _lock_with_stored_versions(policy)
    version = _version_of(locked, version_id)
    locked.default_version, locked.document = version.version_id, version.document
    locked.save()
    return locked


@transaction.atomic
def policy_version_delete(*, principal: Principal, policy: Policy, version_id: str) -> None:
    _own_custom_policy(principal, policy)
    authorize(principal, "ram:DeletePolicyVersion", [_policy_arn(principal, policy.name)])
    locked = _lock_with_stored_versions(policy)
    version = _version_of(locked, version_id)
    if version.version_id == locked.default_version:
        raise _conflict(
            "DeleteConflict.Policy.DefaultVersion",
            "The default version cannot be deleted: make another one the default first.",
        )
    version.delete()


def policy_versions_list(*, principal: Principal, policy: Policy) -> list[PolicyVersion]:
    """ListPolicyVersions (also for system policies, which have one version)."""
    _policy_visible(principal, policy)
    authorize(principal, "ram:ListPolicyVersions", [_policy_arn(principal, policy.name)])
    return iam_selectors.policy_versions_of(policy)


def policy_version_get(*, principal: Principal, policy: Policy, version_id: str) -> PolicyVersion:
    _policy_visible(principal, policy)
    authorize(principal, "ram:GetPolicyVersion", [_policy_arn(principal, policy.name)])
    for version in iam_selectors.policy_versions_of(policy):
        if version.version_id == version_id:
            return version
    raise NotFound(
        "EntityNotExist.Policy.Version", f"The version does not exist: {policy.name} {version_id}."
    )
