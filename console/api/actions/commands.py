"""Saved commands: CreateCommand, DescribeCommands, ModifyCommand, DeleteCommand (reference section 3.1,
Appendix A). InvokeCommand is with the other ways of running, in ``invocations.py``."""

import base64
from typing import Any

from console.api import paging
from console.api.actions.invocations import CONTENT_ENCODINGS, iso_time
from console.api.actions.registry import action
from console.api.params import Params, unsupported
from console.commands import parameters as cmd_params
from console.commands.models import COMMAND_TYPES, Command
from console.commands.selectors import commands_filter, commands_visible, invoke_times
from console.commands.services import command_create, command_delete, command_modify
from console.iam.authz import authorize
from console.iam.principal import Principal, arn


def _refuse_unsupported_command_options(params: Params) -> None:
    if params.text("Launcher"):
        raise unsupported("Launcher")
    if params.has_any("Tag"):
        raise unsupported("Tag", "Commands cannot carry tags yet.")


@action("CreateCommand")
def create_command(principal: Principal, params: Params) -> dict[str, Any]:
    """Save a command. CommandContent is Base64 by default here (an unknown ContentEncoding counts as
    Base64). Accepted and ignored: ClientToken, ResourceGroupId."""
    region = params.text("RegionId", required=True)
    name = params.text("Name", required=True)
    command_type = params.text("Type", required=True)
    content = params.text("CommandContent", required=True)
    encoding = params.choice("ContentEncoding", CONTENT_ENCODINGS, default="Base64", strict=False)
    _refuse_unsupported_command_options(params)
    command = command_create(
        principal=principal,
        name=name,
        command_content=content,
        region=region,
        command_type=command_type,
        content_encoding=encoding,
        description=params.text("Description"),
        working_dir=params.text("WorkingDir"),
        timeout=params.text("Timeout") or 60,
        enable_parameter=params.boolean("EnableParameter"),
        decode_error_code="CmdContent.DecodeError",
    )
    return {"CommandId": command.id}


@action("ModifyCommand")
def modify_command(principal: Principal, params: Params) -> dict[str, Any]:
    """Change Name, Description, WorkingDir or Timeout; an absent (or, for Name and Timeout, empty)
    parameter keeps the value. CommandContent is accepted and ignored, as in the original."""
    region = params.text("RegionId", required=True)
    command_id = params.text("CommandId", required=True)
    if params.text("Launcher"):
        raise unsupported("Launcher")
    command_modify(
        principal=principal,
        command_id=command_id,
        region=region,
        name=params.text("Name") or None,
        description=params.text("Description") if "Description" in params else None,
        working_dir=params.text("WorkingDir") if "WorkingDir" in params else None,
        timeout=params.text("Timeout") or None,
    )
    return {}


@action("DeleteCommand")
def delete_command(principal: Principal, params: Params) -> dict[str, Any]:
    region = params.text("RegionId", required=True)
    command_id = params.text("CommandId", required=True)
    command_delete(principal=principal, command_id=command_id, region=region)
    return {}


def _command_row(command: Command, times: int, encoding: str) -> dict[str, Any]:
    content = command.content
    if encoding == "Base64":
        content = base64.b64encode(content.encode("utf-8")).decode("ascii")
    names = list(cmd_params.names_in(command.content)) if command.enable_parameter else []
    # Category, Version and Latest belong to public commands only (reference section 3.1).
    return {
        "CommandContent": content,
        "CommandId": command.id,
        "CreationTime": iso_time(command.created_at),
        "Description": command.description,
        "EnableParameter": command.enable_parameter,
        "InvokeTimes": times,
        "Launcher": "",
        "Name": command.name,
        "ParameterDefinitions": {"ParameterDefinition": []},
        "ParameterNames": {"ParameterName": names},
        "Provider": "",
        "ResourceGroupId": "",
        "Tags": {"Tag": []},
        "Timeout": command.timeout,
        "Type": command.type,
        "WorkingDir": command.working_dir,
    }


@action("DescribeCommands")
def describe_commands(principal: Principal, params: Params) -> dict[str, Any]:
    """The account's own commands, newest first. A ``Provider`` names public commands, which this server
    does not ship yet: the list is then empty. Accepted and ignored: ResourceGroupId, Latest (validated)."""
    region = params.text("RegionId", required=True)
    command_id = params.text("CommandId")
    command_type = params.choice("Type", COMMAND_TYPES, default="")
    encoding = params.choice("ContentEncoding", CONTENT_ENCODINGS, default="Base64", strict=False)
    provider = params.text("Provider")
    params.boolean("Latest")
    if params.has_any("Tag"):
        raise unsupported("Tag", "Commands cannot carry tags yet.")
    page = paging.page_request(params)
    authorize(
        principal, "ecs:DescribeCommands", [arn(principal.account_id, region, "command", command_id or "*")]
    )
    commands = commands_filter(
        commands_visible(principal).filter(region=region),
        command_id=command_id,
        name=params.text("Name"),
        description=params.text("Description"),
        command_type=command_type,
    )
    if provider:
        commands = commands.none()
    rows: list[Command]
    rows, page_fields = paging.paginate(commands, page)
    times = invoke_times(principal, [row.id for row in rows])
    records = [_command_row(row, times.get(row.id, 0), encoding) for row in rows]
    return {"Commands": {"Command": records}, **page_fields}
