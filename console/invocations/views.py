"""Console page to stop an invocation: GET asks which instances (all live ones preselected) and for
confirmation; POST stops them through ``invocation_stop`` and goes back to the invocation."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from console.errors import NotFound, ServiceError
from console.invocations import selectors, services
from console.invocations import status as st
from console.web.auth import principal_of


@login_required
@require_http_methods(["GET", "POST"])
def invocation_stop(request: HttpRequest, invocation_id: str) -> HttpResponse:
    principal = principal_of(request)
    try:
        invocation = selectors.invocation_get(principal, invocation_id)
    except NotFound as error:
        raise Http404(error.message) from error
    live = list(
        selectors.results_visible(principal)
        .filter(invocation=invocation, status__in=st.LIVE)
        .select_related("instance")
        .order_by("instance__name", "instance_id")
    )
    live_ids = [result.instance_id for result in live]
    selected = live_ids
    error = None
    if request.method == "POST":
        selected = request.POST.getlist("instance_ids")
        try:
            if not selected:
                raise ServiceError("MissingParameter.InstanceId", "Choose at least one instance to stop.")
            services.invocation_stop(
                principal=principal,
                invocation_id=invocation.id,
                # Every live instance chosen: stop the whole task (no 50-instance limit then).
                instance_ids=None if set(selected) >= set(live_ids) else selected,
            )
        except ServiceError as exc:
            error = exc.message
        else:
            return redirect("invocation", invocation_id=invocation.id)
    context = {"invocation": invocation, "live": live, "selected": selected, "error": error}
    return render(request, "commands/stop.html", context, status=400 if error else 200)
