from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from console.errors import ServiceError
from console.releases import selectors, services
from console.web.auth import principal_of


@login_required
@require_http_methods(["GET", "POST"])
def releases(request: HttpRequest) -> HttpResponse:
    """Agent versions, the account's target version, per-instance pins and update states."""
    principal = principal_of(request)
    services.builtin_release_ensure()
    error, status = None, 200
    if request.method == "POST":
        version = request.POST.get("version", "").strip()
        try:
            if request.POST.get("action") == "pin":
                services.instance_pin_set(
                    principal=principal,
                    instance_id=request.POST.get("instance_id", "").strip(),
                    version=version,
                )
            else:
                services.account_target_set(principal=principal, version=version)
        except ServiceError as exc:
            error, status = exc.message, exc.status
        else:
            return redirect("agent-releases")
    context = {**selectors.page(principal), "error": error, "nav": "agent-releases"}
    return render(request, "releases/releases.html", context, status=status)
