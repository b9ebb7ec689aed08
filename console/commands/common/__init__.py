"""Common (public) commands: scripts that ship with Assist as data, read-only and versioned.

``commands.toml`` lists one entry per version and ``scripts/`` holds each version's script. They are not
stored in the database: this module reads them once (cached) and hands out ``PublicCommand`` objects
with the attributes the services use for a saved command (id, name, description, type, content,
working_dir, timeout, enable_parameter), plus provider, category, version, latest and parameter
definitions.

- A public command's id (``c-acs-...``) names one version; its name names the newest version (the
  original lets InvokeCommand name public commands). Generated ids never contain a second hyphen, so the
  two never meet.
- Its RAM resource is ``command/<name>``, as the original's policies name public commands.
- DescribeCommands' ``Provider``: ``AlibabaCloud`` means every public command; any other value one
  provider (``AlibabaCloud.ECS.GuestOS``...), compared without case. Name and Description always match
  fuzzily (anywhere, case-insensitive, ``*`` any run of characters), as the original documents.
- Values passed to a public command are checked against its definitions (required, possible values,
  pattern) and a missing one gets its default, before the usual rendering.
"""

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from console.commands import patterns
from console.errors import Forbidden, ServiceError

DATA_DIR = Path(__file__).resolve().parent
MANIFEST = DATA_DIR / "commands.toml"
SCRIPTS_DIR = DATA_DIR / "scripts"
PROVIDER_ALL = "AlibabaCloud"
PUBLIC_ID_PREFIX = "c-acs-"


@dataclass(frozen=True)
class ParameterDefinition:
    """One documented parameter of a public command (DescribeCommands' ParameterDefinition)."""

    name: str
    description: str
    default: str = ""
    required: bool = False
    possible_values: tuple[str, ...] = ()
    pattern: str = ""  # the whole value must match (re.fullmatch); "" = any value

    def problem(self, value: str) -> str:
        """Why ``value`` is not acceptable, or ""."""
        if self.possible_values and value not in self.possible_values:
            return f"must be one of {', '.join(self.possible_values)}"
        if self.pattern and not re.fullmatch(self.pattern, value):
            return f"must match the pattern {self.pattern}"
        return ""


@dataclass(frozen=True)
class PublicCommand:
    """One version of a common command."""

    id: str
    name: str
    version: int
    latest: bool
    provider: str
    category: str
    type: str
    description: str
    content: str
    working_dir: str
    timeout: int
    created_at: datetime
    script: str
    parameters: tuple[ParameterDefinition, ...] = ()
    enable_parameter: bool = True
    is_public: bool = True

    @property
    def resource_name(self) -> str:
        """What RAM policies name this command by: ``command/<name>``."""
        return self.name

    @property
    def family_id(self) -> str:
        return self.name

    def parameter(self, name: str) -> ParameterDefinition | None:
        wanted = name.lower()
        return next((p for p in self.parameters if p.name.lower() == wanted), None)


class ManifestError(ValueError):
    """The shipped manifest is broken (a bug in the release, found by the tests)."""


def _text(entry: Mapping[str, object], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str):
        raise ManifestError(f"{where}: {key} must be a string")
    return value


def _parameter(entry: Mapping[str, object], where: str) -> ParameterDefinition:
    possible = entry.get("possible_values", [])
    if not isinstance(possible, list) or not all(isinstance(v, str) for v in possible):
        raise ManifestError(f"{where}: possible_values must be a list of strings")
    required = entry.get("required", False)
    if not isinstance(required, bool):
        raise ManifestError(f"{where}: required must be true or false")
    return ParameterDefinition(
        name=_text(entry, "name", where),
        description=_text(entry, "description", where),
        default=_text(entry, "default", where),
        required=required,
        possible_values=tuple(possible),
        pattern=_text(entry, "pattern", where),
    )


def _command(entry: Mapping[str, object], latest: Mapping[str, int]) -> PublicCommand:
    where = f"commands.toml entry {entry.get('id')!r}"
    name = _text(entry, "name", where)
    version = entry.get("version")
    timeout = entry.get("timeout")
    if not isinstance(version, int) or not isinstance(timeout, int):
        raise ManifestError(f"{where}: version and timeout must be whole numbers")
    script = _text(entry, "script", where)
    raw_parameters = entry.get("parameters", [])
    if not isinstance(raw_parameters, list):
        raise ManifestError(f"{where}: parameters must be a list of tables")
    return PublicCommand(
        id=_text(entry, "id", where),
        name=name,
        version=version,
        latest=latest[name] == version,
        provider=_text(entry, "provider", where),
        category=_text(entry, "category", where),
        type=_text(entry, "type", where),
        description=_text(entry, "description", where),
        content=(SCRIPTS_DIR / script).read_text(encoding="utf-8"),
        working_dir=_text(entry, "working_dir", where),
        timeout=timeout,
        created_at=datetime.fromisoformat(_text(entry, "created", where)),
        script=script,
        parameters=tuple(_parameter(p, f"{where} parameter {n + 1}") for n, p in enumerate(raw_parameters)),
    )


@cache
def public_commands() -> tuple[PublicCommand, ...]:
    """Every version of every common command, by name then newest version first."""
    with MANIFEST.open("rb") as manifest:
        entries = tomllib.load(manifest).get("command", [])
    latest: dict[str, int] = {}
    for entry in entries:
        latest[entry["name"]] = max(latest.get(entry["name"], 0), entry["version"])
    commands = [_command(entry, latest) for entry in entries]
    return tuple(sorted(commands, key=lambda c: (c.name.lower(), -c.version)))


def public_command(id_or_name: str) -> PublicCommand | None:
    """The version with this id, or the newest version of the command with this name; None if neither."""
    commands = public_commands()
    found = next((c for c in commands if c.id == id_or_name), None)
    if found is None:
        found = next((c for c in commands if c.name == id_or_name and c.latest), None)
    return found


def public_command_versions(name: str) -> list[PublicCommand]:
    """Every version of the common command ``name``, oldest first."""
    return sorted((c for c in public_commands() if c.name == name), key=lambda c: c.version)


def providers() -> list[str]:
    return sorted({c.provider for c in public_commands()})


def is_public_provider(provider: str) -> bool:
    """Whether DescribeCommands' ``Provider`` asks for public commands (any value does, in the original)."""
    return bool(provider.strip())


def _fuzzy(pattern: str, text: str) -> bool:
    """Public commands always match fuzzily: the pattern anywhere in the text, ignoring case, with
    ``*`` matching any run of characters."""
    return patterns.matches(f"*{pattern}*", text)


def public_commands_filter(
    *,
    provider: str = PROVIDER_ALL,
    command_id: str = "",
    name: str = "",
    description: str = "",
    command_type: str = "",
    latest: bool = False,
    category: str = "",
) -> list[PublicCommand]:
    """DescribeCommands' filters over the common commands (see the module's docstring)."""
    wanted_provider = provider.strip().lower()
    rows = []
    for command in public_commands():
        if wanted_provider != PROVIDER_ALL.lower() and command.provider.lower() != wanted_provider:
            continue
        if command_id and command_id not in (command.id, command.name):
            continue
        if command_type and command.type != command_type:
            continue
        if category and command.category.lower() != category.lower():
            continue
        if latest and not command.latest:
            continue
        if name and not _fuzzy(name, command.name):
            continue
        if description and not _fuzzy(description, command.description):
            continue
        rows.append(command)
    return rows


def public_command_values(command: PublicCommand, values: Mapping[str, str]) -> dict[str, str]:
    """The values to render ``command`` with (keyed by lowercased name, as ``parameters.check_values``
    returns them): each passed value checked against its definition, a missing one given its default.
    A required parameter without a value is 400 ``MissingParameter.Parameters``; a value outside its
    possible values or pattern is 400 ``InvalidParameter.Parameters``."""
    rendered: dict[str, str] = {}
    for definition in command.parameters:
        key = definition.name.lower()
        value = values.get(key)
        if not value:  # absent, or given as "" (the original's way to leave a value out)
            if definition.required:
                raise ServiceError(
                    "MissingParameter.Parameters",
                    f"The common command {command.name} needs the parameter {definition.name!r} "
                    f"({definition.description}); pass it in Parameters, e.g. "
                    f'{{"{definition.name}": "..."}}.',
                )
            value = definition.default
        problem = definition.problem(value)
        if problem:
            raise ServiceError(
                "InvalidParameter.Parameters",
                f"The value {value!r} of parameter {definition.name!r} of {command.name} {problem}.",
            )
        rendered[key] = value
    return {**values, **rendered}


def public_values_for(command: object, values: Mapping[str, str]) -> dict[str, str]:
    """``public_command_values`` for a public command; any other command's values as they are."""
    if isinstance(command, PublicCommand):
        return public_command_values(command, values)
    return dict(values)


def parameters_with_defaults(command_id: str, passed: Mapping[str, object]) -> dict[str, object]:
    """The values an invocation of ``command_id`` ran with, for running its content again (rerun on
    failed): what was passed, plus each absent parameter's default when it is a common command."""
    values = dict(passed)
    public = public_command(command_id)
    if public is not None:
        given = {key.lower() for key, value in passed.items() if value != ""}
        for definition in public.parameters:
            if definition.name.lower() not in given and definition.default:
                values = {k: v for k, v in values.items() if k.lower() != definition.name.lower()}
                values[definition.name] = definition.default
    return values


def refuse_public_content_change(command_id: str, command_content: str | None) -> None:
    """ModifyInvocationAttribute may not give a task of a common command new content (reference
    section 3.2: "Public commands' content cannot be changed")."""
    public = public_command(command_id)
    if public is not None and command_content is not None:
        raise public_command_refused(public, "given new content by ModifyInvocationAttribute")


def public_command_refused(command: PublicCommand, action: str) -> Forbidden:
    """The error for changing a common command: they ship with Assist and are read-only."""
    return Forbidden(
        "InvalidOperation.PublicCommand",
        f"{command.name} is a common (public) command: it ships with Assist and cannot be {action}. "
        "Clone it into a command of your own to change it.",
    )
