"""Saved commands: CreateCommand, DescribeCommands, ModifyCommand, DeleteCommand (reference section 3.1,
Appendix A). InvokeCommand is with the other ways of running, in ``invocations.py``."""

import base64
import binascii
from typing import Any

from console.api import paging
from console.api.actions.invocations import CONTENT_ENCODINGS, iso_time
from console.api.actions.registry import action
from console.api.actions.tags import tag_filter, tags_to_attach
from console.api.params import Params
from console.commands import parameters as cmd_params
from console.commands.common import PublicCommand, public_command, public_commands_filter
from console.commands.models import COMMAND_TYPES, Command
from console.commands.selectors import (
    commands_filter,
    commands_visible,
    invoke_times,
    public_commands_visible,
)
from console.commands.services import command_create, command_delete, command_modify
from console.errors import ServiceError
from console.iam.authz import authorize
from console.iam.principal import Principal, arn
from console.tags.selectors import filter_by_tags, tag_list, tags_of


@action("CreateCommand")
def create_command(principal: Principal, params: Params) -> dict[str, Any]:
    """Save a command. CommandContent is Base64 by default here (an unknown ContentEncoding counts as
    Base64). ``Launcher`` (at most 1 KB) starts the script instead of the type's shell. Accepted and
    ignored: ResourceGroupId."""
    region = params.text("RegionId", required=True)
    name = params.text("Name", required=True)
    command_type = params.text("Type", required=True)
    content = params.text("CommandContent", required=True)
    encoding = params.choice("ContentEncoding", CONTENT_ENCODINGS, default="Base64", strict=False)
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
        tags=tags_to_attach(params),
        launcher=params.text("Launcher"),
    )
    return {"CommandId": command.id}


@action("ModifyCommand")
def modify_command(principal: Principal, params: Params) -> dict[str, Any]:
    """Change Name, Description, WorkingDir, Timeout or Launcher; an absent (or, for Name and Timeout,
    empty) parameter keeps the value, an empty Launcher clears it. CommandContent is accepted and ignored,
    as in the original."""
    region = params.text("RegionId", required=True)
    command_id = params.text("CommandId", required=True)
    command_modify(
        principal=principal,
        command_id=command_id,
        region=region,
        name=params.text("Name") or None,
        description=params.text("Description") if "Description" in params else None,
        working_dir=params.text("WorkingDir") if "WorkingDir" in params else None,
        timeout=params.text("Timeout") or None,
        launcher=params.text("Launcher") if "Launcher" in params else None,
    )
    return {}


@action("DeleteCommand")
def delete_command(principal: Principal, params: Params) -> dict[str, Any]:
    region = params.text("RegionId", required=True)
    command_id = params.text("CommandId", required=True)
    command_delete(principal=principal, command_id=command_id, region=region)
    return {}


def _command_row(
    command: Command | PublicCommand, times: int, encoding: str, tags: dict[str, str]
) -> dict[str, Any]:
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
        "Launcher": getattr(command, "launcher", ""),  # a common command has none
        "Name": command.name,
        "ParameterDefinitions": {"ParameterDefinition": []},
        "ParameterNames": {"ParameterName": names},
        "Provider": "",
        "ResourceGroupId": "",
        "Tags": {"Tag": tag_list(tags)},
        "Timeout": command.timeout,
        "Type": command.type,
        "WorkingDir": command.working_dir,
    }


def _public_command_row(
    command: PublicCommand, times: int, encoding: str, tags: dict[str, str]
) -> dict[str, Any]:
    """A common command: the custom row plus Category, Version, Latest, Provider and its documented
    ParameterDefinitions."""
    row = _command_row(command, times, encoding, tags)
    row["ParameterDefinitions"] = {
        "ParameterDefinition": [
            {
                "DefaultValue": p.default,
                "Description": p.description,
                "ParameterName": p.name,
                "PatternRegex": p.pattern,
                "PossibleValues": {"PossibleValue": list(p.possible_values)},
                "Required": p.required,
            }
            for p in command.parameters
        ]
    }
    return {
        **row,
        "Category": command.category,
        "Latest": command.latest,
        "Provider": command.provider,
        "Version": command.version,
    }


def _public_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"public:{offset}".encode()).decode("ascii").rstrip("=")


def _public_offset(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        prefix, _, offset = raw.partition(":")
        if prefix != "public" or not offset.isdigit():
            raise ValueError(raw)
        return int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise ServiceError("InvalidParameter.NextToken", "The specified NextToken is not valid.") from error


def _paginate_public(
    rows: list[PublicCommand], page: paging.PageRequest
) -> tuple[list[PublicCommand], dict[str, Any]]:
    """Both paging styles over the common commands (a list in name order, newest version first)."""
    total = len(rows)
    if not page.token_style:
        offset = (page.number - 1) * page.size
        return rows[offset : offset + page.size], {
            "PageNumber": page.number,
            "PageSize": page.size,
            "TotalCount": total,
        }
    offset = _public_offset(page.next_token) if page.next_token else 0
    end = offset + page.size
    next_token = _public_token(end) if end < total else ""
    return rows[offset:end], {"NextToken": next_token, "PageSize": page.size, "TotalCount": total}


def _describe_public_commands(
    principal: Principal, params: Params, *, region: str, provider: str, encoding: str
) -> dict[str, Any]:
    """DescribeCommands with a Provider: the common commands (never tagged, so a Tag filter finds
    none), Latest keeping each command's newest version."""
    command_type = params.choice("Type", COMMAND_TYPES, default="")
    latest = params.boolean("Latest")
    wanted_tags = tag_filter(params)
    page = paging.page_request(params)
    command_id = params.text("CommandId")
    named = public_command(command_id) if command_id else None
    resource = named.resource_name if named is not None else (command_id or "*")
    authorize(principal, "ecs:DescribeCommands", [arn(principal.account_id, region, "command", resource)])
    rows = public_commands_filter(
        provider=provider,
        command_id=command_id,
        name=params.text("Name"),
        description=params.text("Description"),
        command_type=command_type,
        latest=latest,
    )
    rows = [] if wanted_tags else public_commands_visible(principal, region, rows)
    page_rows, page_fields = _paginate_public(rows, page)
    times = invoke_times(principal, [row.id for row in page_rows])
    records = [_public_command_row(row, times.get(row.id, 0), encoding, {}) for row in page_rows]
    return {"Commands": {"Command": records}, **page_fields}


@action("DescribeCommands")
def describe_commands(principal: Principal, params: Params) -> dict[str, Any]:
    """The account's own commands, newest first; with ``Provider`` the common (public) commands instead
    (``AlibabaCloud``: all of them; else one provider, e.g. ``AlibabaCloud.ECS.GuestOS``). ``Latest``
    applies to public commands only. Accepted and ignored: ResourceGroupId."""
    region = params.text("RegionId", required=True)
    encoding = params.choice("ContentEncoding", CONTENT_ENCODINGS, default="Base64", strict=False)
    provider = params.text("Provider")
    if provider.strip():
        return _describe_public_commands(
            principal, params, region=region, provider=provider, encoding=encoding
        )
    command_id = params.text("CommandId")
    command_type = params.choice("Type", COMMAND_TYPES, default="")
    params.boolean("Latest")
    wanted_tags = tag_filter(params)
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
    if wanted_tags:
        commands = filter_by_tags(
            commands, account_id=principal.account_id, resource_type="command", wanted=wanted_tags
        )
    rows: list[Command]
    rows, page_fields = paging.paginate(commands, page)
    times = invoke_times(principal, [row.id for row in rows])
    tags = tags_of(principal.account_id, "command", [row.id for row in rows])
    records = [_command_row(row, times.get(row.id, 0), encoding, tags.get(row.id, {})) for row in rows]
    return {"Commands": {"Command": records}, **page_fields}
