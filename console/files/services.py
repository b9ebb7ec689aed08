"""Sending files (SendFile): every write and permission check of file transfers.

A transfer is stored once (``storage``), one result per instance is created Pending, and each target agent
is handed a ``file.send`` frame after commit (the node fan-out of console/gateway/nodes.py). The agent
pulls the content with ``file.read``; the gateway answers from the content store (``transfer_read_open``
marks the result Running the first time), and stores the agent's ``file.result`` (``result_store``).
A frame that never arrives is repaired: the gateway sends every Pending ``file.send`` again on connect and
on each ``agent.deliver`` doorbell, which the tick rings for transfers still Pending after a few seconds;
after ``ASSIST_DELIVERY_TIMEOUT`` a Pending result ends Aborted.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from assist_agent import protocol
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.audit import services as audit_services
from console.errors import NotFound, ServiceError
from console.files import status as st
from console.files import storage
from console.files import validation as v
from console.files.models import FileTransfer, FileTransferResult
from console.fleet.models import Instance
from console.fleet.selectors import instances_of_account
from console.iam.authz import allowed_resources
from console.iam.principal import Principal, arn
from console.ids import new_id
from console.invocations import events
from console.tags.services import tags_attach

logger = logging.getLogger(__name__)

REDELIVER_AFTER_SECONDS = 5
# A Running result whose agent never reports (it died and never came back) ends Timeout this long after
# its own timeout would have.
RUNNING_GRACE_SECONDS = 300
SWEEP_EVERY_SECONDS = 3600
_last_sweep = 0.0


@dataclass(frozen=True)
class Content:
    """File content already in the content store."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Upload:
    """An uploaded file written and hashed on the fly to a temporary file (see ``uploads.py``); it joins
    the content store only once the transfer is accepted."""

    path: str
    sha256: str
    size: int


def _targets(principal: Principal, region: str, instance_ids: list[str]) -> list[Instance]:
    """The named instances on which the principal may send files. A missing instance and one it may not
    send to answer alike (InvalidInstance.NotFound), so a refusal tells nothing about other tenants or
    about instances hidden by policy; the refusal is still audited."""
    found = {i.id: i for i in instances_of_account(principal).filter(region=region, id__in=instance_ids)}
    by_arn = {
        arn(principal.account_id, region, "instance", instance_id): instance_id for instance_id in found
    }
    allowed = {by_arn[resource] for resource in allowed_resources(principal, "ecs:SendFile", by_arn)}
    refused = [instance_id for instance_id in instance_ids if instance_id not in allowed]
    for instance_id in refused:
        if instance_id in found:
            resource = arn(principal.account_id, region, "instance", instance_id)
            audit_services.access_denied_record(
                principal, "ecs:SendFile", resource, f"ecs:SendFile is not allowed on {resource}."
            )
    if refused:
        raise NotFound(
            "InvalidInstance.NotFound", f"The specified instance does not exist: {', '.join(refused)}."
        )
    return [found[instance_id] for instance_id in instance_ids]


def file_send(
    *,
    principal: Principal,
    instance_ids: list[str],
    name: str,
    target_dir: str,
    data: bytes | None = None,
    upload: Upload | None = None,
    content_type: str = "PlainText",
    owner: str = "",
    group: str = "",
    mode: str = "",
    overwrite: bool = False,
    description: str = "",
    timeout: object = None,
    region: str = "",
    tags: Mapping[str, str] | None = None,
) -> FileTransfer:
    """SendFile: check everything, store the content once (``data`` from the API, or a console ``upload``
    of up to ASSIST_MAX_UPLOAD_BYTES), create the transfer with one Pending result per instance, and hand
    the agents their frames after commit."""
    region = region or settings.ASSIST_REGION
    spec = v.check_spec(
        name=name,
        target_dir=target_dir,
        owner=owner,
        group=group,
        mode=mode,
        overwrite=overwrite,
        description=description,
        timeout=timeout,
    )
    content_type = v.check_content_type(content_type)
    ids = v.check_instance_count(list(instance_ids))
    instances = _targets(principal, region, ids)
    if upload is not None:
        v.check_upload_size(upload.size, settings.ASSIST_MAX_UPLOAD_BYTES)
        storage.adopt(upload.path, upload.sha256)
        content = Content(sha256=upload.sha256, size=upload.size)
    elif data is not None:
        sha256, size = storage.store_bytes(data)
        content = Content(sha256=sha256, size=size)
    else:
        raise ServiceError("MissingParameter.Content", "The file content is missing.")
    with transaction.atomic():
        transfer = FileTransfer.objects.create(
            id=new_id("f"),
            account_id=principal.account_id,
            region=region,
            name=spec.name,
            target_dir=spec.target_dir,
            owner=spec.owner,
            group=spec.group,
            mode=spec.mode,
            overwrite=spec.overwrite,
            description=spec.description,
            timeout=spec.timeout,
            size=content.size,
            sha256=content.sha256,
            content_type=content_type,
            created_by_id=principal.user_id,
        )
        now = timezone.now()
        results = FileTransferResult.objects.bulk_create(
            FileTransferResult(id=new_id("fr"), transfer=transfer, instance=instance, created_at=now)
            for instance in instances
        )
        tags_attach(
            account_id=principal.account_id,
            region=region,
            resource_type="invocation",
            resource_ids=[transfer.id],
            tags=dict(tags or {}),
        )
        frames: dict[str, list[str]] = {}
        for result in results:
            result.transfer = transfer
            frames.setdefault(result.instance_id, []).append(protocol.encode(send_frame(result)))
        transaction.on_commit(lambda: events.deliver_tasks(frames))
    logger.info(
        "%s: %s/%s (%d bytes) to %d instance(s)",
        transfer.id,
        spec.target_dir,
        spec.name,
        content.size,
        len(ids),
    )
    return transfer


# --- the agent's side ----------------------------------------------------------------------------


def send_frame(result: FileTransferResult) -> protocol.FileSend:
    transfer = result.transfer
    return protocol.FileSend(
        task_id=result.id,
        name=transfer.name,
        target_dir=transfer.target_dir,
        owner=transfer.owner,
        group=transfer.group,
        mode=transfer.mode,
        overwrite=transfer.overwrite,
        size=transfer.size,
        sha256=transfer.sha256,
        timeout=float(transfer.timeout),
    )


def pending_send_frames(instance_id: str) -> list[str]:
    """The encoded ``file.send`` of every transfer still Pending on the instance (sent on each connect and
    doorbell; the agent's journal makes a repeat harmless)."""
    pending = FileTransferResult.objects.filter(instance_id=instance_id, status=st.PENDING).select_related(
        "transfer"
    )
    return [protocol.encode(send_frame(result)) for result in pending.order_by("created_at", "id")[:100]]


def transfer_read_open(*, instance_id: str, task_id: str) -> Content:
    """The content an agent asks for. The first read marks the result Running. Refused (the gateway answers
    ``file.abort``) when the task is not this instance's live transfer or its content is gone."""
    with transaction.atomic():
        result = (
            FileTransferResult.objects.select_for_update()
            .select_related("transfer")
            .filter(pk=task_id, instance_id=instance_id)
            .first()
        )
        if result is None:
            raise NotFound("FileTransfer.NotFound", f"No file transfer {task_id} for this instance.")
        if result.status not in st.LIVE and not _aborted_undelivered(result):
            raise ServiceError(
                "FileTransfer.Ended", f"The file transfer {task_id} has ended ({result.status})."
            )
        if result.status != st.RUNNING:
            # Pending, or aborted as undelivered while the agent was in fact taking it: it runs now.
            result.status = st.RUNNING
            result.started_at = timezone.now()
            result.error_code = result.error_info = ""
            result.finished_at = None
            result.save(
                update_fields=[
                    "status",
                    "started_at",
                    "error_code",
                    "error_info",
                    "finished_at",
                    "updated_at",
                ]
            )
    transfer = result.transfer
    if not storage.exists(transfer.sha256):
        raise ServiceError("FileContent.Missing", "The file is no longer on the server.")
    return Content(sha256=transfer.sha256, size=transfer.size)


def _aborted_undelivered(result: FileTransferResult) -> bool:
    return result.status == st.ABORTED and result.error_code in ("DeliveryTimeout", "ClientNotRunning")


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def result_store(
    *,
    instance_id: str,
    task_id: str,
    status: str,
    error_code: str,
    error_info: str,
    started_at: float | None,
    finished_at: float,
) -> bool:
    """Store an agent's ``file.result``; True when it is this instance's (the gateway then acks it). A
    result already final stays as it is, except Aborted for a delivery timeout: the agent was reached after
    all, and what it did wins."""
    with transaction.atomic():
        result = (
            FileTransferResult.objects.select_for_update().filter(pk=task_id, instance_id=instance_id).first()
        )
        if result is None:
            return False
        if result.status in st.LIVE or _aborted_undelivered(result):
            result.status = status
            result.error_code = error_code[:64]
            result.error_info = error_info[:512]
            result.started_at = result.started_at or _time(started_at) or _time(finished_at)
            result.finished_at = _time(finished_at)
            result.save(
                update_fields=[
                    "status",
                    "error_code",
                    "error_info",
                    "started_at",
                    "finished_at",
                    "updated_at",
                ]
            )
    return True


# --- the tick ------------------------------------------------------------------------------------

ECHO_LIMIT = 24 * 1024  # contents this small are kept: DescribeSendFileResults echoes them


def contents_prune(*, now: datetime | None = None) -> int:
    """Drop the stored content of files whose transfers all ended more than ASSIST_FILE_RETENTION_DAYS ago
    (contents shared by a newer or live transfer stay)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ASSIST_FILE_RETENTION_DAYS)
    recent = FileTransfer.objects.filter(created_at__gte=cutoff).values_list("sha256", flat=True)
    live = FileTransferResult.objects.filter(status__in=st.LIVE).values_list("transfer__sha256", flat=True)
    keep = set(recent) | set(live)
    removed = storage.prune_content(keep, older_than=cutoff.timestamp(), larger_than=ECHO_LIMIT)
    if removed:
        logger.info("file transfers: removed %d stored content(s) past retention", removed)
    return removed


def _end(results, status: str, code: str, info: str, now: datetime) -> int:
    return results.update(status=status, error_code=code, error_info=info, finished_at=now, updated_at=now)


def results_tick(*, now: datetime | None = None) -> int:
    """Repair what no frame will: ring agents of transfers still Pending after a few seconds, end Pending
    results after the delivery timeout (Aborted: ClientNotRunning when the agent is offline, else
    DeliveryTimeout), end results on deregistered instances (InstanceReleased), and end Running results
    whose agent never reported long after their timeout. Returns the number of results ended."""
    now = now or timezone.now()
    live = FileTransferResult.objects.filter(status__in=st.LIVE)
    ended = 0
    released = list(
        Instance.objects.filter(deregistered_at__isnull=False, pk__in=live.values("instance_id")).values_list(
            "pk", flat=True
        )
    )
    if released:
        info = "The specified instance was released during task execution."
        ended += _end(
            live.filter(instance_id__in=released, status=st.PENDING),
            st.ABORTED,
            "InstanceReleased",
            info,
            now,
        )
        ended += _end(live.filter(instance_id__in=released), st.ERROR, "InstanceReleased", info, now)

    cutoff = now - timedelta(seconds=settings.ASSIST_DELIVERY_TIMEOUT)
    stale = FileTransferResult.objects.filter(status=st.PENDING, created_at__lt=cutoff)
    online_after = now - timedelta(seconds=settings.ASSIST_OFFLINE_AFTER)
    offline = stale.exclude(instance__last_heartbeat_at__gte=online_after)
    ended += _end(
        offline,
        st.ABORTED,
        "ClientNotRunning",
        "the aliyun service is not running on the instance (its agent is offline)",
        now,
    )
    ended += _end(
        FileTransferResult.objects.filter(status=st.PENDING, created_at__lt=cutoff),
        st.ABORTED,
        "DeliveryTimeout",
        f"the file delivery has been timeout: no agent took it in {settings.ASSIST_DELIVERY_TIMEOUT} s",
        now,
    )

    for result_id, started_at, timeout in FileTransferResult.objects.filter(status=st.RUNNING).values_list(
        "id", "started_at", "transfer__timeout"
    )[:1000]:
        if started_at and started_at + timedelta(seconds=timeout + RUNNING_GRACE_SECONDS) < now:
            ended += _end(
                FileTransferResult.objects.filter(pk=result_id, status=st.RUNNING),
                st.TIMEOUT,
                "ClientNotResponse",
                "the agent did not report the end of the transfer",
                now,
            )

    redeliver_cutoff = now - timedelta(seconds=REDELIVER_AFTER_SECONDS)
    waiting = list(
        FileTransferResult.objects.filter(status=st.PENDING, created_at__lt=redeliver_cutoff)
        .values_list("instance_id", flat=True)
        .distinct()[:1000]
    )
    events.ring_agents(waiting)
    global _last_sweep
    if now.timestamp() - _last_sweep > SWEEP_EVERY_SECONDS:
        _last_sweep = now.timestamp()
        storage.sweep_incoming()
        contents_prune(now=now)
    if ended:
        logger.info("file transfers: ended %d result(s)", ended)
    return ended
