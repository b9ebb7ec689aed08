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
