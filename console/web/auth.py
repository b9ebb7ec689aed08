from django.http import HttpRequest

from console.iam.principal import Principal
from console.mfa.services import session_verified


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
