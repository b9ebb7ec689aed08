"""Reads of saved commands. Rows are fetched for a principal only here; missing and forbidden look alike."""

from django.db.models import Count, QuerySet

from console.commands import patterns
from console.commands.common import PublicCommand, public_command
from console.commands.models import Command
from console.errors import NotFound
from console.iam.authz import allowed_resources
from console.iam.principal import Principal, arn
from console.invocations.models import Invocation


def command_not_found(command_id: str) -> NotFound:
    return NotFound("InvalidCmdId.NotFound", f"The command {command_id} does not exist.")


def commands_of_account(principal: Principal) -> QuerySet[Command]:
    return Command.objects.filter(account_id=principal.account_id)


def commands_visible(principal: Principal) -> QuerySet[Command]:
    """The account's commands; for a RAM user, those it may describe (``ecs:DescribeCommands``)."""
    commands = commands_of_account(principal)
    if principal.is_root:
        return commands
    by_arn = {
        arn(principal.account_id, region, "command", command_id): command_id
        for command_id, region in commands.values_list("id", "region")
    }
    allowed = allowed_resources(principal, "ecs:DescribeCommands", by_arn)
    return commands.filter(id__in=[by_arn[resource] for resource in allowed])


def command_of_account(principal: Principal, command_id: str, region: str = "") -> Command | PublicCommand:
    """A command of the principal's account (in ``region`` when given), or a common (public) command
    named by its id or its name (the newest version), for a service that authorizes its own action on
    it. Another account's command does not exist. Services that change a command refuse a public one."""
    commands = commands_of_account(principal)
    if region:
        commands = commands.filter(region=region)
    command = commands.filter(pk=command_id).first()
    if command is not None:
        return command
    public = public_command(command_id)
    if public is None:
        raise command_not_found(command_id)
    return public


def command_resource_name(command: Command | PublicCommand) -> str:
    """The last part of a command's ARN: its id, or for a public command its name (as the original's
    policies name public commands, e.g. ``command/ACS-ECS-InstallPackage-for-linux.sh``)."""
    return command.resource_name if isinstance(command, PublicCommand) else command.id


def public_commands_visible(
    principal: Principal, region: str, commands: list[PublicCommand]
) -> list[PublicCommand]:
    """The public commands among ``commands`` the principal may describe (``ecs:DescribeCommands`` on
    ``command/<name>``; root sees all)."""
    if principal.is_root:
        return commands
    by_arn = {arn(principal.account_id, region, "command", c.resource_name): c.name for c in commands}
    allowed_names = {
        by_arn[resource] for resource in allowed_resources(principal, "ecs:DescribeCommands", by_arn)
    }
    return [c for c in commands if c.name in allowed_names]


def public_command_get(principal: Principal, command_id: str, region: str) -> PublicCommand:
    """A public command (by id or name) the principal may see (pages)."""
    public = public_command(command_id)
    if public is None or not public_commands_visible(principal, region, [public]):
        raise command_not_found(command_id)
    return public


def command_get(principal: Principal, command_id: str) -> Command:
    """A command the principal may see (pages)."""
    command = commands_visible(principal).filter(pk=command_id).first()
    if command is None:
        raise command_not_found(command_id)
    return command


def commands_filter(
    commands: QuerySet[Command],
    *,
    command_id: str = "",
    name: str = "",
    description: str = "",
    command_type: str = "",
) -> QuerySet[Command]:
    """DescribeCommands' filters: exact id and type; Name and Description exact, or with ``*``
    wildcards (``patterns``)."""
    if command_id:
        commands = commands.filter(pk=command_id)
    if command_type:
        commands = commands.filter(type=command_type)
    for field, pattern in (("name", name), ("description", description)):
        if not pattern:
            continue
        regex = patterns.wildcard_regex(pattern)
        if regex is None:
            commands = commands.filter(**{field: pattern})
        else:
            commands = commands.filter(**{f"{field}__iregex": regex})
    return commands


def invoke_times(principal: Principal, command_ids: list[str]) -> dict[str, int]:
    """How many invocations each command has had (InvokeTimes), in one query."""
    rows = (
        Invocation.objects.filter(account_id=principal.account_id, command_id__in=command_ids)
        .values("command_id")
        .annotate(times=Count("id"))
    )
    return {row["command_id"]: row["times"] for row in rows}


def command_versions(principal: Principal, command: Command) -> list[Command]:
    """The visible commands of ``command``'s family, oldest version first."""
    family = command.family_id or command.id
    return list(commands_visible(principal).filter(family_id=family).order_by("version", "created_at"))


def commands_count(account_id: str, region: str) -> int:
    return Command.objects.filter(account_id=account_id, region=region).count()
