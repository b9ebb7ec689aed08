"""Console pages of the common (public) commands: the list with provider, type and text filters, a
version's detail (script, documented parameters, versions) and its run form. Thin views: the rows come
from ``console.commands.common`` through the selectors (which apply RAM), the run goes through
``invocation_invoke_command`` like any saved command."""

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from console.commands import selectors, services
from console.commands.common import (
    PROVIDER_ALL,
    PublicCommand,
    providers,
    public_command_versions,
    public_commands_filter,
)
from console.commands.models import COMMAND_TYPES
from console.errors import NotFound, ServiceError
from console.fleet import selectors as fleet_selectors
from console.iam.principal import Principal
from console.invocations import schedule
from console.invocations import services as inv_services
from console.web import controls, run_form
from console.web.auth import principal_of


def _region() -> str:
    return str(settings.ASSIST_REGION)


def _public_or_404(principal: Principal, command_id: str) -> PublicCommand:
    try:
        return selectors.public_command_get(principal, command_id, _region())
    except NotFound as error:
        raise Http404(error.message) from error


def _matching(query: str, provider: str, command_type: str, all_versions: bool) -> list[PublicCommand]:
    """Commands whose name or description contains ``query`` (ignoring case), newest versions only
    unless ``all_versions``."""
    common: dict[str, Any] = {
        "provider": provider or PROVIDER_ALL,
        "command_type": command_type,
        "latest": not all_versions,
    }
    if not query:
        return public_commands_filter(**common)
    by_name = public_commands_filter(name=query, **common)
    by_description = public_commands_filter(description=query, **common)
    seen = {c.id for c in by_name}
    return by_name + [c for c in by_description if c.id not in seen]


@login_required
def common_command_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    query = request.GET.get("q", "").strip()
    provider = request.GET.get("provider", "")
    provider = provider if provider in providers() else ""
    command_type = request.GET.get("type", "")
    command_type = command_type if command_type in COMMAND_TYPES else ""
    all_versions = request.GET.get("versions") == "all"
    rows = selectors.public_commands_visible(
        principal, _region(), _matching(query, provider, command_type, all_versions)
    )
    context = {
        "commands": rows,
        "q": query,
        "provider": provider,
        "providers": providers(),
        "type": command_type,
        "types": COMMAND_TYPES,
        "all_versions": all_versions,
        "nav": "commands",
    }
    template = "commands/common_table.html" if request.htmx else "commands/common_list.html"
    return render(request, template, context)


@login_required
def common_command_detail(request: HttpRequest, command_id: str) -> HttpResponse:
    principal = principal_of(request)
    command = _public_or_404(principal, command_id)
    return render(request, "commands/common_detail.html", _detail_context(principal, command))


def _detail_context(principal: Principal, command: PublicCommand, error: str = "") -> dict[str, Any]:
    instances = fleet_selectors.instances_visible(principal).filter(region=_region())
    return {
        "command": command,
        "versions": public_command_versions(command.name),
        "invoke_times": selectors.invoke_times(principal, [command.id]).get(command.id, 0),
        "error": error,
        "nav": "commands",
        "allowed": controls.command_controls(principal, command, instances),
    }


@login_required
@require_http_methods(["GET", "POST"])
def common_command_run(request: HttpRequest, command_id: str) -> HttpResponse:
    """Run one version of a common command: one input per documented parameter (a choice when it has
    possible values; empty means its default), instances, and this run's overrides."""
    principal = principal_of(request)
    command = _public_or_404(principal, command_id)
    form: dict[str, Any] = {"selected": [], "values": {}, "timeout": "", "working_dir": "", "username": ""}
    form.update(schedule="once", frequency="")
    error = None
    if request.method == "POST":
        form = run_form.invoke_form(request.POST, [p.name for p in command.parameters])
        try:
            invocation = inv_services.invocation_invoke_command(
                principal=principal,
                command_id=command.id,
                region=_region(),
                **run_form.invoke_arguments(form),
            )
        except (ServiceError, schedule.FrequencyError) as exc:
            error = exc.message
        else:
            return redirect("invocation", invocation_id=invocation.id)
    instances = list(fleet_selectors.instances_visible(principal).filter(region=_region()))
    fields = [{"definition": p, "value": form["values"].get(p.name, "")} for p in command.parameters]
    context = {
        "command": command,
        "fields": fields,
        "instances": instances,
        "form": form,
        "error": error,
        "nav": "commands",
        "region": _region(),
        "schedule_choices": schedule.FORM_CHOICES,
    }
    return render(request, "commands/common_run.html", context, status=400 if error else 200)


@login_required
@require_http_methods(["POST"])
def common_command_clone(request: HttpRequest, command_id: str) -> HttpResponse:
    """Copy a common command into a command of the account's own (then edited like any other)."""
    principal = principal_of(request)
    command = _public_or_404(principal, command_id)
    try:
        copy = services.command_clone(principal=principal, command_id=command.id, region=_region())
    except ServiceError as exc:
        context = _detail_context(principal, command, exc.message)
        return render(request, "commands/common_detail.html", context, status=exc.status)
    return redirect("command", command_id=copy.id)
