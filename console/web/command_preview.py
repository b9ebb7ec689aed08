"""What the command editor shows while a script is written: the parameter names its content uses, and
the script as one instance would receive it.

Both go through ``console.commands.parameters`` (the parser and renderer RunCommand and InvokeCommand
use), so the editor never disagrees with a run. Nothing is written; the instance must be one the user
may see."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings

from console.commands import parameters as cmd_params
from console.errors import NotFound, ServiceError
from console.fleet.selectors import instances_visible
from console.iam.principal import Principal

# Ids that exist only once the script runs; the preview shows these stand-ins and says so.
PREVIEW_INVOKE_ID = "t-preview"
PREVIEW_COMMAND_ID = "c-preview"


@dataclass(frozen=True)
class ParameterSummary:
    """The names of a script's placeholders, or why the script's placeholders are refused."""

    enabled: bool
    names: tuple[str, ...] = ()
    builtins: tuple[str, ...] = ()
    error: str = ""


def parameter_summary(content: str, *, enabled: bool) -> ParameterSummary:
    if not enabled:
        return ParameterSummary(enabled=False)
    try:
        template = cmd_params.parse(content)
    except ServiceError as error:
        return ParameterSummary(enabled=True, error=error.message)
    return ParameterSummary(enabled=True, names=template.names, builtins=template.builtins)


@dataclass(frozen=True)
class RenderedPreview:
    script: str
    instance_id: str
    empty_names: tuple[str, ...] = ()  # names that got no value: they render as ""
    stand_ins: tuple[str, ...] = field(default=())  # built-ins shown with a stand-in id


def rendered_preview(
    principal: Principal,
    *,
    content: str,
    enabled: bool,
    instance_id: str,
    values: Mapping[str, str],
    region: str = "",
    command_id: str = "",
) -> RenderedPreview:
    """The script ``instance_id`` would run with ``values`` (blank values left out, as the run form
    does); the same refusals as a run (bad placeholder, too many values, too long), and an instance the
    user may not see is refused as unknown."""
    region = region or settings.ASSIST_REGION
    if not instance_id:
        raise ServiceError("MissingParameter.InstanceId", "Choose an instance to preview the script for.")
    template = cmd_params.parse(content, enabled=enabled)
    passed = {name: value for name, value in values.items() if value != ""}
    checked = cmd_params.check_values(template, passed)
    # Only an instance the user may see (its name is filled in): the same wall as the instance list.
    instance = instances_visible(principal).filter(region=region, pk=instance_id).first()
    if instance is None:
        raise NotFound(
            "InvalidInstance.NotFound",
            f"That instance is not one you may see in region {region}, or it no longer exists.",
        )
    builtins = cmd_params.builtin_values(
        region=region,
        account_id=principal.account_id,
        instance_id=instance.id,
        instance_name=instance.name,
        invoke_id=PREVIEW_INVOKE_ID,
        command_id=command_id or PREVIEW_COMMAND_ID,
    )
    text = cmd_params.render(template, checked, builtins)
    cmd_params.check_rendered_size(text, settings.ASSIST_MAX_CONTENT_B64, f"instance {instance.id}")
    stand_ins = tuple(
        name
        for name in template.builtins
        if name == "ACS::InvokeId" or (name == "ACS::CommandId" and not command_id)
    )
    empty = tuple(name for name in template.names if name.lower() not in checked)
    return RenderedPreview(script=text, instance_id=instance.id, empty_names=empty, stand_ins=stand_ins)
