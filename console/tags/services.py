"""Writes of tags: TagResources / UntagResources, and the tags a create or run operation attaches to what
it creates. Every write checks the caller's permission on every named resource first."""

from collections.abc import Iterable, Mapping

from django.db import transaction

from console.commands.models import Command
from console.errors import NotFound, ServiceError
from console.fleet.models import Activation, Instance
from console.iam.authz import authorize
from console.iam.principal import Principal, arn
from console.invocations.models import Invocation
from console.tags import rules
from console.tags.models import Tag
from console.tags.selectors import tags_of


def service_error(error: rules.TagRuleError) -> ServiceError:
    return ServiceError(error.code, error.message, status=error.status)


def _resources(resource_type: str) -> list:
    """The querysets holding live resources of a type (each with ``account``, ``region`` and the id as
    pk). ``invocation`` is command runs and file sends alike, as in the original."""
    if resource_type == "command":
        return [Command.objects.all()]
    if resource_type == "invocation":
        from console.files.models import FileTransfer

        return [Invocation.objects.all(), FileTransfer.objects.all()]
    if resource_type == "activation":
        return [Activation.objects.all()]
    return [Instance.objects.filter(deregistered_at__isnull=True)]


def resource_type_checked(resource_type: str) -> str:
    try:
        return rules.check_resource_type(resource_type)
    except rules.TagRuleError as error:
        raise service_error(error) from error


def resources_checked(
    principal: Principal, *, region: str, resource_type: str, resource_ids: list[str]
) -> list[str]:
    """The named resources of the caller's account in ``region``; one missing or foreign id is NotFound,
    the same answer for both (accounts are walls)."""
    resource_type = resource_type_checked(resource_type)
    try:
        rules.check_resource_count(len(resource_ids))
    except rules.TagRuleError as error:
        raise service_error(error) from error
    found = {
        pk
        for rows in _resources(resource_type)
        for pk in rows.filter(
            account_id=principal.account_id, region=region, pk__in=resource_ids
        ).values_list("pk", flat=True)
    }
    missing = [resource_id for resource_id in resource_ids if resource_id not in found]
    if missing:
        raise NotFound(
            "InvalidResourceId.NotFound", f"The specified resource does not exist: {', '.join(missing)}."
        )
    return list(dict.fromkeys(resource_ids))


def _arns(principal: Principal, region: str, resource_type: str, resource_ids: Iterable[str]) -> list[str]:
    kind = rules.ARN_KIND[resource_type]
    return [arn(principal.account_id, region, kind, resource_id) for resource_id in resource_ids]


def tags_add(
    *,
    principal: Principal,
    region: str,
    resource_type: str,
    resource_ids: list[str],
    tags: Mapping[str, str],
) -> None:
    """TagResources: add or overwrite ``tags`` on every named resource (all or nothing)."""
    if not tags:
        raise ServiceError("MissingParameter.Tags", "Tag.N is required: give 1 to 20 tags.")
    resource_type = resource_type_checked(resource_type)
    resource_ids = resources_checked(
        principal, region=region, resource_type=resource_type, resource_ids=resource_ids
    )
    authorize(principal, "ecs:TagResources", _arns(principal, region, resource_type, resource_ids))
    with transaction.atomic():
        existing = tags_of(principal.account_id, resource_type, resource_ids)
        for resource_id in resource_ids:
            try:
                rules.check_merged_count(existing.get(resource_id, {}), tags, resource_id)
            except rules.TagRuleError as error:
                raise service_error(error) from error
        tags_attach(
            account_id=principal.account_id,
            region=region,
            resource_type=resource_type,
            resource_ids=resource_ids,
            tags=tags,
        )


def tags_remove(
    *,
    principal: Principal,
    region: str,
    resource_type: str,
    resource_ids: list[str],
    keys: list[str],
    remove_all: bool = False,
) -> int:
    """UntagResources: remove the named keys (or, with ``remove_all`` and no keys, every tag) from every
    named resource. Returns how many tags were removed."""
    resource_type = resource_type_checked(resource_type)
    if len(keys) > rules.MAX_TAGS_PER_REQUEST:
        raise ServiceError("InvalidTagCount", f"At most {rules.MAX_TAGS_PER_REQUEST} TagKey.N can be given.")
    if not keys and not remove_all:
        raise ServiceError("MissingParameter.TagKey", "Give TagKey.N, or All=true to remove every tag.")
    resource_ids = resources_checked(
        principal, region=region, resource_type=resource_type, resource_ids=resource_ids
    )
    authorize(principal, "ecs:UntagResources", _arns(principal, region, resource_type, resource_ids))
    rows = Tag.objects.filter(
        account_id=principal.account_id, resource_type=resource_type, resource_id__in=resource_ids
    )
    if keys:
        rows = rows.filter(key__in=keys)
    deleted, _ = rows.delete()
    return deleted


def tags_attach(
    *,
    account_id: str,
    region: str,
    resource_type: str,
    resource_ids: Iterable[str],
    tags: Mapping[str, str],
) -> None:
    """Store ``tags`` on resources the calling service has just created or authorized (no check here)."""
    if not tags:
        return
    for resource_id in resource_ids:
        for key, value in tags.items():
            Tag.objects.update_or_create(
                account_id=account_id,
                resource_type=resource_type,
                resource_id=resource_id,
                key=key,
                defaults={"value": value, "region": region},
            )


def tags_forget(resource_type: str, resource_ids: Iterable[str]) -> None:
    """A resource is gone: so are its tags."""
    Tag.objects.filter(resource_type=resource_type, resource_id__in=list(resource_ids)).delete()
