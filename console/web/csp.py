"""Content-Security-Policy on every console answer (Django 5.2 has no CSP support of its own).

Scripts come only from our own static files: no inline `<script>`, no `onclick=`, no `eval` (htmx is
told not to use it, see base.html's htmx-config). Styles come from our own files too, except on the pages
that run xterm.js, which writes its theme and cell sizes into `<style>` elements it creates; those views
are wrapped in `allow_inline_styles`.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse

POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self' ws: wss:",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
HEADER = "Content-Security-Policy"
INLINE_STYLES_ATTRIBUTE = "csp_allow_inline_styles"


def policy(*, inline_styles: bool = False) -> str:
    directives = dict(POLICY)
    if inline_styles:
        directives["style-src"] = "'self' 'unsafe-inline'"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def allow_inline_styles(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For pages whose vendored library creates `<style>` elements at run time (xterm.js)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        setattr(response, INLINE_STYLES_ATTRIBUTE, True)
        return response

    return wrapped


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy(inline_styles=getattr(response, INLINE_STYLES_ATTRIBUTE, False))
        return response
