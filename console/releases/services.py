"""Writes for agent self-update: publishing releases, choosing targets and pins, agents' update reports.

Changing who runs what needs ``assist:ManageAgentUpdates``: on ``acs:ecs:*:<account>:instance/*`` for the
account's target, on the instance's ARN for a pin (docs/permissions.md). Publishing a release is an
operator's act (the ``publish_agent_release`` command), not a tenant's.
"""

import base64
import hashlib
import logging
import os
from pathlib import Path

from assist_agent import protocol
from assist_agent.update import is_valid_version, release_statement
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.errors import NotFound, ServiceError
from console.fleet.models import Instance
from console.fleet.selectors import instances_of_account
from console.iam.authz import authorize
from console.iam.principal import Principal, arn
from console.invocations import events
from console.releases import signing
from console.releases.models import AccountTarget, AgentRelease, InstanceUpdate

logger = logging.getLogger(__name__)

MANAGE_ACTION = "assist:ManageAgentUpdates"
MAX_RELEASE_BYTES = 64 << 20
_REPORTED_STATES = protocol.UPDATE_STATES


def releases_dir() -> Path:
    return Path(settings.DATA_DIR) / "agent-releases"


def release_path(release: AgentRelease) -> Path:
    return releases_dir() / release.file_name


def check_version(version: str) -> None:
    if not is_valid_version(version):
        raise ServiceError(
            "InvalidParameter.Version",
            "A version is 1 to 32 letters, digits and . + _ -, starting with a letter or digit.",
        )


def _store(data: bytes, version: str, sha256: str) -> str:
    directory = releases_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = f"assist-agent-{version}-{sha256[:16]}.pyz"
    partial = directory / f".{name}.{os.getpid()}.tmp"
    partial.write_bytes(data)
    os.replace(partial, directory / name)
    return name


def release_publish(*, data: bytes, version: str, notes: str = "", builtin: bool = False) -> AgentRelease:
    """Store, hash and sign a zipapp as ``version``. A published version is never replaced (publish a new
    one); the built-in one is refreshed in place when the console's agent sources change."""
    check_version(version)
    if not data:
        raise ServiceError("InvalidParameter.Release", "The release file is empty.")
    if len(data) > MAX_RELEASE_BYTES:
        raise ServiceError("InvalidParameter.Release", f"A release may be at most {MAX_RELEASE_BYTES} bytes.")
    if not data.startswith((b"PK", b"#!")):
        raise ServiceError("InvalidParameter.Release", "The release must be a zipapp (a .pyz file).")
    sha256 = hashlib.sha256(data).hexdigest()
    signature = base64.b64encode(signing.sign(release_statement(version, sha256, len(data)))).decode("ascii")
    with transaction.atomic():
        existing = AgentRelease.objects.select_for_update().filter(version=version).first()
        if existing is not None and not (builtin and existing.builtin):
            if existing.sha256 == sha256:
                return existing
            raise ServiceError(
                "InvalidParameter.Version", f"Version {version} is already published; publish a new version."
            )
        name = _store(data, version, sha256)
        release = existing or AgentRelease(version=version, builtin=builtin)
        replaced = release.file_name if existing is not None and release.file_name != name else ""
        release.file_name, release.sha256, release.size = name, sha256, len(data)
        release.signature, release.published_at = signature, timezone.now()
        if notes or not release.notes:
            release.notes = notes
        release.save()
    if replaced:  # the built-in build of earlier sources
        (releases_dir() / replaced).unlink(missing_ok=True)
    return release


def builtin_release_ensure() -> AgentRelease:
    """The zipapp the console serves at ``/agent/assist-agent.pyz``, registered as a release."""
    from console.gateway import distribution

    build = distribution.current_build()
    existing = AgentRelease.objects.filter(version=build.version).first()
    if existing is not None and (existing.sha256 == build.sha256 or not existing.builtin):
        return existing
    return release_publish(
        data=build.path.read_bytes(),
        version=build.version,
        notes="Built from the agent sources this console runs with.",
        builtin=True,
    )


def _release(version: str) -> AgentRelease:
    release = AgentRelease.objects.filter(version=version).first()
    if release is None:
        raise NotFound("InvalidVersion.NotFound", f"No agent release {version!r} is published.")
    return release


def _ring(instance_ids: list[str]) -> None:
    """Tell connected agents to look at their target again (consumer: ``agent_update``)."""

    def ring() -> None:
        for instance_id in instance_ids:
            events._send(events.agent_group(instance_id), {"type": "agent.update"})

    transaction.on_commit(ring)


def ring_account(account_id: str) -> None:
    """The account's upgrade rules changed: every connected agent of it asks again."""
    _ring(
        list(
            Instance.objects.filter(account_id=account_id, deregistered_at__isnull=True).values_list(
                "id", flat=True
            )
        )
    )


@transaction.atomic
def account_target_set(*, principal: Principal, version: str) -> AccountTarget | None:
    """Every instance of the principal's account should run ``version`` ("" clears the target)."""
    authorize(principal, MANAGE_ACTION, [arn(principal.account_id, "*", "instance", "*")])
    if not version:
        AccountTarget.objects.filter(account_id=principal.account_id).delete()
        return None
    release = _release(version)
    target, _ = AccountTarget.objects.update_or_create(
        account_id=principal.account_id,
        defaults={"release": release, "updated_at": timezone.now(), "updated_by": principal.user_name},
    )
    _ring(list(instances_of_account(principal).values_list("id", flat=True)))
    return target


@transaction.atomic
def instance_pin_set(*, principal: Principal, instance_id: str, version: str) -> InstanceUpdate:
    """Pin one instance to ``version`` ("" removes the pin: it follows the account's target again)."""
    instance = instances_of_account(principal).filter(pk=instance_id).first()
    resource = arn(principal.account_id, instance.region if instance else "*", "instance", instance_id)
    authorize(principal, MANAGE_ACTION, [resource])
    if instance is None:
        raise NotFound("InvalidInstance.NotFound", f"The specified instance does not exist: {instance_id}.")
    release = _release(version) if version else None
    row, _ = InstanceUpdate.objects.select_for_update().get_or_create(instance=instance)
    row.pinned_release = release
    if release is not None and release.version in row.rejected_versions:
        # An administrator pinning a version that once rolled back here wants it tried again.
        row.rejected_versions = [v for v in row.rejected_versions if v != release.version]
    row.save()
    _ring([instance.id])
    return row


def instance_update_report(*, instance_id: str, state: str, version: str, detail: str) -> InstanceUpdate:
    """An agent's ``update.status`` (its connection is authenticated). ``rolled_back`` blocks the version
    for that instance: it is not offered there again unless an administrator pins it."""
    if state not in _REPORTED_STATES:
        raise ServiceError("InvalidParameter.State", f"Unknown update state {state!r}.")
    with transaction.atomic():
        instance = Instance.objects.filter(pk=instance_id, deregistered_at__isnull=True).first()
        if instance is None:
            raise NotFound("InvalidInstance.NotFound", f"The instance does not exist: {instance_id}.")
        row, _ = InstanceUpdate.objects.select_for_update().get_or_create(instance=instance)
        row.state, row.version, row.detail = state, version[:32], detail[:500]
        row.reported_at = timezone.now()
        if state == "rolled_back" and version not in row.rejected_versions:
            row.rejected_versions = [*row.rejected_versions, version][-20:]
            if row.pinned_release_id is not None and row.pinned_release.version == version:
                row.pinned_release = None
        row.save()
    if state in ("rolled_back", "failed"):
        logger.warning("instance %s: update to %s %s: %s", instance_id, version, state, detail)
    return row
