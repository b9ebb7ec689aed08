"""Console pages of terminal sessions: the instance page with its Connect form, the live terminal, the
sessions list and the replay. Every read and write goes through services/selectors (permission checks)."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from console.errors import NotFound, ServiceError
from console.fleet import selectors as fleet_selectors
from console.releases.selectors import update_states
from console.tags import rules as tag_rules
from console.tags import services as tag_services
from console.terminals import services
from console.terminals.models import TerminalSession
from console.terminals.selectors import sessions_visible
from console.web import controls, instance_page
from console.web.auth import principal_of
from console.web.csp import allow_inline_styles

XTERM = Path(settings.BASE_DIR) / "static" / "vendor" / "xterm" / "xterm.js"


def _xterm_installed() -> bool:
    return XTERM.is_file()


def _visible_instance(request: HttpRequest, instance_id: str):
    principal = principal_of(request)
    instance = fleet_selectors.instances_visible(principal).filter(id=instance_id).first()
    if instance is None:
        raise Http404("No such instance.")
    return principal, instance


def _instance_page(request, principal, instance, *, error: str = "", tag_error: str = "", status: int = 200):
    context = {
        "instance": instance,
        "nav": "instances",
        "default_user": services.default_user(),
        # Only the controls the principal's policies allow (the services check again when used).
        "allowed": controls.instance_controls(principal, instance),
        # Replay and Watch are offered only where they would open (the same rule as the sessions page).
        "session_rows": [
            (session, services.can_watch(principal, session))
            for session in sessions_visible(principal).filter(instance_id=instance.id)[:20]
        ],
        "error": error,
        # The detail page of issue 7 (console/web/instance_page.py): tags, recent runs and transfers.
        "update": update_states([instance.id]).get(instance.id),
        "tags": instance_page.instance_tags(principal, instance),
        "tag_error": tag_error,
        "tag_text": request.POST.get("tag", "") if tag_error else "",
        "runs": instance_page.recent_runs(principal, instance),
        "transfers": instance_page.recent_transfers(principal, instance),
    }
    return render(request, "terminals/instance.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def instance_detail(request: HttpRequest, instance_id: str) -> HttpResponse:
    principal, instance = _visible_instance(request, instance_id)
    error = ""
    if request.method == "POST":
        try:
            started = services.session_start(
                principal=principal,
                region=instance.region,
                instance_id=instance.id,
                username=request.POST.get("username", "").strip(),
                command_line=request.POST.get("command_line", ""),
                client_ip=principal.source_ip,
            )
        except ServiceError as exc:
            error = exc.message
        else:
            return redirect("terminal", session_id=started.session.id)
    return _instance_page(request, principal, instance, error=error, status=400 if error else 200)


@login_required
@require_POST
def instance_tag_add(request: HttpRequest, instance_id: str) -> HttpResponse:
    """Add (or overwrite) one ``key=value`` tag through TagResources' service (ecs:TagResources)."""
    principal, instance = _visible_instance(request, instance_id)
    key, value = instance_page.parse_tag(request.POST.get("tag", ""))
    try:
        tags = tag_rules.check_tags([{"Key": key, "Value": value}])
        tag_services.tags_add(
            principal=principal,
            region=instance.region,
            resource_type=instance_page.TAG_RESOURCE_TYPE,
            resource_ids=[instance.id],
            tags=tags,
        )
    except (tag_rules.TagRuleError, ServiceError) as exc:  # a malformed tag, or not allowed
        return _instance_page(request, principal, instance, tag_error=exc.message, status=exc.status)
    return redirect(reverse("instance", args=[instance.id]) + "#tags")


@login_required
@require_POST
def instance_tag_remove(request: HttpRequest, instance_id: str) -> HttpResponse:
    """Remove one tag key through UntagResources' service (ecs:UntagResources)."""
    principal, instance = _visible_instance(request, instance_id)
    try:
        tag_services.tags_remove(
            principal=principal,
            region=instance.region,
            resource_type=instance_page.TAG_RESOURCE_TYPE,
            resource_ids=[instance.id],
            keys=[request.POST.get("key", "")],
        )
    except ServiceError as exc:
        return _instance_page(request, principal, instance, tag_error=exc.message, status=exc.status)
    return redirect(reverse("instance", args=[instance.id]) + "#tags")


def _session_or_404(request: HttpRequest, session_id: str) -> TerminalSession:
    try:
        return services.session_watch(principal=principal_of(request), session_id=session_id)
    except ServiceError as exc:  # not found, or not allowed to watch: the same answer
        raise Http404(exc.message) from exc


@login_required
@require_GET
@allow_inline_styles  # xterm.js creates <style> elements
def terminal(request: HttpRequest, session_id: str) -> HttpResponse:
    """The owner's live terminal (connects once), or a watcher's read-only view."""
    session = _session_or_404(request, session_id)
    owner = session.user_id == request.user.pk
    watch = not owner or request.GET.get("watch") == "1"
    context = {
        "session": session,
        "nav": "terminals",
        "mode": "watch" if watch else "live",
        "can_type": owner and not watch and session.token_used_at is None and not session.is_final,
        "xterm_installed": _xterm_installed(),
    }
    return render(request, "terminals/terminal.html", context)


@login_required
@require_GET
def session_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    sessions = list(sessions_visible(principal)[:200])
    rows = [(s, services.can_watch(principal, s)) for s in sessions]
    return render(request, "terminals/sessions.html", {"rows": rows, "nav": "terminals"})


@login_required
@require_GET
@allow_inline_styles  # xterm.js creates <style> elements
def replay(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session_or_404(request, session_id)
    context = {
        "session": session,
        "nav": "terminals",
        "has_recording": session.recording_path.is_file(),
        "xterm_installed": _xterm_installed(),
    }
    return render(request, "terminals/replay.html", context)


@login_required
@require_GET
def recording(request: HttpRequest, session_id: str) -> FileResponse:
    session = _session_or_404(request, session_id)
    path = session.recording_path
    if not path.is_file():
        raise Http404("This session has no recording.")
    response = FileResponse(open(path, "rb"), content_type="application/x-asciicast")  # noqa: SIM115
    response["Content-Disposition"] = f'inline; filename="{session.id}.cast"'
    return response


@login_required
@require_POST
def end(request: HttpRequest, session_id: str) -> HttpResponse:
    try:
        services.session_end(principal=principal_of(request), session_id=session_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except ServiceError as exc:
        return HttpResponse(exc.message, status=exc.status)
    return redirect("terminals")
