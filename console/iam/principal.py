from dataclasses import dataclass, field

from console.audit.collect import RequestAudit


@dataclass(frozen=True)
class Principal:
    """Who is acting, passed explicitly to every service (never read from a thread-local).

    ``audit`` is the request's audit collector when a door (RPC endpoint, console middleware) records the
    request: ``authorize`` hands refusals to it. Not part of the principal's identity (no eq, no hash)."""

    account_id: str
    user_id: int
    user_name: str
    is_root: bool
    source_ip: str = ""
    secure_transport: bool = False
    via: str = "console"
    access_key_id: str = ""
    audit: RequestAudit | None = field(default=None, compare=False, hash=False, repr=False)
    # A console session that passed the MFA step (console.mfa): the condition key acs:MFAPresent.
    mfa_present: bool = False
    # Set for a role session (STS credentials): the role's policies apply, not the user's, narrowed by
    # the session policy; ``user_id`` stays the user who assumed the role (who created what).
    role_id: int | None = None
    role_name: str = ""
    session_name: str = ""
    session_policy: str = ""

    @property
    def is_role_session(self) -> bool:
        return self.role_id is not None

    @classmethod
    def for_user(
        cls,
        user,
        *,
        source_ip: str = "",
        secure: bool = False,
        via: str = "console",
        access_key_id: str = "",
        audit: RequestAudit | None = None,
        mfa_present: bool = False,
    ) -> "Principal":
        return cls(
            account_id=user.account_id,
            user_id=user.pk,
            user_name=user.name,
            is_root=user.is_root,
            source_ip=source_ip,
            secure_transport=secure,
            via=via,
            access_key_id=access_key_id,
            audit=audit,
            mfa_present=mfa_present,
        )

    @classmethod
    def for_session(
        cls,
        session,
        *,
        source_ip: str = "",
        secure: bool = False,
        via: str = "api",
        audit: RequestAudit | None = None,
    ) -> "Principal":
        """A role session (``console.iam.models.RoleSession``) signing with its STS key."""
        return cls(
            account_id=session.role.account_id,
            user_id=session.user_id,
            user_name=session.user.name,
            is_root=False,
            source_ip=source_ip,
            secure_transport=secure,
            via=via,
            access_key_id=session.access_key_id,
            audit=audit,
            role_id=session.role_id,
            role_name=session.role.name,
            session_name=session.session_name,
            session_policy=session.session_policy,
        )


def arn(account_id: str, region: str, kind: str, resource_id: str) -> str:
    return f"acs:ecs:{region}:{account_id}:{kind}/{resource_id}"


def ram_arn(account_id: str, kind: str, name: str) -> str:
    """A RAM resource: ``acs:ram::<account>:user/<name>`` (also ``group/``, ``policy/``, ``role/``)."""
    return f"acs:ram::{account_id}:{kind}/{name}"


def principal_arn(principal: Principal) -> str:
    """The caller's own ARN, as trust policies name it."""
    if principal.is_role_session:
        return ram_arn(
            principal.account_id, "assumed-role", f"{principal.role_name}/{principal.session_name}"
        )
    if principal.is_root:
        return f"acs:ram::{principal.account_id}:root"
    return ram_arn(principal.account_id, "user", principal.user_name)
