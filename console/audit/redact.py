"""Pure helpers that turn request parameters into what an audit event may keep: secrets replaced by a
marker (by parameter name, also inside JSON-object values such as RunCommand ``Parameters``), long values
cut, console form noise dropped. Total: every input gets an answer (a JSON value nested too deeply to walk
is kept as cut text, or redacted whole when a secret-looking name appears anywhere in it). No Django."""

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "******"
MAX_VALUE_CHARS = 8192
MAX_PARAMETERS = 200

# A parameter whose name contains one of these (case-insensitively) holds a secret. Command content is
# deliberately kept: who ran what is the point of the trail.
_SECRET_NAME = re.compile(r"secret|password|passwd|token|signature|authorization|credential", re.IGNORECASE)
# Form fields that carry no information about the request.
DROPPED = frozenset({"csrfmiddlewaretoken"})


def is_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def _cut(value: str) -> str:
    if len(value) <= MAX_VALUE_CHARS:
        return value
    return value[:MAX_VALUE_CHARS] + f"…(cut, {len(value)} characters)"


def _redact_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if is_secret(str(k)) else _redact_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_json(item) for item in value]
    return value


def _json_value(text: str, value: str) -> str:
    """``value`` (``text`` stripped) when it is a JSON object: with its secret-named keys redacted."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return _cut(value)
    if isinstance(parsed, dict):
        redacted = _redact_json(parsed)
        if redacted != parsed:
            return _cut(json.dumps(redacted, ensure_ascii=False))
    return _cut(value)


def _value(name: str, value: str) -> str:
    if is_secret(name):
        return REDACTED
    stripped = value.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            return _json_value(stripped, value)
        except RecursionError:
            # Nested too deeply to parse or walk (json.loads, the walk, the comparison and json.dumps
            # all recurse): its keys cannot be checked one by one, so a secret-looking name anywhere in
            # the text hides the whole value rather than risk keeping the secret.
            return REDACTED if _SECRET_NAME.search(value) else _cut(value)
    return _cut(value)


def redact(params: Mapping[str, str] | Iterable[tuple[str, list[str]]]) -> dict[str, Any]:
    """``params`` as a mapping of single values, or ``(name, [values])`` pairs (a form's ``lists()``); a
    name with several values keeps them as a list."""
    items = params.items() if isinstance(params, Mapping) else params
    kept: dict[str, Any] = {}
    for name, raw in items:
        if name in DROPPED:
            continue
        if len(kept) >= MAX_PARAMETERS:
            kept["…"] = "more parameters were cut"
            break
        if isinstance(raw, list):
            values = [_value(name, str(v)) for v in raw]
            kept[name] = values[0] if len(values) == 1 else values
        else:
            kept[name] = _value(name, str(raw))
    return kept


def resource_ids(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """The resource ids a request names: parameters called ``<Kind>Id`` or ``<Kind>Id.<n>`` (RPC lists),
    grouped by kind, e.g. ``{"InstanceId": ["mi-1", "mi-2"], "CommandId": ["c-1"]}``."""
    found: dict[str, list[str]] = {}
    for name, value in params.items():
        kind = name.split(".", 1)[0]
        if not kind.endswith("Id") or kind in ("RegionId", "AccessKeyId", "ResourceGroupId", "RequestId"):
            continue
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str) and item and item not in found.setdefault(kind, []):
                found[kind].append(item)
    return {kind: ids for kind, ids in found.items() if ids}
