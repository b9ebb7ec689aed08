"""Reads of tags: a resource's tags, resources carrying given tags, and the tags authz must see."""

from collections import defaultdict
from collections.abc import Iterable, Mapping

from django.db.models import Q, QuerySet

from console.tags import rules
from console.tags.models import Tag


def tags_of(account_id: str, resource_type: str, resource_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{resource_id: {key: value}}`` for the given resources (resources without tags are absent)."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    rows = Tag.objects.filter(
        account_id=account_id, resource_type=resource_type, resource_id__in=list(resource_ids)
    ).order_by("key")
    for resource_id, key, value in rows.values_list("resource_id", "key", "value"):
        found[resource_id][key] = value
    return dict(found)


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """The ``Tags.Tag[]`` of an API response."""
    return [{"TagKey": key, "TagValue": value} for key, value in tags.items()]


def filter_by_tags(
    queryset: QuerySet,
    *,
    account_id: str,
    resource_type: str,
    wanted: Mapping[str, str | None],
    id_field: str = "pk",
) -> QuerySet:
    """Narrow ``queryset`` to the rows whose ``id_field`` (the resource id: the pk of a resource, or
    ``resource_id`` of tag rows) names a resource carrying every wanted tag (a None value: the key with
    any value)."""
    for key, value in wanted.items():
        matching = Tag.objects.filter(account_id=account_id, resource_type=resource_type, key=key)
        if value is not None:
            matching = matching.filter(value=value)
        queryset = queryset.filter(**{f"{id_field}__in": matching.values("resource_id")})
    return queryset


def tagged_resource_ids(
    *, account_id: str, resource_type: str, wanted: Mapping[str, str | None]
) -> list[str]:
    """Ids of the resources carrying every wanted tag (a None value: the key with any value), read one tag
    at a time through the (account, type, key, value) index."""
    found: set[str] | None = None
    for key, value in wanted.items():
        rows = Tag.objects.filter(account_id=account_id, resource_type=resource_type, key=key)
        if value is not None:
            rows = rows.filter(value=value)
        ids = set(rows.values_list("resource_id", flat=True))
        found = ids if found is None else found & ids
    return sorted(found or ())


def filter_by_fuzzy_tags(
    queryset: QuerySet,
    *,
    account_id: str,
    resource_type: str,
    filters: list[tuple[str, list[str]]],
    id_field: str = "pk",
) -> QuerySet:
    """ListTagResources' ``TagFilter.N``: a resource passes when, for every ``(key, values)``, it carries
    a tag whose key contains ``key`` and, when values are given, whose value contains one of them (both
    ignoring case: the original calls it a fuzzy match)."""
    for key, values in filters:
        matching = Tag.objects.filter(account_id=account_id, resource_type=resource_type, key__icontains=key)
        if values:
            any_value = Q()
            for value in values:
                any_value |= Q(value__icontains=value)
            matching = matching.filter(any_value)
        queryset = queryset.filter(**{f"{id_field}__in": matching.values("resource_id")})
    return queryset


def tags_for_arns(arns: Iterable[str]) -> dict[str, dict[str, str]]:
    """Tags of the resources named by ARNs (``acs:ecs:<region>:<account>:<kind>/<id>``), for policy
    conditions on ``acs:ResourceTag/<key>``. Wildcard and untaggable ARNs are skipped."""
    wanted: dict[tuple[str, str, str], str] = {}
    for arn in arns:
        parts = arn.split(":", 4)
        if len(parts) != 5 or "/" not in parts[4]:
            continue
        kind, resource_id = parts[4].split("/", 1)
        resource_type = rules.RESOURCE_TYPE_OF_ARN_KIND.get(kind)
        if resource_type is None or not resource_id or "*" in resource_id or "?" in resource_id:
            continue
        wanted[(parts[3], resource_type, resource_id)] = arn
    if not wanted:
        return {}
    accounts = {account for account, _, _ in wanted}
    ids = {resource_id for _, _, resource_id in wanted}
    rows = Tag.objects.filter(account_id__in=accounts, resource_id__in=ids).values_list(
        "account_id", "resource_type", "resource_id", "key", "value"
    )
    found: dict[str, dict[str, str]] = {}
    for account_id, resource_type, resource_id, key, value in rows:
        arn = wanted.get((account_id, resource_type, resource_id))
        if arn is not None:
            found.setdefault(arn, {})[key] = value
    return found
