"""Tag rules of the original API, as pure functions (no Django): what a tag key and value may be, how many a
request or a resource may carry, and which resource types can be tagged.

``TagResources`` allows keys of up to 128 characters; the ``Tag.N`` of the create and run operations and
the tag filters of the Describe operations allow 64 (reference §3.7). Keys are case-sensitive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

RESOURCE_TYPES = ("command", "invocation", "activation", "managedinstance")
# The ARN segment of each taggable resource type (acs:ecs:<region>:<account>:<kind>/<id>).
ARN_KIND = {"command": "command", "invocation": "invocation", "activation": "activation"}
ARN_KIND["managedinstance"] = "instance"
RESOURCE_TYPE_OF_ARN_KIND = {kind: resource_type for resource_type, kind in ARN_KIND.items()}

MAX_TAGS_PER_REQUEST = 20
MAX_TAGS_PER_RESOURCE = 20
MAX_RESOURCES_PER_REQUEST = 50
KEY_LIMIT_TAG_RESOURCES = 128
KEY_LIMIT_ON_CREATE = 64
VALUE_LIMIT = 128
RESERVED_KEY_PREFIXES = ("aliyun", "acs:")


@dataclass(frozen=True)
class TagRuleError(Exception):
    code: str
    message: str
    status: int = 400


def _has_url(text: str) -> bool:
    lowered = text.lower()
    return "http://" in lowered or "https://" in lowered


def check_resource_type(value: str) -> str:
    """The canonical resource type (case-insensitive on input)."""
    lowered = value.strip().lower()
    if lowered not in RESOURCE_TYPES:
        raise TagRuleError(
            "InvalidResourceType.NotSupported",
            f"The specified ResourceType {value!r} is not supported; use one of {', '.join(RESOURCE_TYPES)}.",
        )
    return lowered


def check_key(key: str, *, limit: int, field: str = "Tag.N.Key") -> str:
    if not key:
        raise TagRuleError("InvalidTagKey.Malformed", f"The specified {field} must not be empty.")
    if len(key) > limit:
        raise TagRuleError(
            "InvalidTagKey.Malformed",
            f"The specified {field} is longer than {limit} characters.",
        )
    if key.lower().startswith(RESERVED_KEY_PREFIXES):
        raise TagRuleError(
            "InvalidTagKey.Malformed",
            f"The specified {field} {key!r} must not start with aliyun or acs:.",
        )
    if _has_url(key):
        raise TagRuleError(
            "InvalidTagKey.Malformed", f"The specified {field} {key!r} must not contain http(s)://."
        )
    return key


def check_value(value: str, *, field: str = "Tag.N.Value") -> str:
    if len(value) > VALUE_LIMIT:
        raise TagRuleError(
            "InvalidTagValue.Malformed", f"The specified {field} is longer than {VALUE_LIMIT} characters."
        )
    if _has_url(value):
        raise TagRuleError("InvalidTagValue.Malformed", f"The specified {field} must not contain http(s)://.")
    return value


def check_tags(
    pairs: Iterable[Mapping[str, str]],
    *,
    key_limit: int = KEY_LIMIT_ON_CREATE,
    require_value: bool = False,
) -> dict[str, str]:
    """``Tag.N.Key``/``Tag.N.Value`` pairs as a dict in request order. Keys must be unique; a value
    without a key is refused. ``require_value``: the value must be present (it may be empty)."""
    pairs = list(pairs)
    if len(pairs) > MAX_TAGS_PER_REQUEST:
        raise TagRuleError(
            "InvalidTagCount",
            f"At most {MAX_TAGS_PER_REQUEST} tags per request ({len(pairs)} given).",
        )
    tags: dict[str, str] = {}
    for pair in pairs:
        if "Key" not in pair:
            raise TagRuleError("InvalidParameter.TagValue", "A Tag.N.Value was given without its Tag.N.Key.")
        if require_value and "Value" not in pair:
            raise TagRuleError("MissingParameter.TagValue", f"Tag.N.Value is required for {pair['Key']!r}.")
        key = check_key(pair["Key"], limit=key_limit)
        if key in tags:
            raise TagRuleError("InvalidTagKey.Duplicate", f"The tag key {key!r} is given more than once.")
        tags[key] = check_value(pair.get("Value", ""))
    return tags


def check_resource_count(count: int) -> None:
    if count < 1:
        raise TagRuleError("MissingParameter.ResourceId", "ResourceId.N is required (1 to 50 resources).")
    if count > MAX_RESOURCES_PER_REQUEST:
        raise TagRuleError(
            "InvalidResourceIds.ExceedLimit",
            f"At most {MAX_RESOURCES_PER_REQUEST} resources can be given in one request ({count}).",
            status=403,
        )


def merged_count(existing: Mapping[str, str], added: Mapping[str, str]) -> int:
    """How many tags a resource carries once ``added`` is applied (same keys are overwritten)."""
    return len(set(existing) | set(added))


def check_merged_count(existing: Mapping[str, str], added: Mapping[str, str], resource_id: str) -> None:
    count = merged_count(existing, added)
    if count > MAX_TAGS_PER_RESOURCE:
        raise TagRuleError(
            "InvalidTagCount",
            f"{resource_id} would carry {count} tags; at most {MAX_TAGS_PER_RESOURCE} are allowed.",
            status=403,
        )
