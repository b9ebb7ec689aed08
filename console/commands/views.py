"""Console pages of the command library: list and search, create, detail (content, parameters, versions),
edit, clone, delete, and the run form of a saved command. Function views that parse the form, call one
service or selector, and render; a refused form is shown again with the service's message."""

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console.commands import parameters as cmd_params
from console.commands import selectors, services
from console.commands.common import public_command
from console.commands.models import COMMAND_TYPES, Command
from console.errors import NotFound, ServiceError
from console.fleet import selectors as fleet_selectors
from console.iam.principal import Principal
from console.invocations import schedule
from console.invocations import services as inv_services
from console.web import command_preview, controls, run_form
from console.web.auth import principal_of
from console.web.errors import form_error

PREVIEW_PREFIX = "preview."  # the editor's preview values, one input per parameter name
PREVIEW_INSTANCES = 200  # the editor's instance choice lists at most this many (by name)


def _command_or_404(principal: Principal, command_id: str) -> Command:
    try:
        return selectors.command_get(principal, command_id)
    except NotFound as error:
        raise Http404(error.message) from error


def _text(request: HttpRequest, name: str) -> str:
    return request.POST.get(name, "").strip()


@login_required
def command_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    query = request.GET.get("q", "").strip()
    command_type = request.GET.get("type", "")
    commands = selectors.commands_visible(principal)
    if query:
        commands = commands.filter(
            Q(name__icontains=query) | Q(id__icontains=query) | Q(description__icontains=query)
        )
    if command_type in COMMAND_TYPES:
        commands = commands.filter(type=command_type)
    rows = list(commands[:200])
    context = {"commands": rows, "q": query, "type": command_type, "types": COMMAND_TYPES, "nav": "commands"}
    if not request.htmx:  # the table alone has no "New command"
        context["can_create"] = controls.may_create_command(principal)
    template = "commands/_command_table.html" if request.htmx else "commands/list.html"
    return render(request, template, context)


def _command_form(request: HttpRequest) -> dict[str, Any]:
    return {
        "name": _text(request, "name"),
        "description": _text(request, "description"),
        "type": request.POST.get("type", "RunShellScript"),
        "content": request.POST.get("content", "").replace("\r\n", "\n"),
        "working_dir": _text(request, "working_dir"),
        "timeout": _text(request, "timeout") or "60",
        "enable_parameter": request.POST.get("enable_parameter") == "on",
        "launcher": _text(request, "launcher"),
    }


def _preview_values(request: HttpRequest) -> dict[str, str]:
    return {
        key[len(PREVIEW_PREFIX) :]: value
        for key, value in request.POST.items()
        if key.startswith(PREVIEW_PREFIX)
    }


def _parameter_context(request: HttpRequest, content: str, enabled: bool) -> dict[str, Any]:
    summary = command_preview.parameter_summary(content, enabled=enabled)
    typed = {name.lower(): value for name, value in _preview_values(request).items()}
    fields = [{"name": name, "value": typed.get(name.lower(), "")} for name in summary.names]
    return {"summary": summary, "preview_fields": fields}


def _form_page(request: HttpRequest, context: dict[str, Any], error: str | None) -> HttpResponse:
    principal = principal_of(request)
    form = context["form"]
    region = context["command"].region if context.get("command") else settings.ASSIST_REGION
    instances = fleet_selectors.instances_visible(principal).filter(region=region).order_by("name", "id")
    context = {
        "types": COMMAND_TYPES,
        "nav": "commands",
        "error": error,
        "preview_instances": list(instances[:PREVIEW_INSTANCES]),
        "preview_region": region,
        **_parameter_context(request, form.get("content", ""), bool(form.get("enable_parameter"))),
        **context,
    }
    return render(request, "commands/form.html", context, status=400 if error else 200)


@login_required
@require_POST
def command_editor_parameters(request: HttpRequest) -> HttpResponse:
    """The editor's parameter preview (htmx, as the script is typed): the names the content uses, one
    preview value input per name, or why a placeholder is refused."""
    enabled = request.POST.get("enable_parameter") == "on"
    context = _parameter_context(request, request.POST.get("content", ""), enabled)
    return render(request, "commands/_parameter_preview.html", context)


@login_required
@require_POST
def command_editor_render(request: HttpRequest) -> HttpResponse:
    """The editor's rendered preview: the script one instance would receive, rendered by the run's code."""
    principal = principal_of(request)
    region = request.POST.get("preview_region", "").strip() or settings.ASSIST_REGION
    context: dict[str, Any] = {"preview": None, "preview_error": None}
    try:
        context["preview"] = command_preview.rendered_preview(
            principal,
            content=request.POST.get("content", "").replace("\r\n", "\n"),
            enabled=request.POST.get("enable_parameter") == "on",
            instance_id=request.POST.get("preview_instance", "").strip(),
            values=_preview_values(request),
            region=region,
        )
    except ServiceError as exc:
        context["preview_error"] = exc
    return render(request, "commands/_rendered_preview.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def command_new(request: HttpRequest) -> HttpResponse:
    form: dict[str, Any] = {"type": "RunShellScript", "timeout": "60"}
    error = None
    if request.method == "POST":
        form = _command_form(request)
        try:
            command = services.command_create(
                principal=principal_of(request),
                name=form["name"],
                command_content=form["content"],
                command_type=form["type"],
                description=form["description"],
                working_dir=form["working_dir"],
                timeout=form["timeout"],
                enable_parameter=form["enable_parameter"],
                launcher=form["launcher"],
            )
        except ServiceError as exc:
            error = form_error(exc)
        else:
            return redirect("command", command_id=command.id)
    return _form_page(request, {"mode": "new", "form": form}, error)


@login_required
def command_detail(request: HttpRequest, command_id: str) -> HttpResponse:
    principal = principal_of(request)
    if public_command(command_id) is not None:  # a common command's id or name: its own page
        return redirect("common_command", command_id=command_id)
    command = _command_or_404(principal, command_id)
    context = {
        "command": command,
        "names": cmd_params.names_in(command.content) if command.enable_parameter else (),
        "builtins": cmd_params.BUILTINS,
        "versions": selectors.command_versions(principal, command),
        "invoke_times": selectors.invoke_times(principal, [command.id]).get(command.id, 0),
        "nav": "commands",
        "allowed": controls.command_controls(
            principal, command, fleet_selectors.instances_visible(principal).filter(region=command.region)
        ),
    }
    return render(request, "commands/detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def command_edit(request: HttpRequest, command_id: str) -> HttpResponse:
    principal = principal_of(request)
    command = _command_or_404(principal, command_id)
    form: dict[str, Any] = {
        "name": command.name,
        "description": command.description,
        "working_dir": command.working_dir,
        "timeout": str(command.timeout),
        "launcher": command.launcher,
    }
    error = None
    if request.method == "POST":
        form = {key: _text(request, key) for key in form}
        try:
            services.command_modify(
                principal=principal,
                command_id=command.id,
                name=form["name"],
                description=form["description"],
                working_dir=form["working_dir"],
                timeout=form["timeout"],
                launcher=form["launcher"],
            )
        except ServiceError as exc:
            error = form_error(exc)
        else:
            return redirect("command", command_id=command.id)
    return _form_page(request, {"mode": "edit", "form": form, "command": command}, error)


@login_required
@require_http_methods(["GET", "POST"])
def command_clone(request: HttpRequest, command_id: str) -> HttpResponse:
    principal = principal_of(request)
    source = _command_or_404(principal, command_id)
    form: dict[str, Any] = {
        "name": source.name,
        "description": source.description,
        "type": source.type,
        "content": source.content,
        "working_dir": source.working_dir,
        "timeout": str(source.timeout),
        "enable_parameter": source.enable_parameter,
        "launcher": source.launcher,
    }
    error = None
    if request.method == "POST":
        form = _command_form(request)
        try:
            clone = services.command_clone(
                principal=principal,
                command_id=source.id,
                name=form["name"],
                description=form["description"],
                command_type=form["type"],
                command_content=form["content"],
                working_dir=form["working_dir"],
                timeout=form["timeout"],
                enable_parameter=form["enable_parameter"],
                launcher=form["launcher"],
            )
        except ServiceError as exc:
            error = form_error(exc)
        else:
            return redirect("command", command_id=clone.id)
    return _form_page(request, {"mode": "clone", "form": form, "command": source}, error)


@login_required
@require_http_methods(["GET", "POST"])
def command_delete(request: HttpRequest, command_id: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes."""
    principal = principal_of(request)
    command = _command_or_404(principal, command_id)
    error = None
    if request.method == "POST":
        try:
            services.command_delete(principal=principal, command_id=command.id)
        except ServiceError as exc:
            error = form_error(exc)
        else:
            return redirect("commands")
    context = {"command": command, "error": error, "nav": "commands"}
    return render(request, "commands/delete.html", context, status=400 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def command_run(request: HttpRequest, command_id: str) -> HttpResponse:
    """Run a saved command: one input per parameter, instances, and this run's overrides."""
    principal = principal_of(request)
    command = _command_or_404(principal, command_id)
    names = cmd_params.names_in(command.content) if command.enable_parameter else ()
    form: dict[str, Any] = {"selected": [], "values": {}, "timeout": "", "working_dir": "", "username": ""}
    form.update(schedule="once", frequency="", **run_form.EMPTY)
    error = None
    if request.method == "POST":
        form = {**run_form.invoke_form(request.POST, names), **run_form.options_form(request.POST)}
        try:
            invocation = inv_services.invocation_invoke_command(
                principal=principal,
                command_id=command.id,
                region=command.region,
                **run_form.invoke_arguments(form),
                **run_form.options_arguments(form, form["schedule"]),
            )
        except (ServiceError, schedule.FrequencyError) as exc:
            error = form_error(exc)
        else:
            return redirect("invocation", invocation_id=invocation.id)
    instances = list(fleet_selectors.instances_visible(principal).filter(region=command.region))
    fields = [{"name": name, "value": form["values"].get(name, "")} for name in names]
    context = {
        "command": command,
        "fields": fields,
        "instances": instances,
        "form": form,
        "error": error,
        "nav": "commands",
        "schedule_choices": schedule.FORM_CHOICES,
        "reboot_choices": run_form.REBOOT_CHOICES,
    }
    return render(request, "commands/run.html", context, status=400 if error else 200)
