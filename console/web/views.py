from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from console.api.views import is_api_request, rpc_endpoint
from console.errors import NotFound, ServiceError
from console.fleet import selectors as fleet_selectors
from console.fleet import services as fleet_services
from console.invocations import selectors as inv_selectors
from console.invocations import services as inv_services
from console.invocations import status as st
from console.web.auth import principal_of


@csrf_exempt
def root(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return rpc_endpoint(request)
    if not request.user.is_authenticated:
        return redirect("login")
    return redirect("instances")


def _fragment_or_page(request: HttpRequest, fragment: str, page: str, context: dict) -> HttpResponse:
    return render(request, fragment if request.htmx else page, context)


@login_required
def instance_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    query = request.GET.get("q", "").strip()
    instances = fleet_selectors.instances_visible(principal)
    if query:
        instances = instances.filter(
            Q(name__icontains=query) | Q(id__icontains=query) | Q(hostname__icontains=query)
        )
    instances = list(instances)
    context = {
        "instances": instances,
        "q": query,
        "online_count": sum(1 for i in instances if i.is_online),
    }
    return _fragment_or_page(request, "web/_instance_table.html", "web/instances.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def activation_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    issued = None
    error = None
    if request.method == "POST":
        try:
            issued = fleet_services.activation_create(
                principal=principal,
                instance_count=_int(request.POST.get("instance_count"), "InstanceCount"),
                time_to_live_hours=_int(request.POST.get("ttl_hours"), "TimeToLiveInHours"),
                instance_name=request.POST.get("instance_name", "").strip(),
                description=request.POST.get("description", "").strip(),
                ip_address_range=request.POST.get("ip_address_range", "").strip(),
            )
        except ServiceError as exc:
            error = exc.message
    context = {
        "activations": fleet_selectors.activations_visible(principal)[:100],
        "issued": issued,
        "error": error,
        "server_url": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "web/activations.html", context, status=400 if error else 200)


def _int(value: str | None, name: str) -> int:
    try:
        return int((value or "").strip())
    except ValueError as exc:
        raise ServiceError(f"InvalidParameter.{name}", f"{name} must be a whole number.") from exc


@login_required
@require_http_methods(["GET", "POST"])
def run_command(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    instances = list(fleet_selectors.instances_visible(principal))
    form = {"content": "", "timeout": "60", "working_dir": "", "username": "", "selected": []}
    error = None
    if request.method == "POST":
        form = {
            "content": request.POST.get("content", ""),
            "timeout": request.POST.get("timeout", "60"),
            "working_dir": request.POST.get("working_dir", "").strip(),
            "username": request.POST.get("username", "").strip(),
            "selected": request.POST.getlist("instance_ids"),
        }
        try:
            invocation = inv_services.invocation_run_command(
                principal=principal,
                instance_ids=form["selected"],
                command_content=form["content"].replace("\r\n", "\n"),
                timeout=form["timeout"],
                working_dir=form["working_dir"],
                username=form["username"],
                name=request.POST.get("name", "").strip(),
            )
        except ServiceError as exc:
            error = exc.message
        else:
            return redirect("invocation", invocation_id=invocation.id)
    context = {"instances": instances, "form": form, "error": error}
    return render(request, "web/run.html", context, status=400 if error else 200)


@login_required
def invocation_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    invocations = list(inv_selectors.invocations_visible(principal)[:100])
    summary = inv_selectors.overall_statuses(principal, [invocation.id for invocation in invocations])
    rows = [(invocation, *summary[invocation.id]) for invocation in invocations]
    return render(request, "web/invocations.html", {"rows": rows})


@login_required
def invocation_detail(request: HttpRequest, invocation_id: str) -> HttpResponse:
    principal = principal_of(request)
    try:
        invocation = inv_selectors.invocation_get(principal, invocation_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    results = list(
        inv_selectors.results_visible(principal)
        .filter(invocation=invocation)
        .select_related("instance")
        .order_by("instance__name", "instance_id")
    )
    outputs = inv_selectors.outputs_for([r.id for r in results])
    last_seqs = inv_selectors.last_seqs([r.id for r in results])
    panels = [
        {
            "result": result,
            "output": outputs[result.id].decode("utf-8", errors="replace"),
            "last_seq": last_seqs.get(result.id, 0),
            "final": result.status in st.FINAL,
        }
        for result in results
    ]
    done = sum(1 for panel in panels if panel["final"])
    context = {
        "invocation": invocation,
        "panels": panels,
        "overall": st.overall_status(r.status for r in results),
        "done": done,
        "total": len(results),
    }
    return render(request, "web/invocation.html", context)
