"""Reads for agent self-update: which release an instance should run, what the console offers it."""

from dataclasses import dataclass

from assist_agent.update import version_key
from django.utils import timezone

from console.fleet.assistant_settings import upgrade_allowed
from console.fleet.models import Instance
from console.fleet.selectors import assistant_settings_of, instances_visible
from console.iam.authz import can
from console.iam.principal import Principal, arn
from console.releases.models import AccountTarget, AgentRelease, InstanceUpdate
from console.releases.services import MANAGE_ACTION


def releases_newest_first() -> list[AgentRelease]:
    return sorted(AgentRelease.objects.all(), key=lambda r: version_key(r.version), reverse=True)


def target_of(instance: Instance) -> AgentRelease | None:
    """The instance's pin, else its account's target, else None (no update wanted)."""
    row = InstanceUpdate.objects.filter(instance_id=instance.pk).select_related("pinned_release").first()
    if row is not None and row.pinned_release is not None:
        return row.pinned_release
    target = AccountTarget.objects.filter(account_id=instance.account_id).select_related("release").first()
    return target.release if target is not None else None


def offer_for(*, instance_id: str, agent_version: str, at_connect: bool = False) -> AgentRelease | None:
    """What to offer an agent running ``agent_version``: its target, unless it runs it already, the
    target rolled back on this instance before, or the account's AgentUpgradeConfig says not now
    (``DisableUpgrade``, outside the upgrade windows, or ``BootstrapUpgrade`` off when it just connected)."""
    instance = Instance.objects.filter(pk=instance_id, deregistered_at__isnull=True).first()
    if instance is None:
        return None
    upgrade = assistant_settings_of(instance.account_id).agent_upgrade
    if not upgrade_allowed(upgrade, timezone.now()):
        return None
    if at_connect and not upgrade.get("BootstrapUpgrade", True):
        return None
    release = target_of(instance)
    if release is None or release.version == agent_version:
        return None
    row = InstanceUpdate.objects.filter(instance_id=instance_id).first()
    if row is not None and release.version in row.rejected_versions:
        return None
    if at_connect and row is not None and (row.state, row.version) == ("switching", release.version):
        # It was switching to this version and came back on another: the switch failed. Its launcher's
        # rolled_back report follows the hello, so offering now would restart the failed version; the
        # next periodic check offers it again if the report never comes.
        return None
    return release


def release_for_download(*, instance: Instance, version: str) -> AgentRelease | None:
    """An instance downloads only the release it is meant to run now."""
    release = target_of(instance)
    return release if release is not None and release.version == version else None


@dataclass(frozen=True)
class InstanceRow:
    instance: Instance
    update: InstanceUpdate | None
    target: AgentRelease | None


def page(principal: Principal) -> dict:
    instances = list(instances_visible(principal))
    updates = {
        row.instance_id: row
        for row in InstanceUpdate.objects.filter(instance_id__in=[i.pk for i in instances]).select_related(
            "pinned_release"
        )
    }
    account_target = (
        AccountTarget.objects.filter(account_id=principal.account_id).select_related("release").first()
    )
    rows = []
    for instance in instances:
        update = updates.get(instance.pk)
        pinned = update.pinned_release if update is not None else None
        rows.append(
            InstanceRow(instance, update, pinned or (account_target.release if account_target else None))
        )
    return {
        "releases": releases_newest_first(),
        "account_target": account_target,
        "rows": rows,
        "can_manage": can(principal, MANAGE_ACTION, [arn(principal.account_id, "*", "instance", "*")]),
    }


def update_states(instance_ids: list[str]) -> dict[str, InstanceUpdate]:
    """For the instances list: each instance's last reported update (if any)."""
    return {row.instance_id: row for row in InstanceUpdate.objects.filter(instance_id__in=instance_ids)}
