"""Roles and STS: creating roles with trust policies, assuming them (temporary credentials that sign API
requests like any access key, with the role's policies narrowed by an optional session policy), and who
the caller is (GetCallerIdentity).

Assuming a role needs both the caller's own ``sts:AssumeRole`` grant on the role's ARN and the role's
trust policy letting the caller's ARN in (reference ram-policies §2.2, §5.2). Accounts are walls: a role
of another account does not exist for the caller.
"""

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from console.errors import NotFound, ServiceError
from console.iam import crypto
from console.iam import policy as policy_lang
from console.iam.authz import authorize
from console.iam.models import Role, RoleSession
from console.iam.principal import Principal, principal_arn, ram_arn

ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$")
SESSION_NAME = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")
ROLE_ARN = re.compile(r"^acs:ram::(?P<account>[^:]+):role/(?P<name>[^/]+)$")
MIN_DURATION = 900
DEFAULT_DURATION = 3600
MAX_ROLE_DURATION = 43200
CHAINED_MAX_DURATION = 3600  # a session assuming another role gets at most an hour, as in STS
SESSION_POLICY_MAX = 2048
MAX_ROLES_PER_ACCOUNT = 1000  # reference §1.4
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class IssuedCredentials:
    session: RoleSession
    access_key_secret: str
    security_token: str


def role_arn_of(account_id: str, name: str) -> str:
    """A role's ARN; RAM writes role names lower-case in ARNs (``acs:ram::<account>:role/adminrole``)."""
    return ram_arn(account_id, "role", name.lower())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_policy_text(text: str, *, kind: str, field: str, code: str) -> None:
    errors = policy_lang.validate(text, kind=kind)  # type: ignore[arg-type]
    if errors:
        raise ServiceError(code, f"The {field} is not valid: " + "; ".join(str(e) for e in errors[:3]))


def role_create(
    *,
    principal: Principal,
    name: str,
    trust_policy: str,
    description: str = "",
    max_session_duration: int = DEFAULT_DURATION,
) -> Role:
    """CreateRole: a role of the caller's account trusted by the principals its trust policy names."""
    authorize(principal, "ram:CreateRole", [role_arn_of(principal.account_id, name)])
    if not ROLE_NAME.match(name):
        raise ServiceError("InvalidParameter.RoleName", "Role names are 1-64 letters, digits, '.' and '-'.")
    if len(description) > 1024:
        raise ServiceError("InvalidParameter.Description", "The description must be at most 1024 characters.")
    if not MIN_DURATION * 4 <= max_session_duration <= MAX_ROLE_DURATION:
        raise ServiceError(
            "InvalidParameter.MaxSessionDuration",
            f"MaxSessionDuration must be between {MIN_DURATION * 4} and {MAX_ROLE_DURATION} seconds.",
        )
    _check_policy_text(
        trust_policy, kind="trust", field="AssumeRolePolicyDocument", code="MalformedPolicyDocument"
    )
    if Role.objects.filter(account_id=principal.account_id, name__iexact=name).exists():
        raise ServiceError("EntityAlreadyExists.Role", f"The role already exists: {name}.", status=409)
    if Role.objects.filter(account_id=principal.account_id).count() >= MAX_ROLES_PER_ACCOUNT:
        raise ServiceError("LimitExceeded.Role", f"An account has at most {MAX_ROLES_PER_ACCOUNT} roles.")
    return Role.objects.create(
        account_id=principal.account_id,
        name=name,
        description=description,
        trust_policy=trust_policy,
        max_session_duration=max_session_duration,
    )


def role_by_arn(principal: Principal, role_arn: str) -> Role:
    """The caller's account's role named by ``acs:ram::<account>:role/<name>`` (names match
    case-insensitively, as RAM's do). Another account's role does not exist for the caller."""
    match = ROLE_ARN.match(role_arn.strip())
    if match is None:
        raise ServiceError("InvalidParameter.RoleArn", f"The RoleArn is not valid: {role_arn!r}.")
    role = None
    if match["account"] == principal.account_id:
        role = Role.objects.filter(account_id=principal.account_id, name__iexact=match["name"]).first()
    if role is None:
        raise NotFound("EntityNotExist.Role", f"The role does not exist: {role_arn}.")
    return role


def role_by_name(principal: Principal, name: str) -> Role:
    """The caller's account's role by name (case-insensitive, as RAM's names are); no permission check."""
    role = Role.objects.filter(account_id=principal.account_id, name__iexact=name).first()
    if role is None:
        raise NotFound("EntityNotExist.Role", f"The role does not exist: {name}.")
    return role


def role_get(*, principal: Principal, name: str) -> Role:
    """GetRole, with its RAM check."""
    authorize(principal, "ram:GetRole", [role_arn_of(principal.account_id, name)])
    return role_by_name(principal, name)


@transaction.atomic
def role_delete(*, principal: Principal, role: Role) -> None:
    """DeleteRole, refused (409) while policies are attached. Its live sessions end with it: their STS
    keys are refused from then on."""
    if role.account_id != principal.account_id:
        raise NotFound("EntityNotExist.Role", f"The role does not exist: {role.name}.")
    authorize(principal, "ram:DeleteRole", [role_arn_of(principal.account_id, role.name)])
    Role.objects.select_for_update().filter(pk=role.pk).first()
    if role.policy_attachments.exists():
        raise ServiceError("DeleteConflict.Role.Policy", "Detach the role's policies first.", status=409)
    role.delete()


def role_assume(
    *,
    principal: Principal,
    role_arn: str,
    session_name: str,
    duration_seconds: int | None = None,
    session_policy: str = "",
    external_id: str = "",
    source_identity: str = "",
    now: datetime | None = None,
) -> IssuedCredentials:
    """AssumeRole: temporary credentials for the role, valid ``duration_seconds`` (900 s up to the role's
    maximum; default an hour)."""
    now = now or timezone.now()
    if not SESSION_NAME.match(session_name):
        raise ServiceError(
            "InvalidParameter.RoleSessionName", "RoleSessionName is 2-64 of letters, digits and . @ _ -."
        )
    if external_id and not 2 <= len(external_id) <= 1224:
        raise ServiceError("InvalidParameter.ExternalId", "ExternalId is 2 to 1224 characters.")
    if len(source_identity) > 64:
        raise ServiceError("InvalidParameter.SourceIdentity", "SourceIdentity is at most 64 characters.")
    if session_policy:
        if len(session_policy) > SESSION_POLICY_MAX:
            raise ServiceError(
                "InvalidParameter.PolicyLength", f"The session Policy is longer than {SESSION_POLICY_MAX}."
            )
        _check_policy_text(
            session_policy, kind="identity", field="Policy", code="InvalidParameter.PolicyGrammar"
        )
    role = role_by_arn(principal, role_arn)
    maximum = role.max_session_duration
    if principal.is_role_session:
        maximum = min(maximum, CHAINED_MAX_DURATION)
    duration = min(DEFAULT_DURATION, maximum) if duration_seconds is None else duration_seconds
    if not MIN_DURATION <= duration <= maximum:
        raise ServiceError(
            "InvalidParameter.DurationSeconds",
            f"DurationSeconds must be between {MIN_DURATION} and {maximum} for this role.",
        )
    trust = policy_lang.AttachedPolicy(
        "trust policy", policy_lang.parse(role.trust_policy, kind="trust"), "trust"
    )
    context = {"sts:ExternalId": external_id} if external_id else {}
    authorize(
        principal,
        "sts:AssumeRole",
        [role_arn_of(principal.account_id, role.name)],
        context,
        trust_policy=trust,
    )
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(40))
    token = "CAIS" + secrets.token_urlsafe(96)
    with transaction.atomic():
        session = RoleSession.objects.create(
            access_key_id="STS." + "".join(secrets.choice(_ALPHABET) for _ in range(28)),
            role=role,
            user_id=principal.user_id,
            session_name=session_name,
            session_policy=session_policy,
            source_identity=source_identity,
            secret_encrypted=crypto.encrypt(secret),
            token_hash=token_hash(token),
            source_ip=principal.source_ip,
            expires_at=now + timedelta(seconds=duration),
        )
    return IssuedCredentials(session=session, access_key_secret=secret, security_token=token)


def role_principal(role: Role, *, session_name: str, session_policy: str = "") -> Principal:
    """A session of ``role`` as policies judge it, without credentials: for the simulator and the
    effective-permissions table."""
    return Principal(
        account_id=role.account_id, user_id=0, user_name="", is_root=False, role_id=role.pk,
        role_name=role.name, session_name=session_name, session_policy=session_policy,
    )  # fmt: skip


def session_authenticate(
    *, access_key_id: str, security_token: str, now: datetime | None = None
) -> RoleSession:
    """The live session behind an ``STS.`` key, with its token checked. Errors as STS answers them."""
    now = now or timezone.now()
    session = RoleSession.objects.select_related("role", "user").filter(pk=access_key_id).first()
    if session is None:
        raise ServiceError("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    if not security_token:
        raise ServiceError("MissingSecurityToken", "The SecurityToken is required for STS credentials.")
    if not hmac.compare_digest(session.token_hash, token_hash(security_token)):
        raise ServiceError(
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        )
    if session.expires_at <= now:
        raise ServiceError("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
    if not session.user.is_active:
        raise ServiceError("InvalidAccessKeyId.Inactive", "Specified access key is disabled.", status=403)
    return session


def session_secret(session: RoleSession) -> str:
    return crypto.decrypt(session.secret_encrypted)


def sessions_prune(*, now: datetime | None = None) -> int:
    """Forget sessions that expired a day ago (their keys are refused from expiry on anyway)."""
    cutoff = (now or timezone.now()) - timedelta(days=1)
    deleted, _ = RoleSession.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


def caller_identity(principal: Principal) -> dict[str, str]:
    """GetCallerIdentity: who signed the request (no permission needed)."""
    if principal.is_role_session:
        role_id = str(principal.role_id)
        return {
            "AccountId": principal.account_id,
            "Arn": principal_arn(principal),
            "IdentityType": "AssumedRoleUser",
            "PrincipalId": f"{role_id}:{principal.session_name}",
            "RoleId": role_id,
            "UserId": "",
        }
    user_id = str(principal.user_id)
    return {
        "AccountId": principal.account_id,
        "Arn": principal_arn(principal),
        "IdentityType": "Account" if principal.is_root else "RAMUser",
        "PrincipalId": user_id,
        "RoleId": "",
        "UserId": user_id,
    }
