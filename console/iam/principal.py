from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """Who is acting, passed explicitly to every service (never read from a thread-local)."""

    account_id: str
    user_id: int
    user_name: str
    is_root: bool
    source_ip: str = ""
    secure_transport: bool = False
    via: str = "console"

    @classmethod
    def for_user(
        cls, user, *, source_ip: str = "", secure: bool = False, via: str = "console"
    ) -> "Principal":
        return cls(
            account_id=user.account_id,
            user_id=user.pk,
            user_name=user.name,
            is_root=user.is_root,
            source_ip=source_ip,
            secure_transport=secure,
            via=via,
        )


def arn(account_id: str, region: str, kind: str, resource_id: str) -> str:
    return f"acs:ecs:{region}:{account_id}:{kind}/{resource_id}"


def ram_arn(account_id: str, kind: str, name: str) -> str:
    """A RAM resource: ``acs:ram::<account>:user/<name>`` (also ``group/``, ``policy/``, ``role/``)."""
    return f"acs:ram::{account_id}:{kind}/{name}"


def principal_arn(principal: Principal) -> str:
    """The caller's own ARN, as trust policies name it."""
    if principal.is_root:
        return f"acs:ram::{principal.account_id}:root"
    return ram_arn(principal.account_id, "user", principal.user_name)
