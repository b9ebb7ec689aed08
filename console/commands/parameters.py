"""Command parameters: ``{{ name }}`` placeholders, the values passed for them, and rendering.

Pure: no Django and no I/O (``mypy --strict``). The rules are reference section 4.8 and the error tables
of CreateCommand, RunCommand and InvokeCommand:

- A placeholder is ``{{`` + a name + ``}}``; whitespace and newlines around the name are ignored. The
  name is ``[A-Za-z0-9_-]+``, at most 64 bytes, case-insensitive. Braces inside a placeholder are not
  allowed, so ``{{{x}}}`` is the placeholder ``{{x}}`` between two literal braces.
- ``ACS::`` (any case) is reserved for the built-ins ``ACS::RegionId``, ``ACS::AccountId``,
  ``ACS::InstanceId``, ``ACS::InstanceName``, ``ACS::InvokeId`` and ``ACS::CommandId``: they need no value
  and are filled per instance.
- At most 20 distinct custom names in the content; at most 10 values passed (both numbers are the
  original's). Passed keys must be names of the content (case-insensitive, each once); a name without a
  value gets its default, or "". Values are strings, numbers or booleans, rendered as JSON text
  (``true``, ``3``, ``1.5``); a string is used as it is.
- Rendering is one pass: a value that contains ``{{x}}`` is not substituted again.
- With parameters disabled nothing is parsed or substituted (``{{ACS::InstanceId}}`` stays literal, as in
  the original), and passing values is refused with ``Parameter.Disabled``.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from console.errors import Forbidden, NotFound, ServiceError

MAX_NAMES = 20
MAX_VALUES = 10
MAX_NAME_BYTES = 64
MAX_KEY_CHARS = 64
BUILTIN_PREFIX = "acs::"
BUILTINS = (
    "ACS::RegionId",
    "ACS::AccountId",
    "ACS::InstanceId",
    "ACS::InstanceName",
    "ACS::InvokeId",
    "ACS::CommandId",
)
_BUILTIN_BY_KEY = {name.lower(): name for name in BUILTINS}


def builtin_values(
    *, region: str, account_id: str, instance_id: str, instance_name: str, invoke_id: str, command_id: str
) -> dict[str, str]:
    """The built-in parameters of one instance's run, in the order of ``BUILTINS``."""
    values = (region, account_id, instance_id, instance_name, invoke_id, command_id)
    return dict(zip(BUILTINS, values, strict=True))


PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Template:
    """Content with parameters enabled (or not), and the names found in it."""

    content: str
    enabled: bool
    names: tuple[str, ...] = ()  # custom names, first spelling, in order of first appearance
    builtins: tuple[str, ...] = ()  # canonical built-in names used

    def name_key(self, name: str) -> str | None:
        """The custom name ``name`` refers to (case-insensitive), or None."""
        wanted = name.lower()
        return next((n for n in self.names if n.lower() == wanted), None)


def _line_of(content: str, index: int) -> int:
    return content.count("\n", 0, index) + 1


def _name_of(content: str, match: re.Match[str]) -> tuple[str, bool]:
    """(name, is_builtin) of one placeholder, or the error refusing it."""
    raw = match.group(0)
    name = match.group(1).strip()
    where = f"{raw!r} on line {_line_of(content, match.start())}"
    if not name:
        raise Forbidden(
            "CmdParam.EmptyKey", f"The parameter placeholder {where} has no name; write {{{{name}}}}."
        )
    if name.lower().startswith(BUILTIN_PREFIX):
        builtin = _BUILTIN_BY_KEY.get(name.lower())
        if builtin is None:
            raise Forbidden(
                "CmdParam.InvalidParamName",
                f"The parameter {where} uses the reserved prefix ACS::; the built-in parameters are "
                f"{', '.join(BUILTINS)}.",
            )
        return builtin, True
    if not _NAME.fullmatch(name):
        raise Forbidden(
            "CmdParam.InvalidParamName",
            f"The parameter name in {where} is not valid: a name may contain only letters (a-z, A-Z), "
            "digits (0-9), hyphens (-) and underscores (_).",
        )
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise Forbidden(
            "CmdParamName.ExceedLimit",
            f"The parameter name in {where} is {len(name)} characters long; the limit is {MAX_NAME_BYTES}.",
        )
    return name, False


def parse(content: str, *, enabled: bool = True) -> Template:
    """The placeholders of ``content``; refuses an invalid placeholder or too many names."""
    if not enabled:
        return Template(content=content, enabled=False)
    names: dict[str, str] = {}
    builtins: dict[str, None] = {}
    for match in PLACEHOLDER.finditer(content):
        name, builtin = _name_of(content, match)
        if builtin:
            builtins[name] = None
        else:
            names.setdefault(name.lower(), name)
    if len(names) > MAX_NAMES:
        raise Forbidden(
            "CmdParamCount.ExceedLimit",
            f"The command content uses {len(names)} custom parameter names; the limit is {MAX_NAMES}.",
        )
    return Template(content=content, enabled=True, names=tuple(names.values()), builtins=tuple(builtins))


def names_in(content: str) -> tuple[str, ...]:
    """The custom names of stored content, for display; () if the content does not parse."""
    try:
        return parse(content).names
    except ServiceError:
        return ()


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            _duplicate(key)
        seen[key] = value
    return seen


def _duplicate(key: str) -> NoReturn:
    raise Forbidden(
        "ParameterKey.Duplicate",
        f"The parameter {key!r} is given more than once (names are case-insensitive).",
    )


def _not_a_number(token: str) -> NoReturn:
    raise ValueError(f"{token} is not a number")


def parse_values_json(text: str) -> dict[str, object]:
    """The ``Parameters`` request parameter: one JSON object; "" means none."""
    if not text.strip():
        return {}
    try:
        parsed = json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_not_a_number)
    except ValueError as error:
        raise ServiceError(
            "InvalidParameter.Parameters",
            'The specified parameter "Parameters" is not valid: it must be a JSON object, '
            'e.g. {"name": "value"}.',
        ) from error
    if not isinstance(parsed, dict):
        raise ServiceError(
            "InvalidParameter.Parameters",
            'The specified parameter "Parameters" is not valid: it must be a JSON object, '
            'e.g. {"name": "value"}.',
        )
    return parsed


def value_text(key: str, value: object) -> str:
    """A passed value as the text put into the script."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise Forbidden(
        "ParameterType.NotSupported",
        f"The value of parameter {key!r} is {type(value).__name__}; values must be strings, numbers or "
        "booleans.",
    )


def check_values(template: Template, values: Mapping[str, object] | None) -> dict[str, str]:
    """The passed values as text, keyed by the lowercased name; refuses what the original refuses."""
    values = values or {}
    if not template.enabled:
        if values:
            raise NotFound(
                "Parameter.Disabled",
                "Parameters were given but custom parameters are not enabled (EnableParameter is false).",
            )
        return {}
    if len(values) > MAX_VALUES:
        raise Forbidden(
            "ParameterCount.ExceedLimit",
            f"{len(values)} parameter values were given; at most {MAX_VALUES} may be passed.",
        )
    texts: dict[str, str] = {}
    for key, value in values.items():
        if not key.strip():
            raise Forbidden("CmdParam.EmptyKey", "A parameter value was given with an empty name.")
        if len(key) > MAX_KEY_CHARS:
            raise Forbidden(
                "ParameterKey.ExceedLimit",
                f"The parameter name {key[:20]!r}... is {len(key)} characters long; the limit is "
                f"{MAX_KEY_CHARS}.",
            )
        if key.lower() in texts:
            _duplicate(key)
        if template.name_key(key) is None:
            known = ", ".join(template.names) or "none"
            raise Forbidden(
                "Parameter.NotMatched",
                f"The parameter {key!r} does not appear in the command content (its parameters: {known}).",
            )
        texts[key.lower()] = value_text(key, value)
    return texts


def render(
    template: Template,
    values: Mapping[str, str],
    builtins: Mapping[str, str],
    defaults: Mapping[str, str] | None = None,
) -> str:
    """The content with every placeholder replaced, in one pass. ``values`` and ``defaults`` are keyed by
    lowercased name (as ``check_values`` returns them); ``builtins`` by canonical built-in name."""
    if not template.enabled:
        return template.content
    lowered_defaults = {key.lower(): value for key, value in (defaults or {}).items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        builtin = _BUILTIN_BY_KEY.get(name.lower())
        if builtin is not None:
            return builtins.get(builtin, "")
        key = name.lower()
        if key in values:
            return values[key]
        return lowered_defaults.get(key, "")

    return PLACEHOLDER.sub(substitute, template.content)


def base64_size(text: str) -> int:
    """Length of ``text`` (UTF-8) after Base64 encoding with padding."""
    return 4 * ((len(text.encode("utf-8")) + 2) // 3)


def check_rendered_size(text: str, limit: int, where: str = "") -> str:
    size = base64_size(text)
    if size > limit:
        suffix = f" for {where}" if where else ""
        raise Forbidden(
            "CmdContent.ExceedLimit",
            f"The command content after substituting the parameters{suffix} is {size} bytes after Base64 "
            f"encoding; the limit is {limit}.",
        )
    return text
