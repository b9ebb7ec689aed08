"""The single permission gate every service calls before it reads or writes on a principal's behalf.

For now an account's root user may do anything inside its own account and nothing outside it; RAM users
are denied until policies exist. The policy engine (RAM-style JSON policies) will plug in here without
touching any caller.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from console.errors import ServiceError
from console.iam.principal import Principal


class AccessDenied(ServiceError):
    def __init__(self, action: str, resource: str) -> None:
        super().__init__(
            "Forbidden.RAM",
            f"User not authorized to operate on the specified resource: {action} on {resource}.",
            status=403,
        )
        self.action = action
        self.resource = resource


def _account_of(resource_arn: str) -> str:
    parts = resource_arn.split(":", 4)
    return parts[3] if len(parts) == 5 else ""


def authorize(
    principal: Principal,
    action: str,
    resources: Iterable[str],
    context: Mapping[str, Any] | None = None,
) -> None:
    """Raise AccessDenied unless ``principal`` may perform ``action`` on every one of ``resources``."""
    for resource in resources:
        if _account_of(resource) != principal.account_id:
            raise AccessDenied(action, resource)
        if not principal.is_root:
            raise AccessDenied(action, resource)
