from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from console.errors import NotFound
from console.fleet.models import Activation, Instance
from console.iam.authz import allowed_resources
from console.iam.principal import Principal, arn


def online_cutoff():
    return timezone.now() - timedelta(seconds=settings.ASSIST_OFFLINE_AFTER)


def instances_of_account(principal: Principal) -> QuerySet[Instance]:
    """The account's registered instances (deregistered ones are left out everywhere)."""
    return Instance.objects.filter(account_id=principal.account_id, deregistered_at__isnull=True)


def instance_ids_allowed(principal: Principal, action: str) -> set[str] | None:
    """Ids of the account's instances on which ``action`` is allowed; None means all (the root user)."""
    if principal.is_root:
        return None
    rows = instances_of_account(principal).values_list("id", "region")
    by_arn = {
        arn(principal.account_id, region, "instance", instance_id): instance_id
        for instance_id, region in rows
    }
    return {by_arn[resource] for resource in allowed_resources(principal, action, by_arn)}


def instances_visible(principal: Principal) -> QuerySet[Instance]:
    """The instances a principal may see: its account's, narrowed by policy for RAM users."""
    instances = instances_of_account(principal)
    allowed = instance_ids_allowed(principal, "ecs:DescribeManagedInstances")
    return instances if allowed is None else instances.filter(id__in=allowed)


def instances_by_ids(principal: Principal, *, region: str, instance_ids: list[str]) -> list[Instance]:
    """The named instances in the given region, in request order; one missing or foreign id is NotFound.
    (Whether the principal may act on them is the calling service's authorize() call.)"""
    found = {i.id: i for i in instances_of_account(principal).filter(region=region, id__in=instance_ids)}
    missing = [instance_id for instance_id in instance_ids if instance_id not in found]
    if missing:
        raise NotFound(
            "InvalidInstance.NotFound", f"The specified instance does not exist: {', '.join(missing)}."
        )
    return [found[instance_id] for instance_id in instance_ids]


def activations_visible(principal: Principal) -> QuerySet[Activation]:
    activations = Activation.objects.filter(account_id=principal.account_id)
    if principal.is_root:
        return activations
    by_arn = {
        arn(principal.account_id, a.region, "activation", a.id): a.id
        for a in activations.only("id", "region")
    }
    allowed = allowed_resources(principal, "ecs:DescribeActivations", by_arn)
    return activations.filter(id__in=[by_arn[resource] for resource in allowed])


@dataclass(frozen=True)
class InvocationStats:
    invocation_count: int = 0
    last_invoked_at: datetime | None = None
    running_count: int = 0


def invocation_stats(instance_ids: list[str]) -> dict[str, InvocationStats]:
    """Per instance: how many runs targeted it, when the last one was created, how many are Running.
    One query, whatever the number of instances."""
    from console.invocations.models import InvocationResult  # fleet sits below invocations
    from console.invocations.status import RUNNING

    rows = (
        InvocationResult.objects.filter(instance_id__in=instance_ids)
        .values("instance_id")
        .annotate(
            count=Count("id"),
            last=Max("invocation__created_at"),
            running=Count("id", filter=Q(status=RUNNING)),
        )
    )
    return {row["instance_id"]: InvocationStats(row["count"], row["last"], row["running"]) for row in rows}


def assistant_settings_of(account_id: str):
    """The account's Cloud Assistant settings (defaults when never changed); not saved here."""
    from console.fleet.models import AssistantSettings

    return AssistantSettings.objects.filter(account_id=account_id).first() or AssistantSettings(
        account_id=account_id
    )
