"""Typed access to the flat RPC parameters of one request.

The wire carries only strings: lists are flattened as ``Name.N`` (N from 1), structs in lists as
``Name.N.Field``, maps as one JSON string, booleans as ``True``/``False`` in any case. Every getter raises
a ServiceError whose code names the parameter, so the caller learns exactly what to fix.
"""

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from console.errors import Forbidden, ServiceError

_INDEXED = re.compile(r"^(?P<name>[A-Za-z0-9_]+)\.(?P<index>[0-9]+)(?:\.(?P<field>[A-Za-z0-9_.]+))?$")
_INT = re.compile(r"^[+-]?[0-9]+$")
# Repeat lists longer than this are refused before anything is built from them.
MAX_LIST_INDEX = 1000
# JSON-valued parameters nested deeper than this are refused before any parser sees them: Python's json
# recurses per level, and a few thousand levels exhaust the stack (an InternalError, not a clear answer).
MAX_JSON_DEPTH = 64
# The parameters the original sends as one JSON-encoded string (reference section 2.2).
JSON_PARAMETERS = frozenset(
    {
        "Parameters",
        "EncryptionOptions",
        "AgentUpgradeConfig",
        "OssDeliveryConfig",
        "ResourceUsageConfig",
        "SessionManagerConfig",
        "SlsDeliveryConfig",
    }
)


def missing(name: str) -> ServiceError:
    return ServiceError(
        f"MissingParameter.{name}",
        f'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
    )


def invalid(name: str, detail: str) -> ServiceError:
    return ServiceError(
        f"InvalidParameter.{name}", f'The specified parameter "{name}" is not valid: {detail}'
    )


def unsupported(name: str, detail: str = "") -> ServiceError:
    return ServiceError(
        f"InvalidParameter.{name}",
        f'The parameter "{name}" is not supported by this server yet.' + (f" {detail}" if detail else ""),
    )


def json_depth(text: str) -> int:
    """The deepest nesting of ``{``/``[`` in ``text``, brackets inside JSON strings not counted. A plain
    scan, no recursion, so it is safe on any input."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "}]":
            depth = max(depth - 1, 0)
    return deepest


def check_json_depth(name: str, text: str) -> None:
    if json_depth(text) > MAX_JSON_DEPTH:
        raise invalid(name, f"it is nested more than {MAX_JSON_DEPTH} levels deep.")


def check_json_parameters(raw: Mapping[str, str]) -> None:
    """Refuse a JSON-valued parameter nested too deeply, whichever module parses it later."""
    for name in JSON_PARAMETERS & raw.keys():
        check_json_depth(name, raw[name])


class Params:
    """The operation's parameters (common and signature parameters already removed)."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw: dict[str, str] = dict(raw)

    def __contains__(self, name: object) -> bool:
        return name in self.raw

    def has_any(self, prefix: str) -> bool:
        """True when ``prefix`` or any ``prefix.N...`` parameter is present."""
        return any(key == prefix or key.startswith(prefix + ".") for key in self.raw)

    # --- scalars -----------------------------------------------------------------------------------

    def text(
        self, name: str, *, required: bool = False, default: str = "", max_length: int | None = None
    ) -> str:
        value = self.raw.get(name)
        if value is None or (required and value == ""):
            if required:
                raise missing(name)
            return default
        if max_length is not None and len(value) > max_length:
            raise invalid(name, f"it must be at most {max_length} characters.")
        return value

    def integer(
        self,
        name: str,
        *,
        default: int,
        minimum: int | None = None,
        maximum: int | None = None,
        code: str | None = None,
    ) -> int:
        """A decimal integer within [minimum, maximum]. ``code`` overrides the error code (paging errors
        of the original are 403 ``InvalidParam.<Name>``)."""
        value = self.raw.get(name)
        if value is None or value.strip() == "":
            return default
        text = value.strip()
        bounds = _bounds_text(minimum, maximum)
        if not _INT.match(text):
            raise self._int_error(name, f"{value!r} is not a whole number{bounds}.", code)
        number = int(text)
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise self._int_error(name, f"{number} is out of range{bounds}.", code)
        return number

    @staticmethod
    def _int_error(name: str, detail: str, code: str | None) -> ServiceError:
        if code is None:
            return invalid(name, detail)
        return Forbidden(code, f'The specified parameter "{name}" is not valid: {detail}')

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self.raw.get(name)
        if value is None or value.strip() == "":
            return default
        lowered = value.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        raise invalid(name, f"{value!r} is not true or false.")

    def choice(self, name: str, choices: Iterable[str], *, default: str, strict: bool = True) -> str:
        """One of ``choices`` matched case-insensitively and returned in its canonical spelling. With
        ``strict=False`` an unknown value falls back to ``default`` (ContentEncoding does that)."""
        value = self.raw.get(name)
        if value is None or value.strip() == "":
            return default
        canonical = {choice.lower(): choice for choice in choices}
        found = canonical.get(value.strip().lower())
        if found is not None:
            return found
        if not strict:
            return default
        raise invalid(name, f"{value!r} is not one of {', '.join(canonical.values())}.")

    def json_value(self, name: str, *, default: Any = None) -> Any:
        value = self.raw.get(name)
        if value is None or value.strip() == "":
            return default
        check_json_depth(name, value)
        try:
            return json.loads(value)
        except ValueError as error:
            raise invalid(name, "it must be a JSON-encoded value.") from error

    def json_object(self, name: str) -> dict[str, Any]:
        parsed = self.json_value(name, default={})
        if not isinstance(parsed, dict):
            raise invalid(name, 'it must be a JSON object, e.g. {"name": "value"}.')
        return parsed

    # --- repeat lists ------------------------------------------------------------------------------

    def _indexed(self, name: str) -> dict[int, dict[str, str]]:
        """``Name.N`` -> {N: {"": value}}, ``Name.N.Field`` -> {N: {"Field": value}}."""
        found: dict[int, dict[str, str]] = {}
        for key, value in self.raw.items():
            match = _INDEXED.match(key)
            if match is None or match["name"] != name:
                continue
            index = int(match["index"])
            if not 1 <= index <= MAX_LIST_INDEX:
                raise invalid(key, f"list positions run from 1 to {MAX_LIST_INDEX}.")
            found.setdefault(index, {})[match["field"] or ""] = value
        return found

    def indexed(self, name: str) -> dict[int, dict[str, str]]:
        """Every ``Name.N[.Field...]`` by position: {N: {field: value}}, for nested lists such as
        ``TagFilter.N.TagValues.M`` (field ``TagValues.M``)."""
        return self._indexed(name)

    def values(self, name: str) -> list[str]:
        """Values of ``Name.1``, ``Name.2``, ... in index order (gaps are allowed)."""
        indexed = self._indexed(name)
        return [fields[""] for _, fields in sorted(indexed.items()) if "" in fields]

    def given_structs(self, name: str, fields: Iterable[str]) -> list[dict[str, str]]:
        """``Name.N.Field`` entries as dicts in index order, holding only the fields that were sent (an
        absent ``Tag.N.Value`` differs from an empty one)."""
        wanted = tuple(fields)
        rows = []
        for _, values in sorted(self._indexed(name).items()):
            unknown = sorted(set(values) - set(wanted))
            if unknown:
                raise invalid(f"{name}.N.{unknown[0] or '(none)'}", f"expected one of {', '.join(wanted)}.")
            rows.append(dict(values))
        return rows

    def structs(self, name: str, fields: Iterable[str]) -> list[dict[str, str]]:
        """``Name.N.Field`` entries as dicts in index order; absent fields are ""."""
        wanted = tuple(fields)
        rows = []
        for _, values in sorted(self._indexed(name).items()):
            unknown = sorted(set(values) - set(wanted))
            if unknown:
                raise invalid(f"{name}.N.{unknown[0] or '(none)'}", f"expected one of {', '.join(wanted)}.")
            rows.append({field: values.get(field, "") for field in wanted})
        return rows


def _bounds_text(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" (allowed: {minimum} to {maximum})"
    if minimum is not None:
        return f" (allowed: at least {minimum})"
    if maximum is not None:
        return f" (allowed: at most {maximum})"
    return ""
