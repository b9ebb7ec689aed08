from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from console.errors import NotFound
from console.fleet.models import Activation, Instance
from console.iam.principal import Principal


def online_cutoff():
    return timezone.now() - timedelta(seconds=settings.ASSIST_OFFLINE_AFTER)


def instances_visible(principal: Principal) -> QuerySet[Instance]:
    return Instance.objects.filter(account_id=principal.account_id)


def instances_by_ids(principal: Principal, *, region: str, instance_ids: list[str]) -> list[Instance]:
    """The named instances in the given region, in request order; one missing or foreign id is NotFound."""
    found = {i.id: i for i in instances_visible(principal).filter(region=region, id__in=instance_ids)}
    missing = [instance_id for instance_id in instance_ids if instance_id not in found]
    if missing:
        raise NotFound(
            "InvalidInstance.NotFound", f"The specified instance does not exist: {', '.join(missing)}."
        )
    return [found[instance_id] for instance_id in instance_ids]


def activations_visible(principal: Principal) -> QuerySet[Activation]:
    return Activation.objects.filter(account_id=principal.account_id)
