from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from console.errors import ServiceError
from console.mfa import services


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    return target if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) else "/"


@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """The second step of a log-in: the current code of the user's authenticator app."""
    if not services.requires_mfa(request.user) or services.session_verified(request.session):
        return redirect(_safe_next(request))
    error = ""
    if request.method == "POST":
        if services.code_check(user=request.user, code=request.POST.get("code", "")):
            request.session.cycle_key()
            request.session[services.SESSION_KEY] = True
            return redirect(_safe_next(request))
        error = "That code is not valid. Type the 6 digits your authenticator app shows now."
    return render(
        request,
        "mfa/verify.html",
        {"error": error, "next": _safe_next(request)},
        status=400 if error else 200,
    )


@login_required
def manage(request: HttpRequest) -> HttpResponse:
    """Your own MFA device: set it up (scan, then confirm with a first code) or remove it."""
    user = request.user
    error = notice = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "start":
                services.enrolment_start(user=user)
            elif action == "confirm":
                if services.code_check(user=user, code=request.POST.get("code", "")):
                    request.session[services.SESSION_KEY] = True
                    notice = "MFA is on: log-ins now ask for a code."
                else:
                    error = "That code is not valid. Type the 6 digits the app shows now."
            elif action == "remove":
                services.device_remove(user=user, code=request.POST.get("code", ""))
                request.session.pop(services.SESSION_KEY, None)
                notice = "MFA is off."
        except ServiceError as failure:
            error = failure.message
    device = services.device_of(user)
    context = {"device": device, "error": error, "notice": notice, "nav": "mfa"}
    if device is not None and device.confirmed_at is None:
        secret = services.secret_of(device)
        context.update(secret=secret, qr=services.qr_svg(user, secret))
    return render(request, "mfa/manage.html", context, status=400 if error else 200)
