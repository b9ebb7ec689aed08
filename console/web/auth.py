from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest

from console.audit.collect import RequestAudit
from console.errors import ServiceError
from console.iam.principal import Principal
from console.mfa.services import requires_mfa, session_verified


def principal_of(request: HttpRequest) -> Principal:
    """The logged-in user as a principal, carrying the request's audit collector (set by
    ``AuditMiddleware``) so that refusals end up in this request's audit record."""
    return Principal.for_user(
        request.user,
        source_ip=request.META.get("REMOTE_ADDR", ""),
        secure=request.is_secure(),
        via="console",
        audit=getattr(request, "audit", None),
        mfa_present=session_verified(request.session),
    )


async def websocket_principal(
    scope: dict[str, Any], *, source_ip: str, audit: RequestAudit | None = None
) -> Principal:
    """The logged-in user of a browser websocket (session cookie) as a principal; AuthFailed (401) when
    nobody is logged in or the log-in's MFA step is not done."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        raise ServiceError("AuthFailed", "Log in first.", status=401)
    verified = session_verified(scope.get("session") or {})
    if not verified and await database_sync_to_async(requires_mfa)(user):
        raise ServiceError("AuthFailed", "Type your MFA code first.", status=401)
    return Principal.for_user(user, source_ip=source_ip, via="websocket", mfa_present=verified, audit=audit)
