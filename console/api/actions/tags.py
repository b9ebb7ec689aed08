"""TagResources, UntagResources and ListTagResources (reference §3.7), and the ``Tag.N`` parsing the
create, run and Describe operations share."""

import base64
import binascii
import re
from typing import Any

from console.api.actions.registry import action
from console.api.params import Params, invalid, missing
from console.errors import ServiceError
from console.iam.authz import allowed_resources
from console.iam.principal import Principal, arn
from console.tags import rules, services
from console.tags.models import Tag
from console.tags.selectors import filter_by_fuzzy_tags, filter_by_tags

LIST_PAGE_SIZE = 50


def _checked(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except rules.TagRuleError as error:
        raise services.service_error(error) from error


def tags_to_attach(params: Params, *, key_limit: int = rules.KEY_LIMIT_ON_CREATE) -> dict[str, str]:
    """The ``Tag.N.Key``/``Tag.N.Value`` a create or run operation puts on what it creates."""
    return _checked(rules.check_tags, params.given_structs("Tag", ("Key", "Value")), key_limit=key_limit)


def tag_filter(params: Params) -> dict[str, str | None]:
    """The ``Tag.N`` filter of a Describe operation: every key must be present, with the value when one
    is given (an absent value matches any value)."""
    pairs = params.given_structs("Tag", ("Key", "Value"))
    _checked(rules.check_tags, pairs, key_limit=rules.KEY_LIMIT_ON_CREATE)
    return {pair["Key"]: pair.get("Value") for pair in pairs}


@action("TagResources")
def tag_resources(principal: Principal, params: Params) -> dict[str, Any]:
    tags = _checked(
        rules.check_tags,
        params.given_structs("Tag", ("Key", "Value")),
        key_limit=rules.KEY_LIMIT_TAG_RESOURCES,
    )
    services.tags_add(
        principal=principal,
        region=params.text("RegionId", required=True),
        resource_type=params.text("ResourceType", required=True),
        resource_ids=params.values("ResourceId"),
        tags=tags,
    )
    return {}


@action("UntagResources")
def untag_resources(principal: Principal, params: Params) -> dict[str, Any]:
    services.tags_remove(
        principal=principal,
        region=params.text("RegionId", required=True),
        resource_type=params.text("ResourceType", required=True),
        resource_ids=params.values("ResourceId"),
        keys=params.values("TagKey"),
        remove_all=params.boolean("All"),
    )
    return {}


def _decode_cursor(token: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise ServiceError("InvalidParameter.NextToken", "The specified NextToken is not valid.") from error


def _encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(str(pk).encode("ascii")).decode("ascii").rstrip("=")


_TAG_VALUES = re.compile(r"^TagValues\.([0-9]+)$")
MAX_TAG_FILTERS = 20  # as Tag.N


def _fuzzy_tag_filters(params: Params) -> list[tuple[str, list[str]]]:
    """``TagFilter.N.TagKey`` with its ``TagFilter.N.TagValues.M`` as (key, [values]) in index order."""
    filters = []
    for index, fields in sorted(params.indexed("TagFilter").items()):
        unknown = sorted(f for f in fields if f != "TagKey" and not _TAG_VALUES.match(f))
        if unknown:
            raise invalid(f"TagFilter.{index}.{unknown[0] or '(none)'}", "expected TagKey or TagValues.N.")
        key = fields.get("TagKey", "")
        if not key:
            raise missing(f"TagFilter.{index}.TagKey")
        values = [
            value
            for field, value in sorted(fields.items(), key=lambda item: _tag_values_position(item[0]))
            if field != "TagKey" and value
        ]
        for name, text in [("TagKey", key), *(("TagValues", v) for v in values)]:
            if len(text) > rules.KEY_LIMIT_TAG_RESOURCES:
                raise invalid(
                    f"TagFilter.{index}.{name}", f"at most {rules.KEY_LIMIT_TAG_RESOURCES} characters."
                )
        filters.append((key, values))
    if len(filters) > MAX_TAG_FILTERS:
        raise invalid("TagFilter", f"at most {MAX_TAG_FILTERS} TagFilter.N are allowed.")
    return filters


def _tag_values_position(field: str) -> int:
    match = _TAG_VALUES.match(field)
    return int(match.group(1)) if match else 0


@action("ListTagResources")
def list_tag_resources(principal: Principal, params: Params) -> dict[str, Any]:
    """The tags of the named resources, or of every resource of the type that carries the ``Tag.N``
    filter; only resources the caller may list tags of (``ecs:ListTagResources``). NextToken paging, 50 a
    page. ``TagFilter.N`` (an invitation-only preview of the original) selects by fuzzy match instead."""
    region = params.text("RegionId", required=True)
    resource_type = services.resource_type_checked(params.text("ResourceType", required=True))
    wanted = tag_filter(params)
    fuzzy = _fuzzy_tag_filters(params)
    if fuzzy and wanted:
        raise invalid("TagFilter", "TagFilter.N cannot be combined with Tag.N; use one or the other.")
    resource_ids = params.values("ResourceId")
    rows = Tag.objects.filter(account_id=principal.account_id, region=region, resource_type=resource_type)
    if resource_ids:
        resource_ids = services.resources_checked(
            principal, region=region, resource_type=resource_type, resource_ids=resource_ids
        )
        rows = rows.filter(resource_id__in=resource_ids)
    elif not wanted and not fuzzy:
        raise ServiceError(
            "MissingParameter", "Give ResourceId.N, Tag.N or TagFilter.N to choose the resources."
        )
    rows = filter_by_tags(
        rows,
        account_id=principal.account_id,
        resource_type=resource_type,
        wanted=wanted,
        id_field="resource_id",
    )
    rows = filter_by_fuzzy_tags(
        rows,
        account_id=principal.account_id,
        resource_type=resource_type,
        filters=fuzzy,
        id_field="resource_id",
    )
    next_token = params.text("NextToken")
    if next_token:
        rows = rows.filter(pk__gt=_decode_cursor(next_token))
    page = list(rows.order_by("pk")[: LIST_PAGE_SIZE + 1])
    more = len(page) > LIST_PAGE_SIZE
    page = page[:LIST_PAGE_SIZE]
    kind = rules.ARN_KIND[resource_type]
    by_arn = {arn(principal.account_id, region, kind, row.resource_id): row.resource_id for row in page}
    visible = {by_arn[a] for a in allowed_resources(principal, "ecs:ListTagResources", by_arn)}
    return {
        "NextToken": _encode_cursor(page[-1].pk) if more else "",
        "TagResources": {
            "TagResource": [
                {
                    "ResourceId": row.resource_id,
                    "ResourceType": row.resource_type,
                    "TagKey": row.key,
                    "TagValue": row.value,
                }
                for row in page
                if row.resource_id in visible
            ]
        },
    }
