import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.commands import limits
from console.commands.models import Command
from console.errors import Forbidden, ServiceError
from console.fleet.selectors import instances_by_ids
from console.iam.authz import authorize
from console.iam.principal import Principal, arn
from console.ids import new_id
from console.invocations import events
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult

logger = logging.getLogger(__name__)


def invocation_run_command(
    *,
    principal: Principal,
    instance_ids: Sequence[str],
    command_content: str,
    region: str = "",
    command_type: str = "RunShellScript",
    content_encoding: str = "PlainText",
    timeout: object = 60,
    working_dir: str = "",
    username: str = "",
    name: str = "",
    description: str = "",
    keep_command: bool = False,
) -> Invocation:
    """Create an invocation with one Pending result per instance; delivery starts after commit."""
    region = region or settings.ASSIST_REGION
    instance_ids = list(dict.fromkeys(instance_ids))
    if not instance_ids:
        raise ServiceError("MissingParameter.InstanceId", "Choose at least one instance.")
    if len(instance_ids) > settings.ASSIST_MAX_INSTANCES_PER_RUN:
        raise Forbidden(
            "InstanceIds.ExceedLimit",
            f"{len(instance_ids)} instances were given; at most {settings.ASSIST_MAX_INSTANCES_PER_RUN} "
            "may be targeted in one request.",
        )
    check_type = limits.check_command_type(command_type)
    content = limits.check_content(limits.decode_content(command_content, content_encoding))
    timeout_seconds = limits.check_timeout(timeout)
    if len(name) > 128:
        raise Forbidden("CmdName.ExceedLimit", "The command name must be at most 128 characters.")
    if len(description) > 512:
        raise Forbidden("CmdDesc.ExceedLimit", "The command description must be at most 512 characters.")
    if len(working_dir) > 200:
        raise ServiceError("InvalidParameter.WorkingDir", "WorkingDir must be at most 200 characters.")
    if len(username) > 255:
        raise Forbidden("Username.ExceedLimit", "Username must be at most 255 characters.")
    instances = instances_by_ids(principal, region=region, instance_ids=instance_ids)
    authorize(
        principal,
        "ecs:RunCommand",
        [arn(principal.account_id, region, "instance", i.id) for i in instances]
        + [arn(principal.account_id, region, "command", "*")],
        {"ecs:CommandRunAs": username or "root"},
    )
    command_id = new_id("c")
    with transaction.atomic():
        if keep_command:
            Command.objects.create(
                id=command_id,
                account_id=principal.account_id,
                region=region,
                name=name or command_id,
                description=description,
                type=check_type,
                content=content,
                working_dir=working_dir,
                timeout=timeout_seconds,
            )
        invocation = Invocation.objects.create(
            id=new_id("t"),
            account_id=principal.account_id,
            region=region,
            command_id=command_id,
            command_name=name,
            command_description=description,
            command_type=check_type,
            command_content=content,
            working_dir=working_dir,
            username=username,
            timeout=timeout_seconds,
            created_by_id=principal.user_id,
        )
        now = timezone.now()
        InvocationResult.objects.bulk_create(
            InvocationResult(id=new_id("r"), invocation=invocation, instance=instance, created_at=now)
            for instance in instances
        )
        from console.invocations.tasks import dispatch_invocation

        transaction.on_commit(lambda: dispatch_invocation.delay(invocation.id))
    return invocation


def results_abort_undelivered(*, now: datetime | None = None) -> int:
    """End every result still Pending after the delivery timeout as Aborted/DeliveryTimeout."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ASSIST_DELIVERY_TIMEOUT)
    aborted = 0
    stale_ids = list(
        InvocationResult.objects.filter(status=st.PENDING, created_at__lt=cutoff).values_list(
            "id", flat=True
        )[:1000]
    )
    for result_id in stale_ids:
        with transaction.atomic():
            result = (
                InvocationResult.objects.select_for_update().filter(pk=result_id, status=st.PENDING).first()
            )
            if result is None:
                continue
            result.status = st.ABORTED
            result.error_code = "DeliveryTimeout"
            result.error_info = (
                "the command delivery has been timeout: the agent did not take the task within "
                f"{settings.ASSIST_DELIVERY_TIMEOUT} s (is the instance's agent online?)"
            )
            result.finished_at = now
            result.save(update_fields=["status", "error_code", "error_info", "finished_at", "updated_at"])
            events.ring_browsers_on_commit(result.invocation_id, result.id)
            aborted += 1
    if aborted:
        logger.info("aborted %d undelivered result(s)", aborted)
    return aborted
