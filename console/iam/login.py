"""The console's answer to a locked-out log-in (``AXES_LOCKOUT_CALLABLE``): the log-in page again, with a
message that says why and for how long, and HTTP 429."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    # Axes calls this as (request, response, credentials) or, on its async path, (request, credentials):
    # neither is needed here.
    context = {
        "locked_out": True,
        "lockout_minutes": lockout_minutes(),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "username": request.POST.get("username", ""),
        "next": request.POST.get("next", ""),
    }
    return render(request, "web/login.html", context, status=429)
