from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from console.api.views import is_api_request, rpc_endpoint
from console.errors import NotFound, ServiceError
from console.fleet import selectors as fleet_selectors
from console.fleet import services as fleet_services
from console.invocations import schedule
from console.invocations import selectors as inv_selectors
from console.invocations import services as inv_services
from console.invocations import status as st
from console.web import controls, rerun, run_form
from console.web import selectors as web_selectors
from console.web.auth import principal_of
from console.web.errors import form_error

INSTANCES_PER_PAGE = 50
INVOCATIONS_PER_PAGE = 50
# Each output pane starts with (and keeps) only the tail of the output; earlier parts load on demand.
OUTPUT_TAIL_BYTES = 256 * 1024
HISTORY_RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


@csrf_exempt
def root(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return rpc_endpoint(request)
    if not request.user.is_authenticated:
        return redirect("login")
    return dashboard(request)  # the console's home page (also at /dashboard/)


def _fragment_or_page(request: HttpRequest, fragment: str, page: str, context: dict) -> HttpResponse:
    return render(request, fragment if request.htmx else page, context)


@login_required
def instance_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    filters = {
        "q": request.GET.get("q", "").strip(),
        "status": request.GET.get("status", "").strip(),
        "os": request.GET.get("os", "").strip(),
        "tag": request.GET.get("tag", "").strip(),
    }
    instances = web_selectors.instances_filtered(
        principal, query=filters["q"], status=filters["status"], os_type=filters["os"], tag=filters["tag"]
    )
    page = Paginator(instances, INSTANCES_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    context = {
        "nav": "instances",
        "instances": rows,
        "page": page,
        "total": page.paginator.count,
        "q": filters["q"],
        "filters": filters,
        "query_string": _query_without_page(request),
        "os_types": web_selectors.os_types(principal),
        "online_count": instances.filter(last_heartbeat_at__gte=fleet_selectors.online_cutoff()).count(),
    }
    return _fragment_or_page(request, "web/_instance_results.html", "web/instances.html", context)


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


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
            error = form_error(exc)
    context = {
        "activations": fleet_selectors.activations_visible(principal)[:100],
        "issued": issued,
        "error": error,
        "server_url": request.build_absolute_uri("/").rstrip("/"),
        "can_create": controls.may_create_activation(principal),
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
    form.update(schedule="once", frequency="", **run_form.EMPTY)
    # ?instance=<id> (repeatable) preselects instances, as the instance page's "Run command" link does.
    form["selected"] = request.GET.getlist("instance")
    error = None
    if request.method == "POST":
        form = {
            "content": request.POST.get("content", ""),
            "timeout": request.POST.get("timeout", "60"),
            "working_dir": request.POST.get("working_dir", "").strip(),
            "username": request.POST.get("username", "").strip(),
            "selected": request.POST.getlist("instance_ids"),
            "schedule": request.POST.get("schedule", "once"),
            "frequency": request.POST.get("frequency", "").strip(),
            **run_form.options_form(request.POST),
        }
        try:
            frequency = schedule.frequency_from_form(form["schedule"], form["frequency"])
            invocation = inv_services.invocation_run_command(
                principal=principal,
                instance_ids=form["selected"],
                command_content=form["content"].replace("\r\n", "\n"),
                timeout=form["timeout"],
                working_dir=form["working_dir"],
                username=form["username"],
                name=request.POST.get("name", "").strip(),
                frequency=frequency,
                **run_form.options_arguments(form, form["schedule"]),
            )
        except (ServiceError, schedule.FrequencyError) as exc:
            error = form_error(exc)
        else:
            return redirect("invocation", invocation_id=invocation.id)
    context = {"instances": instances, "form": form, "error": error}
    context["schedule_choices"] = schedule.FORM_CHOICES
    context["reboot_choices"] = run_form.REBOOT_CHOICES
    return render(request, "web/run.html", context, status=400 if error else 200)


@login_required
def invocation_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    filters = {
        "status": request.GET.get("status", "").strip(),
        "name": request.GET.get("name", "").strip(),
        "instance": request.GET.get("instance", "").strip(),
        "range": request.GET.get("range", "").strip(),
    }
    since = timezone.now() - HISTORY_RANGES[filters["range"]] if filters["range"] in HISTORY_RANGES else None
    invocations = inv_selectors.invocations_filtered(
        principal,
        status=filters["status"] if filters["status"] in st.OVERALL_STATUSES else "",
        name=filters["name"],
        instance_id=filters["instance"],
        since=since,
    )
    page = Paginator(invocations, INVOCATIONS_PER_PAGE).get_page(request.GET.get("page"))
    shown = list(page.object_list)
    summary = inv_selectors.overall_statuses(principal, [invocation.id for invocation in shown])
    rows = [(invocation, *summary[invocation.id]) for invocation in shown]
    context = {
        "nav": "invocations",
        "rows": rows,
        "page": page,
        "filters": filters,
        "statuses": st.OVERALL_STATUSES,
        "ranges": [
            ("1h", "Last hour"),
            ("24h", "Last 24 hours"),
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
        ],
        "query_string": _query_without_page(request),
    }
    return render(request, "web/invocations.html", context)


def _visible_invocation(request: HttpRequest, invocation_id: str):
    principal = principal_of(request)
    try:
        return principal, inv_selectors.invocation_get(principal, invocation_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _tail(output: bytes, limit: int) -> tuple[int, bytes]:
    """The last ``limit`` bytes of ``output`` starting on a UTF-8 character boundary, and their offset."""
    start = _char_start(output, max(0, len(output) - limit))
    return start, output[start:]


def _char_start(output: bytes, start: int) -> int:
    # Skip at most three continuation bytes (10xxxxxx) so a cut never splits a character.
    for _ in range(3):
        if 0 < start < len(output) and output[start] & 0xC0 == 0x80:
            start += 1
    return start


def _panels(results: list, allowed: controls.InvocationControls) -> list[dict]:
    """Each result's row on the invocation page: the tail of its output and what its controls need."""
    tails = inv_selectors.output_tails(
        {r.id: r.output_size for r in results},
        OUTPUT_TAIL_BYTES,
        running={r.id for r in results if r.status not in st.FINAL},
    )
    panels = []
    for result in results:
        base, held, last_seq = tails[result.id]
        cut, tail = _tail(held, OUTPUT_TAIL_BYTES)
        start = base + cut
        panels.append(
            {
                "result": result,
                "output": tail.decode("utf-8", errors="replace"),
                "start": start,
                "size": max(result.output_size, start + len(tail)),
                "last_seq": last_seq,
                "final": result.status in st.FINAL,
                "live": result.status in st.LIVE,
                "rerunnable": result.status in rerun.RERUNNABLE,
                "can_stop": result.instance_id in allowed.stoppable,
            }
        )
    return panels


@login_required
def invocation_result_panel(request: HttpRequest, invocation_id: str, result_id: str) -> HttpResponse:
    """One instance's row, for the invocation page to add a periodic task's new execution live."""
    principal, invocation = _visible_invocation(request, invocation_id)
    results = list(
        inv_selectors.results_visible(principal)
        .filter(invocation=invocation, pk=result_id)
        .select_related("instance")
    )
    if not results:
        raise Http404("No such result of this invocation, or not one you may read.")
    allowed = controls.invocation_controls(principal, invocation, results)
    context = {"invocation": invocation, "p": _panels(results, allowed)[0], "total": 0}
    return render(request, "web/_result_panel.html", context)


@login_required
def invocation_detail(request: HttpRequest, invocation_id: str) -> HttpResponse:
    principal, invocation = _visible_invocation(request, invocation_id)
    results = list(
        inv_selectors.results_visible(principal)
        .filter(invocation=invocation)
        .select_related("instance")
        .order_by("instance__name", "instance_id")
    )
    allowed = controls.invocation_controls(principal, invocation, results)
    panels = _panels(results, allowed)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    context = {
        "nav": "invocations",
        "invocation": invocation,
        "panels": panels,
        "overall": st.overall_status(r.status for r in results),
        "done": sum(1 for panel in panels if panel["final"]),
        "total": len(results),
        "counts": sorted(counts.items()),
        "rerunnable": sum(1 for panel in panels if panel["rerunnable"]),
        "live": sum(1 for panel in panels if panel["live"]),
        "tail_bytes": OUTPUT_TAIL_BYTES,
        "allowed": allowed,
    }
    return render(request, "web/invocation.html", context)


@login_required
def invocation_output(request: HttpRequest, invocation_id: str, result_id: str) -> HttpResponse:
    """One instance's output as text/plain: all of it as a download (``?download=1``), or the part that
    ends at byte ``end`` (at most ``OUTPUT_TAIL_BYTES``) for "Load earlier output"; ``X-Output-Start``
    says where that part starts."""
    principal, invocation = _visible_invocation(request, invocation_id)
    result = (
        inv_selectors.results_visible(principal)
        .filter(invocation=invocation, pk=result_id)
        .select_related("instance")
        .first()
    )
    if result is None:
        raise Http404("No such result in this invocation.")
    output = inv_selectors.output_of(result.id)
    if request.GET.get("download"):
        response = HttpResponse(output, content_type="text/plain; charset=utf-8")
        filename = f"{invocation.id}-{result.instance.name or result.instance_id}.txt"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
        response["Content-Disposition"] = f'attachment; filename="{safe}"'
        return response
    try:
        end = min(len(output), max(0, int(request.GET.get("end", len(output)))))
    except ValueError:
        return HttpResponse("end must be a whole number of bytes.", status=400, content_type="text/plain")
    start = _char_start(output, max(0, end - OUTPUT_TAIL_BYTES))
    response = HttpResponse(output[start:end], content_type="text/plain; charset=utf-8")
    response["X-Output-Start"] = str(start)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def invocation_rerun(request: HttpRequest, invocation_id: str) -> HttpResponse:
    """GET asks for confirmation, listing the failed instances; POST reruns there."""
    principal, invocation = _visible_invocation(request, invocation_id)
    error = None
    if request.method == "POST":
        try:
            new = rerun.invocation_rerun_failed(principal=principal, invocation=invocation)
        except ServiceError as exc:
            error = form_error(exc)
        else:
            return redirect("invocation", invocation_id=new.id)
    failed = rerun.results_to_rerun(principal, invocation)
    context = {
        "nav": "invocations",
        "invocation": invocation,
        "failed": failed,
        "can_rerun": controls.rerun_allowed(principal, invocation, failed),
        "error": error,
    }
    return render(request, "web/rerun.html", context, status=400 if error else 200)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    data = web_selectors.dashboard(principal_of(request))
    context = {
        "nav": "dashboard",
        "d": data,
        "chart_width": len(data.bars) * (web_selectors.BAR_WIDTH + 4),
        "chart_height": web_selectors.CHART_HEIGHT,
        "bar_width": web_selectors.BAR_WIDTH,
        "groups": [(name, web_selectors.css_of(name)) for name, _ in web_selectors.CHART_GROUPS],
    }
    return render(request, "web/dashboard.html", context)
