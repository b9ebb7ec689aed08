from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from console.audit.collect import RequestAudit
from console.audit.doors import SAFE_METHODS, console_request_record


class AuditMiddleware:
    """Gives each request a ``RequestAudit`` (``request.audit``; ``principal_of`` passes it on to the
    services) and records the request on its way out when it changed state, was a log-in, or was refused.
    Place it after the authentication middleware and before ``AxesMiddleware`` (so it sees lockouts)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.audit = RequestAudit()  # type: ignore[attr-defined]
        # Who was logged in before the view ran; only looked up for requests that may be recorded anyway.
        user = getattr(request, "user", None) if request.method not in SAFE_METHODS else None
        if user is not None:
            user.is_authenticated  # noqa: B018 - resolve the lazy user before a log-out replaces it
        response = self.get_response(request)
        if user is None and request.audit.denials:  # type: ignore[attr-defined]
            user = getattr(request, "user", None)
        console_request_record(request, response, user)
        return response
