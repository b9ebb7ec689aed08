"""Sends a logged-in user whose MFA is not yet verified in this session to the code page, whatever page
was asked for. The log-in, log-out, code page, static files, the agent endpoints and the RPC API (signed
requests, no session) pass."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from console.mfa import services

OPEN_PREFIXES = ("/static/", "/agent/", "/api/")


class MfaRequiredMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not services.session_verified(request.session)
            and not self._open(request)
            and services.session_requires_mfa(request.session, user)
        ):
            return HttpResponseRedirect(
                f"{reverse('mfa-verify')}?{urlencode({'next': request.get_full_path()})}"
            )
        return self.get_response(request)

    @staticmethod
    def _open(request: HttpRequest) -> bool:
        path = request.path
        if path.startswith(OPEN_PREFIXES):
            return True
        if path in (reverse("mfa-verify"), reverse("logout"), reverse("login")):
            return True
        return path == "/" and request.method == "POST"  # the RPC API shares POST /
