"""RAM (API version 2015-05-01) on the same endpoint: users, login profiles, groups, policies and their
versions, attachments, access keys and roles, shaped as the official ``alibabacloud-ram20150501`` SDK's
response models read them (lists wrapped as ``Users.User[]``, ``Policies.Policy[]``...; times as
``2015-01-23T12:33:18Z``). Adapters only: ``console.iam.services`` and ``console.iam.sts`` check and write.
"""

import base64
import binascii
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.db.models import Count, Model, Q, QuerySet

from console.api.actions.invocations import iso_time
from console.api.actions.registry import Action, action
from console.api.params import Params, invalid, missing, unsupported
from console.iam import selectors as iam_selectors
from console.iam import services as iam
from console.iam import sts
from console.iam.models import AccessKey, Group, Policy, PolicyAttachment, PolicyVersion, Role, User
from console.iam.principal import Principal

RAM_VERSION = "2015-05-01"
DEFAULT_MAX_ITEMS = 100
MAX_MAX_ITEMS = 1000
POLICY_TYPES = (Policy.SYSTEM, Policy.CUSTOM)

M = TypeVar("M", bound=Model)


def ram_action(name: str) -> Callable[[Action], Action]:
    return action(name, version=RAM_VERSION)


# --- paging: ``Marker`` (opaque, returned only while ``IsTruncated``) and ``MaxItems`` (1-1000) ---------


def _encode_marker(pk: int) -> str:
    return base64.urlsafe_b64encode(f"after:{pk}".encode()).decode().rstrip("=")


def _decode_marker(marker: str) -> int:
    try:
        text = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4)).decode()
        prefix, _, pk = text.partition(":")
        if prefix != "after" or not pk.isdigit():
            raise ValueError(text)
        return int(pk)
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise invalid("Marker", "it is not a Marker this server returned.") from error


def _page(rows: QuerySet[M], params: Params) -> tuple[list[M], dict[str, Any]]:
    size = params.integer("MaxItems", default=DEFAULT_MAX_ITEMS, minimum=1, maximum=MAX_MAX_ITEMS)
    ordered = rows.order_by("pk")
    marker = params.text("Marker")
    if marker:
        ordered = ordered.filter(pk__gt=_decode_marker(marker))
    found = list(ordered[: size + 1])
    truncated = len(found) > size
    found = found[:size]
    paging: dict[str, Any] = {"IsTruncated": truncated}
    if truncated:
        paging["Marker"] = _encode_marker(found[-1].pk)
    return found, paging


# --- shapes ---------------------------------------------------------------------------------------------


def _user(user: User, *, last_login: bool = False) -> dict[str, Any]:
    shape = {
        "UserId": str(user.pk),
        "UserName": user.name,
        "DisplayName": user.display_name,
        "Comments": user.comments,
        "Email": user.email,
        "MobilePhone": user.mobile_phone,
        "CreateDate": iso_time(user.created_at),
        "UpdateDate": iso_time(user.updated_at or user.created_at),
    }
    if last_login:
        shape["LastLoginDate"] = iso_time(user.last_login)
    return shape


def _group(group: Group) -> dict[str, Any]:
    return {
        "GroupId": str(group.pk),
        "GroupName": group.name,
        "Comments": group.comments,
        "CreateDate": iso_time(group.created_at),
        "UpdateDate": iso_time(group.created_at),
    }


def _policy(policy: Policy) -> dict[str, Any]:
    return {
        "PolicyName": policy.name,
        "PolicyType": policy.policy_type,
        "Description": policy.description,
        "DefaultVersion": policy.default_version,
        "CreateDate": iso_time(policy.created_at),
        "UpdateDate": iso_time(policy.updated_at),
    }


def _version(version: PolicyVersion, policy: Policy) -> dict[str, Any]:
    return {
        "VersionId": version.version_id,
        "IsDefaultVersion": version.version_id == policy.default_version,
        "PolicyDocument": version.document,
        "CreateDate": iso_time(version.created_at),
    }


def _role(role: Role) -> dict[str, Any]:
    return {
        "RoleId": str(role.pk),
        "RoleName": role.name,
        "Arn": sts.role_arn_of(role.account_id, role.name),
        "Description": role.description,
        "AssumeRolePolicyDocument": role.trust_policy,
        "MaxSessionDuration": role.max_session_duration,
        "AllowConsoleLogin": False,
        "CreateDate": iso_time(role.created_at),
    }


def _access_key(key: AccessKey) -> dict[str, Any]:
    return {
        "AccessKeyId": key.pk,
        "Status": "Active" if key.is_active else "Inactive",
        "CreateDate": iso_time(key.created_at),
    }


def _attachments_in_account(principal: Principal, policies: QuerySet[Policy]) -> QuerySet[Policy]:
    """``AttachmentCount`` counts the caller's account's attachments only (system policies are shared)."""
    return policies.annotate(
        attachment_count=Count("attachments", filter=Q(attachments__account_id=principal.account_id))
    )


# --- parameters -----------------------------------------------------------------------------------------


def _optional(params: Params, name: str) -> str | None:
    """A parameter's value, or None when absent (UpdateUser changes only what is sent)."""
    return params.text(name) if name in params else None


def _policy_type(params: Params) -> str:
    if not params.text("PolicyType"):
        raise missing("PolicyType")
    return params.choice("PolicyType", POLICY_TYPES, default=Policy.CUSTOM)


def _refuse(params: Params, names: Iterable[str]) -> None:
    """Options this server cannot honour are refused, never ignored."""
    for name in names:
        flat = any(key.startswith(name + ".") for key in params.raw)  # Tag.1.Key=...
        if flat or params.text(name).strip().lower() not in ("", "false", "[]"):
            raise unsupported(name)


def _named_user(principal: Principal, params: Params) -> User:
    return iam_selectors.ram_user_by_name(principal, params.text("UserName", required=True))


def _key_owner(principal: Principal, params: Params) -> User:
    """``UserName``, or the caller itself when it is absent (as RAM does for a RAM user's own keys)."""
    name = params.text("UserName")
    if name:
        return iam_selectors.user_by_name(principal, name)
    if principal.is_role_session:
        raise missing("UserName")
    return User.objects.get(pk=principal.user_id)


# --- users ----------------------------------------------------------------------------------------------


@ram_action("CreateUser")
def create_user(principal: Principal, params: Params) -> dict[str, Any]:
    """Create a RAM user (no password, no keys yet)."""
    user = iam.ram_user_create(
        principal=principal,
        name=params.text("UserName", required=True),
        display_name=params.text("DisplayName"),
        comments=params.text("Comments"),
        email=params.text("Email"),
        mobile_phone=params.text("MobilePhone"),
    )
    shape = _user(user)
    del shape["UpdateDate"]
    return {"User": shape}


@ram_action("GetUser")
def get_user(principal: Principal, params: Params) -> dict[str, Any]:
    """A RAM user's profile."""
    user = iam.ram_user_get(principal=principal, name=params.text("UserName", required=True))
    return {"User": _user(user, last_login=True)}


@ram_action("ListUsers")
def list_users(principal: Principal, params: Params) -> dict[str, Any]:
    """The account's RAM users, by Marker and MaxItems."""
    users, paging = _page(iam.ram_users_list(principal=principal), params)
    return {"Users": {"User": [_user(user) for user in users]}, **paging}


@ram_action("UpdateUser")
def update_user(principal: Principal, params: Params) -> dict[str, Any]:
    """Rename a RAM user or change its profile."""
    user = iam.ram_user_update(
        principal=principal,
        user=_named_user(principal, params),
        new_name=_optional(params, "NewUserName"),
        display_name=_optional(params, "NewDisplayName"),
        comments=_optional(params, "NewComments"),
        email=_optional(params, "NewEmail"),
        mobile_phone=_optional(params, "NewMobilePhone"),
    )
    return {"User": _user(user)}


@ram_action("DeleteUser")
def delete_user(principal: Principal, params: Params) -> dict[str, Any]:
    """Delete a RAM user that has no keys, groups or policies left."""
    iam.ram_user_delete(principal=principal, user=_named_user(principal, params))
    return {}


@ram_action("CreateLoginProfile")
def create_login_profile(principal: Principal, params: Params) -> dict[str, Any]:
    """Give a RAM user a console password (under the password policy)."""
    user = iam.login_profile_create(
        principal=principal,
        user=_named_user(principal, params),
        password=params.text("Password", required=True),
        password_reset_required=params.boolean("PasswordResetRequired"),
        mfa_bind_required=params.boolean("MFABindRequired"),
    )
    return {
        "LoginProfile": {
            "UserName": user.name,
            "PasswordResetRequired": False,
            "MFABindRequired": False,
            "CreateDate": iso_time(user.login_profile_created_at),
        }
    }


# --- groups ---------------------------------------------------------------------------------------------


@ram_action("CreateGroup")
def create_group(principal: Principal, params: Params) -> dict[str, Any]:
    """Create a RAM user group."""
    group = iam.group_create(
        principal=principal,
        name=params.text("GroupName", required=True),
        comments=params.text("Comments"),
    )
    shape = _group(group)
    del shape["UpdateDate"]
    return {"Group": shape}


@ram_action("ListGroups")
def list_groups(principal: Principal, params: Params) -> dict[str, Any]:
    """The account's groups, by Marker and MaxItems."""
    groups, paging = _page(iam.groups_list(principal=principal), params)
    return {"Groups": {"Group": [_group(group) for group in groups]}, **paging}


@ram_action("AddUserToGroup")
def add_user_to_group(principal: Principal, params: Params) -> dict[str, Any]:
    """Put a RAM user in a group."""
    group = iam_selectors.group_by_name(principal, params.text("GroupName", required=True))
    iam.group_add_user(principal=principal, group=group, user=_named_user(principal, params))
    return {}


@ram_action("RemoveUserFromGroup")
def remove_user_from_group(principal: Principal, params: Params) -> dict[str, Any]:
    """Take a RAM user out of a group."""
    group = iam_selectors.group_by_name(principal, params.text("GroupName", required=True))
    iam.group_remove_user(principal=principal, group=group, user=_named_user(principal, params))
    return {}


# --- policies and versions ------------------------------------------------------------------------------


def _custom_policy(principal: Principal, params: Params) -> Policy:
    return iam_selectors.policy_by_name(principal, params.text("PolicyName", required=True), Policy.CUSTOM)


def _typed_policy(principal: Principal, params: Params) -> Policy:
    name = params.text("PolicyName", required=True)
    return iam_selectors.policy_by_name(principal, name, _policy_type(params))


@ram_action("CreatePolicy")
def create_policy(principal: Principal, params: Params) -> dict[str, Any]:
    """Create a custom policy (its document becomes version v1)."""
    _refuse(params, ["Tag"])
    policy = iam.policy_create(
        principal=principal,
        name=params.text("PolicyName", required=True),
        document=params.text("PolicyDocument", required=True),
        description=params.text("Description"),
    )
    shape = _policy(policy)
    del shape["UpdateDate"]
    return {"Policy": shape}


@ram_action("GetPolicy")
def get_policy(principal: Principal, params: Params) -> dict[str, Any]:
    """A policy and its default version's document."""
    found = iam.policy_get(
        principal=principal, name=params.text("PolicyName", required=True), policy_type=_policy_type(params)
    )
    policy = _attachments_in_account(principal, Policy.objects.filter(pk=found.pk)).get()
    default = next(
        version
        for version in iam_selectors.policy_versions_of(policy)
        if version.version_id == policy.default_version
    )
    return {
        "Policy": {
            **_policy(policy),
            "PolicyDocument": policy.document,
            "AttachmentCount": policy.attachment_count,  # type: ignore[attr-defined]
        },
        "DefaultPolicyVersion": _version(default, policy),
    }


@ram_action("ListPolicies")
def list_policies(principal: Principal, params: Params) -> dict[str, Any]:
    """The system policies and the account's custom ones."""
    _refuse(params, ["Tag"])
    kind = params.choice("PolicyType", POLICY_TYPES, default="")
    policies = _attachments_in_account(principal, iam.policies_list(principal=principal, policy_type=kind))
    page, paging = _page(policies, params)
    shapes = [
        {
            **_policy(policy),
            "AttachmentCount": policy.attachment_count,  # type: ignore[attr-defined]
            "Tags": {"Tag": []},
        }
        for policy in page
    ]
    return {"Policies": {"Policy": shapes}, **paging}


@ram_action("DeletePolicy")
def delete_policy(principal: Principal, params: Params) -> dict[str, Any]:
    """Delete a custom policy (CascadingDelete detaches it first)."""
    iam.policy_delete(
        principal=principal,
        policy=_custom_policy(principal, params),
        cascade=params.boolean("CascadingDelete"),
        refuse_versions=True,
    )
    return {}


@ram_action("CreatePolicyVersion")
def create_policy_version(principal: Principal, params: Params) -> dict[str, Any]:
    """Add a version to a custom policy (at most 5; SetAsDefault makes it the evaluated one)."""
    policy = _custom_policy(principal, params)
    version = iam.policy_version_create(
        principal=principal,
        policy=policy,
        document=params.text("PolicyDocument", required=True),
        set_as_default=params.boolean("SetAsDefault"),
        rotate_strategy=params.text("RotateStrategy", default=iam.ROTATE_NONE) or iam.ROTATE_NONE,
    )
    return {"PolicyVersion": _version(version, version.policy)}


@ram_action("SetDefaultPolicyVersion")
def set_default_policy_version(principal: Principal, params: Params) -> dict[str, Any]:
    """Make a version the one evaluated."""
    iam.policy_version_set_default(
        principal=principal,
        policy=_custom_policy(principal, params),
        version_id=params.text("VersionId", required=True),
    )
    return {}


@ram_action("GetPolicyVersion")
def get_policy_version(principal: Principal, params: Params) -> dict[str, Any]:
    """One version of a policy."""
    policy = _typed_policy(principal, params)
    version = iam.policy_version_get(
        principal=principal, policy=policy, version_id=params.text("VersionId", required=True)
    )
    return {"PolicyVersion": _version(version, policy)}


@ram_action("ListPolicyVersions")
def list_policy_versions(principal: Principal, params: Params) -> dict[str, Any]:
    """A policy's versions."""
    policy = _typed_policy(principal, params)
    versions = iam.policy_versions_list(principal=principal, policy=policy)
    return {"PolicyVersions": {"PolicyVersion": [_version(version, policy) for version in versions]}}


@ram_action("DeletePolicyVersion")
def delete_policy_version(principal: Principal, params: Params) -> dict[str, Any]:
    """Delete a version that is not the default."""
    iam.policy_version_delete(
        principal=principal,
        policy=_custom_policy(principal, params),
        version_id=params.text("VersionId", required=True),
    )
    return {}


# --- attachments ----------------------------------------------------------------------------------------


def _attach_target(principal: Principal, params: Params, kind: str, prefix: str) -> dict[str, Any]:
    """``{"to_user": user}`` (or ``from_group``...) for the attach and detach services."""
    if kind == "User":
        target: User | Group | Role = _named_user(principal, params)
    elif kind == "Group":
        target = iam_selectors.group_by_name(principal, params.text("GroupName", required=True))
    else:
        target = sts.role_by_name(principal, params.text("RoleName", required=True))
    return {f"{prefix}_{kind.lower()}": target}


def _register_attachment_actions(kind: str) -> None:
    def attach(principal: Principal, params: Params) -> dict[str, Any]:
        """Attach a policy."""
        _refuse(params, ["ResourceGroupId"])
        policy = _typed_policy(principal, params)
        iam.policy_attach(principal=principal, policy=policy, **_attach_target(principal, params, kind, "to"))
        return {}

    def detach(principal: Principal, params: Params) -> dict[str, Any]:
        """Detach a policy."""
        _refuse(params, ["ResourceGroupId"])
        policy = _typed_policy(principal, params)
        target = _attach_target(principal, params, kind, "from")
        iam.policy_detach(principal=principal, policy=policy, **target)
        return {}

    ram_action(f"AttachPolicyTo{kind}")(attach)
    ram_action(f"DetachPolicyFrom{kind}")(detach)


for _kind in ("User", "Group", "Role"):
    _register_attachment_actions(_kind)


@ram_action("ListPoliciesForUser")
def list_policies_for_user(principal: Principal, params: Params) -> dict[str, Any]:
    """The policies attached to a RAM user itself."""
    attachments: QuerySet[PolicyAttachment] = iam.policies_of_user_list(
        principal=principal, user=_named_user(principal, params)
    )
    shapes = []
    for attachment in attachments.order_by("pk"):
        shape = _policy(attachment.policy)
        del shape["CreateDate"], shape["UpdateDate"]
        shapes.append({**shape, "AttachDate": iso_time(attachment.created_at)})
    return {"Policies": {"Policy": shapes}}


# --- access keys ----------------------------------------------------------------------------------------


@ram_action("CreateAccessKey")
def create_access_key(principal: Principal, params: Params) -> dict[str, Any]:
    """A new access key pair (the secret is only in this answer)."""
    issued = iam.ram_access_key_create(principal=principal, user=_key_owner(principal, params))
    key = AccessKey.objects.get(pk=issued.access_key_id)
    return {"AccessKey": {**_access_key(key), "AccessKeySecret": issued.access_key_secret}}


@ram_action("ListAccessKeys")
def list_access_keys(principal: Principal, params: Params) -> dict[str, Any]:
    """A user's access keys (without secrets)."""
    keys = iam.ram_access_keys_list(principal=principal, user=_key_owner(principal, params))
    return {"AccessKeys": {"AccessKey": [_access_key(key) for key in keys.order_by("created_at", "pk")]}}


@ram_action("DeleteAccessKey")
def delete_access_key(principal: Principal, params: Params) -> dict[str, Any]:
    """Delete an access key."""
    iam.ram_access_key_delete(
        principal=principal,
        user=_key_owner(principal, params),
        access_key_id=params.text("UserAccessKeyId", required=True),
    )
    return {}


# --- roles ----------------------------------------------------------------------------------------------


@ram_action("CreateRole")
def create_role(principal: Principal, params: Params) -> dict[str, Any]:
    """Create a RAM role with a trust policy."""
    _refuse(params, ["Tag", "AllowConsoleLogin"])
    role = sts.role_create(
        principal=principal,
        name=params.text("RoleName", required=True),
        trust_policy=params.text("AssumeRolePolicyDocument", required=True),
        description=params.text("Description"),
        max_session_duration=params.integer("MaxSessionDuration", default=sts.DEFAULT_DURATION),
    )
    return {"Role": _role(role)}


@ram_action("GetRole")
def get_role(principal: Principal, params: Params) -> dict[str, Any]:
    """A RAM role."""
    role = sts.role_get(principal=principal, name=params.text("RoleName", required=True))
    return {"Role": {**_role(role), "IsServiceLinkedRole": False, "UpdateDate": iso_time(role.created_at)}}


@ram_action("DeleteRole")
def delete_role(principal: Principal, params: Params) -> dict[str, Any]:
    """Delete a role that has no policies left (its sessions end)."""
    role = sts.role_by_name(principal, params.text("RoleName", required=True))
    sts.role_delete(principal=principal, role=role)
    return {}
