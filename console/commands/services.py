"""Writes of saved commands: create, modify, clone (a new version), delete, and the retained quota.

Every function checks its input with the original's error codes first, then authorizes the RAM action of
reference ram-policies.md section 4.2 on the command's ARN, then writes in one transaction.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from assist_agent import launcher as launchers
from django.conf import settings
from django.db import transaction
from django.db.models import Max

from console.commands import limits
from console.commands import parameters as cmd_params
from console.commands.common import PublicCommand, public_command_refused
from console.commands.models import Command
from console.commands.selectors import command_of_account, command_resource_name, commands_count
from console.errors import Forbidden, ServiceError
from console.iam.authz import authorize
from console.iam.models import Account
from console.iam.principal import Principal, arn
from console.ids import new_id
from console.tags.services import tags_attach


def _command_arn(principal: Principal, command: Command) -> str:
    return arn(principal.account_id, command.region, "command", command.id)


def _own_command(principal: Principal, command_id: str, region: str, action: str) -> Command:
    """A command of the account to change; a common (public) command is read-only (403
    ``InvalidOperation.PublicCommand``)."""
    command = command_of_account(principal, command_id, region)
    if isinstance(command, PublicCommand):
        raise public_command_refused(command, action)
    return command


def check_launcher(launcher: str) -> str:
    """A Launcher as stored: "" for none, else the line without surrounding spaces. Refused with 400
    ``InvalidParameter.Launcher`` when over 1 KB or when a ``{{ACS::...}}`` placeholder is malformed (the
    agent's own rules, assist_agent/launcher.py)."""
    try:
        parsed = launchers.parse(launcher)
    except launchers.LauncherError as error:
        raise ServiceError(
            "InvalidParameter.Launcher", f'The specified parameter "Launcher" is not valid: {error}.'
        ) from None
    return "" if parsed is None else parsed.text


@dataclass(frozen=True)
class CommandFields:
    """Checked attributes of a command about to be saved."""

    name: str
    description: str
    type: str
    content: str
    working_dir: str
    timeout: int
    enable_parameter: bool
    launcher: str = ""


def command_fields_check(
    *,
    name: str,
    command_content: str,
    command_type: str = "RunShellScript",
    content_encoding: str = "PlainText",
    description: str = "",
    working_dir: str = "",
    timeout: object = 60,
    enable_parameter: bool = False,
    decode_error_code: str = "InvalidParameter.CommandContent",
    launcher: str = "",
) -> CommandFields:
    """Every limit of a saved command, in the order the original reports them."""
    limits.check_name(name, required=True)
    limits.check_description(description)
    check_type = limits.check_command_type(command_type)
    content = limits.check_content(
        limits.decode_content(command_content, content_encoding, error_code=decode_error_code)
    )
    limits.check_working_dir(working_dir)
    timeout_seconds = limits.check_timeout(timeout)
    cmd_params.parse(content, enabled=enable_parameter)
    return CommandFields(
        name=name,
        description=description,
        type=check_type,
        content=content,
        working_dir=working_dir,
        timeout=timeout_seconds,
        enable_parameter=enable_parameter,
        launcher=check_launcher(launcher),
    )


def command_quota_reserve(*, account_id: str, region: str, adding: int = 1) -> None:
    """Refuse (``CmdCount.ExceedQuota``) when the account's retained commands in ``region`` would pass
    the quota. Call inside the transaction that adds them: it locks the account row, so concurrent
    creations are counted one after the other."""
    Account.objects.select_for_update().filter(pk=account_id).first()
    quota = limits.command_quota()
    count = commands_count(account_id, region)
    if count + adding > quota:
        raise Forbidden(
            "CmdCount.ExceedQuota",
            f"The account already keeps {count} commands in region {region}; the quota is {quota}. "
            "Delete commands you no longer need.",
        )


def command_save(
    *,
    principal: Principal,
    region: str,
    fields: CommandFields,
    command_id: str = "",
    family: Command | None = None,
) -> Command:
    """Insert a checked command (quota included). Callers authorize first and own the transaction."""
    command_quota_reserve(account_id=principal.account_id, region=region)
    command_id = command_id or new_id("c")
    family_id = command_id if family is None else (family.family_id or family.id)
    version = 1
    if family is not None:
        latest = Command.objects.filter(family_id=family_id).aggregate(top=Max("version"))["top"]
        version = max(latest or 0, family.version) + 1
    command = Command(
        id=command_id,
        account_id=principal.account_id,
        region=region,
        name=fields.name,
        description=fields.description,
        type=fields.type,
        content=fields.content,
        working_dir=fields.working_dir,
        timeout=fields.timeout,
        enable_parameter=fields.enable_parameter,
        launcher=fields.launcher,
        family_id=family_id,
        version=version,
    )
    command.full_clean()
    command.save(force_insert=True)
    return command


def command_create(
    *,
    principal: Principal,
    name: str,
    command_content: str,
    region: str = "",
    command_type: str = "RunShellScript",
    content_encoding: str = "PlainText",
    description: str = "",
    working_dir: str = "",
    timeout: object = 60,
    enable_parameter: bool = False,
    decode_error_code: str = "InvalidParameter.CommandContent",
    tags: Mapping[str, str] | None = None,
    launcher: str = "",
) -> Command:
    """Save a new command (CreateCommand), with its tags."""
    region = region or settings.ASSIST_REGION
    fields = command_fields_check(
        name=name,
        command_content=command_content,
        command_type=command_type,
        content_encoding=content_encoding,
        description=description,
        working_dir=working_dir,
        timeout=timeout,
        enable_parameter=enable_parameter,
        decode_error_code=decode_error_code,
        launcher=launcher,
    )
    authorize(principal, "ecs:CreateCommand", [arn(principal.account_id, region, "command", "*")])
    with transaction.atomic():
        command = command_save(principal=principal, region=region, fields=fields)
        tags_attach(
            account_id=principal.account_id,
            region=region,
            resource_type="command",
            resource_ids=[command.id],
            tags=tags or {},
        )
        return command


def command_modify(
    *,
    principal: Principal,
    command_id: str,
    region: str = "",
    name: str | None = None,
    description: str | None = None,
    working_dir: str | None = None,
    timeout: object = None,
    launcher: str | None = None,
) -> Command:
    """Change a command's name, description, working dir, timeout or launcher (ModifyCommand); None keeps
    a value ("" clears the launcher). The content and type never change: clone the command for that."""
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = limits.check_name(name, required=True)
    if description is not None:
        changes["description"] = limits.check_description(description)
    if working_dir is not None:
        changes["working_dir"] = limits.check_working_dir(working_dir)
    if timeout is not None:
        changes["timeout"] = limits.check_timeout(timeout)
    if launcher is not None:
        changes["launcher"] = check_launcher(launcher)
    command = _own_command(principal, command_id, region, "modified")
    authorize(principal, "ecs:ModifyCommand", [_command_arn(principal, command)])
    if not changes:
        return command
    with transaction.atomic():
        command = Command.objects.select_for_update().get(pk=command.pk)
        for field, value in changes.items():
            setattr(command, field, value)
        command.full_clean()
        command.save(update_fields=list(changes))
    return command


def command_clone(
    *,
    principal: Principal,
    command_id: str,
    region: str = "",
    name: str | None = None,
    description: str | None = None,
    command_type: str | None = None,
    command_content: str | None = None,
    content_encoding: str = "PlainText",
    working_dir: str | None = None,
    timeout: object = None,
    enable_parameter: bool | None = None,
    launcher: str | None = None,
) -> Command:
    """A new command made from ``command_id`` with any attribute changed (None keeps the source's): the
    next version of its family. Needs ``ecs:DescribeCommands`` on the source and ``ecs:CreateCommand``.
    A common (public) command can be cloned too: the copy starts a family of the account's own."""
    source = command_of_account(principal, command_id, region)
    region = region or settings.ASSIST_REGION
    source_region = source.region if isinstance(source, Command) else region
    fields = command_fields_check(
        name=source.name if name is None else name,
        command_content=source.content if command_content is None else command_content,
        content_encoding="PlainText" if command_content is None else content_encoding,
        command_type=source.type if command_type is None else command_type,
        description=source.description if description is None else description,
        working_dir=source.working_dir if working_dir is None else working_dir,
        timeout=source.timeout if timeout is None else timeout,
        enable_parameter=source.enable_parameter if enable_parameter is None else enable_parameter,
        launcher=getattr(source, "launcher", "") if launcher is None else launcher,
    )
    authorize(
        principal,
        "ecs:DescribeCommands",
        [arn(principal.account_id, source_region, "command", command_resource_name(source))],
    )
    authorize(principal, "ecs:CreateCommand", [arn(principal.account_id, source_region, "command", "*")])
    family = source if isinstance(source, Command) else None
    with transaction.atomic():
        return command_save(principal=principal, region=source_region, fields=fields, family=family)


def command_delete(*, principal: Principal, command_id: str, region: str = "") -> None:
    """Delete a command (DeleteCommand), freeing quota. Invocations keep their own copy of the script, so
    history is unaffected; a command a live periodic task still runs is refused (403
    ``InvalidStatus.CmdIdInUse``, as the original)."""
    from console.invocations.models import Invocation  # invocations sit above commands

    command = _own_command(principal, command_id, region, "deleted")
    authorize(principal, "ecs:DeleteCommand", [_command_arn(principal, command)])
    scheduled = Invocation.objects.filter(command_id=command.id, next_run_at__isnull=False)
    in_use = list(scheduled.values_list("pk", flat=True)[:3])
    if in_use:
        raise Forbidden(
            "InvalidStatus.CmdIdInUse",
            f"The command {command.id} is in use by scheduled task(s) {', '.join(in_use)}; stop them first.",
        )
    with transaction.atomic():
        Command.objects.filter(pk=command.pk).delete()
