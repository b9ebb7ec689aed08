import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.commands import limits
from console.commands import parameters as cmd_params
from console.commands.selectors import command_of_account
from console.commands.services import CommandFields, command_save
from console.errors import Forbidden, NotFound, ServiceError
from console.fleet.selectors import instances_by_ids
from console.iam.authz import authorize
from console.iam.principal import Principal, arn
from console.ids import new_id
from console.invocations import events
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult
from console.invocations.selectors import invocation_of_account

logger = logging.getLogger(__name__)

MAX_INSTANCES_PER_STOP = 50


def _target_ids(instance_ids: Sequence[str]) -> list[str]:
    instance_ids = list(dict.fromkeys(instance_ids))
    if not instance_ids:
        raise ServiceError("MissingParameter.InstanceId", "Choose at least one instance.")
    if len(instance_ids) > settings.ASSIST_MAX_INSTANCES_PER_RUN:
        raise Forbidden(
            "InstanceIds.ExceedLimit",
            f"{len(instance_ids)} instances were given; at most {settings.ASSIST_MAX_INSTANCES_PER_RUN} "
            "may be targeted in one request.",
        )
    return instance_ids


@dataclass(frozen=True)
class _Run:
    """Everything an invocation is made of, checked, before anything is written."""

    region: str
    command_id: str
    name: str
    description: str
    command_type: str
    template: cmd_params.Template
    values: dict[str, str]
    passed: dict[str, object]
    working_dir: str
    username: str
    timeout: int


def _rendered_contents(principal: Principal, run: _Run, invoke_id: str, instances: list) -> dict[str, str]:
    """The script of each instance with its parameters and built-ins filled in; checked against the
    content limit. Empty when parameters are off: every instance runs the invocation's content."""
    if not run.template.enabled:
        return {}
    limit = settings.ASSIST_MAX_CONTENT_B64
    contents = {}
    for instance in instances:
        builtins = {
            "ACS::RegionId": run.region,
            "ACS::AccountId": principal.account_id,
            "ACS::InstanceId": instance.id,
            "ACS::InstanceName": instance.name,
            "ACS::InvokeId": invoke_id,
            "ACS::CommandId": run.command_id,
        }
        text = cmd_params.render(run.template, run.values, builtins)
        contents[instance.id] = cmd_params.check_rendered_size(text, limit, f"instance {instance.id}")
    return contents


def _invocation_create(
    *, principal: Principal, run: _Run, instances: list, keep: CommandFields | None = None
) -> Invocation:
    """Write the invocation (and the kept command) with one Pending result per instance; delivery starts
    after commit."""
    invoke_id = new_id("t")
    contents = _rendered_contents(principal, run, invoke_id, instances)
    with transaction.atomic():
        if keep is not None:
            command_save(principal=principal, region=run.region, fields=keep, command_id=run.command_id)
        invocation = Invocation.objects.create(
            id=invoke_id,
            account_id=principal.account_id,
            region=run.region,
            command_id=run.command_id,
            command_name=run.name,
            command_description=run.description,
            command_type=run.command_type,
            command_content=run.template.content,
            working_dir=run.working_dir,
            username=run.username,
            timeout=run.timeout,
            parameters=run.passed,
            enable_parameter=run.template.enabled,
            created_by_id=principal.user_id,
        )
        now = timezone.now()
        InvocationResult.objects.bulk_create(
            InvocationResult(
                id=new_id("r"),
                invocation=invocation,
                instance=instance,
                content=contents.get(instance.id, ""),
                created_at=now,
            )
            for instance in instances
        )
        from console.invocations.tasks import dispatch_invocation

        transaction.on_commit(lambda: dispatch_invocation.delay(invocation.id))
    return invocation


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
    enable_parameter: bool = False,
    parameters: Mapping[str, object] | None = None,
) -> Invocation:
    """RunCommand: create an invocation of ad-hoc content with one Pending result per instance, and keep
    the content as a command when asked (counted against the retained-command quota)."""
    region = region or settings.ASSIST_REGION
    instance_ids = _target_ids(instance_ids)
    check_type = limits.check_command_type(command_type)
    content = limits.check_content(limits.decode_content(command_content, content_encoding))
    timeout_seconds = limits.check_timeout(timeout)
    limits.check_name(name)
    limits.check_description(description)
    limits.check_working_dir(working_dir)
    limits.check_username(username)
    template = cmd_params.parse(content, enabled=enable_parameter)
    values = cmd_params.check_values(template, parameters)
    instances = instances_by_ids(principal, region=region, instance_ids=instance_ids)
    authorize(
        principal,
        "ecs:RunCommand",
        [arn(principal.account_id, region, "instance", i.id) for i in instances]
        + [arn(principal.account_id, region, "command", "*")],
        {"ecs:CommandRunAs": username or "root"},
    )
    command_id = new_id("c")
    run = _Run(
        region=region,
        command_id=command_id,
        name=name,
        description=description,
        command_type=check_type,
        template=template,
        values=values,
        passed=dict(parameters or {}),
        working_dir=working_dir,
        username=username,
        timeout=timeout_seconds,
    )
    keep = None
    if keep_command:
        keep = CommandFields(
            name=name or command_id,
            description=description,
            type=check_type,
            content=content,
            working_dir=working_dir,
            timeout=timeout_seconds,
            enable_parameter=enable_parameter,
        )
    return _invocation_create(principal=principal, run=run, instances=instances, keep=keep)


def invocation_invoke_command(
    *,
    principal: Principal,
    command_id: str,
    instance_ids: Sequence[str],
    region: str = "",
    timeout: object = None,
    working_dir: str | None = None,
    username: str = "",
    parameters: Mapping[str, object] | None = None,
) -> Invocation:
    """InvokeCommand: run a saved command. ``timeout`` (at least 10 s) and ``working_dir`` override the
    command's for this run only; ``parameters`` fill its placeholders when the command enables them."""
    region = region or settings.ASSIST_REGION
    instance_ids = _target_ids(instance_ids)
    timeout_seconds = None if timeout is None else limits.check_invoke_timeout(timeout)
    if working_dir is not None:
        limits.check_working_dir(working_dir)
    limits.check_username(username)
    command = command_of_account(principal, command_id, region)
    template = cmd_params.parse(command.content, enabled=command.enable_parameter)
    values = cmd_params.check_values(template, parameters)
    instances = instances_by_ids(principal, region=region, instance_ids=instance_ids)
    authorize(
        principal,
        "ecs:InvokeCommand",
        [arn(principal.account_id, region, "command", command.id)]
        + [arn(principal.account_id, region, "instance", i.id) for i in instances],
        {"ecs:CommandRunAs": username or "root"},
    )
    run = _Run(
        region=region,
        command_id=command.id,
        name=command.name,
        description=command.description,
        command_type=command.type,
        template=template,
        values=values,
        passed=dict(parameters or {}),
        working_dir=command.working_dir if working_dir is None else working_dir,
        username=username,
        timeout=command.timeout if timeout_seconds is None else timeout_seconds,
    )
    return _invocation_create(principal=principal, run=run, instances=instances)


@dataclass(frozen=True)
class StopOutcome:
    cancelled: list[str]  # result ids that had not started
    stopping: list[str]  # result ids the agent was asked to stop


STOPPABLE_BEFORE_START = frozenset({st.PENDING, st.SCHEDULED})


def invocation_stop(
    *,
    principal: Principal,
    invocation_id: str,
    instance_ids: Sequence[str] | None = None,
    region: str = "",
) -> StopOutcome:
    """StopInvocation on all of an invocation's instances, or on some. Not yet started (Pending,
    Scheduled) becomes Cancelled; Running becomes Stopping and its agent gets ``task.stop`` (it kills the
    process group and reports Terminated); final results are untouched. Stopping again re-sends the stop.
    Each agent involved also gets ``task.stop`` for a cancelled task, in case it took it meanwhile."""
    invocation = invocation_of_account(principal, invocation_id, region)
    results = InvocationResult.objects.filter(invocation=invocation)
    if instance_ids:
        wanted = list(dict.fromkeys(instance_ids))
        if len(wanted) > MAX_INSTANCES_PER_STOP:
            raise Forbidden(
                "InstanceIds.ExceedLimit",
                f"{len(wanted)} instances were given; at most {MAX_INSTANCES_PER_STOP} may be named.",
            )
        targets = set(results.filter(instance_id__in=wanted).values_list("instance_id", flat=True))
        missing = [instance_id for instance_id in wanted if instance_id not in targets]
        if missing:
            raise NotFound(
                "InvalidInstance.NotFound",
                f"The invocation {invocation.id} does not run on: {', '.join(missing)}.",
            )
        results = results.filter(instance_id__in=wanted)
    target_ids = sorted(results.values_list("instance_id", flat=True))
    authorize(
        principal,
        "ecs:StopInvocation",
        [arn(principal.account_id, invocation.region, "instance", i) for i in target_ids],
    )
    cancelled: list[str] = []
    stopping: list[str] = []
    to_ring: list[tuple[str, str]] = []
    with transaction.atomic():
        now = timezone.now()
        for result in results.select_for_update().order_by("pk"):
            if result.status in STOPPABLE_BEFORE_START:
                result.status = st.CANCELLED
                result.finished_at = now
                cancelled.append(result.id)
            elif result.status == st.RUNNING:
                result.status = st.STOPPING
                stopping.append(result.id)
            elif result.status == st.STOPPING:
                to_ring.append((result.instance_id, result.id))
                continue
            else:
                continue
            result.stopped_at = now
            result.save(update_fields=["status", "finished_at", "stopped_at", "updated_at"])
            to_ring.append((result.instance_id, result.id))
            events.ring_browsers_on_commit(invocation.id, result.id)
        transaction.on_commit(lambda: _ring_stops(to_ring))
    if cancelled or stopping:
        logger.info("%s: cancelled %d, stopping %d", invocation.id, len(cancelled), len(stopping))
    return StopOutcome(cancelled=cancelled, stopping=stopping)


def _ring_stops(tasks: list[tuple[str, str]]) -> None:
    for instance_id, result_id in tasks:
        events.ring_agent_stop(instance_id, result_id)


RESTOP_AFTER_SECONDS = 5


def results_restop(*, now: datetime | None = None) -> int:
    """Ring ``task.stop`` again for results still Stopping a few seconds after StopInvocation: the doorbell
    may have been dropped, or the agent was reconnecting. The agent ignores a stop for a task it does not
    run, so ringing twice is harmless."""
    cutoff = (now or timezone.now()) - timedelta(seconds=RESTOP_AFTER_SECONDS)
    stale = list(
        InvocationResult.objects.filter(status=st.STOPPING, stopped_at__lt=cutoff).values_list(
            "instance_id", "id"
        )[:1000]
    )
    _ring_stops(stale)
    return len(stale)


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


def results_end_for_released_instance(*, instance_id: str) -> int:
    """A deregistered instance will never report again: its Pending tasks end Aborted and its running
    ones Error, both with ``InstanceReleased``, so no invocation waits for it forever."""
    now = timezone.now()
    info = "The specified instance was released during task execution."
    live = list(
        InvocationResult.objects.select_for_update()
        .filter(instance_id=instance_id, status__in=st.LIVE)
        .values_list("id", "invocation_id", "status")
    )
    for final, waiting in ((st.ABORTED, (st.PENDING, st.SCHEDULED)), (st.ERROR, (st.RUNNING, st.STOPPING))):
        ids = [result_id for result_id, _, status in live if status in waiting]
        InvocationResult.objects.filter(pk__in=ids).update(
            status=final, error_code="InstanceReleased", error_info=info, finished_at=now, updated_at=now
        )
    for result_id, invocation_id, _ in live:
        events.ring_browsers_on_commit(invocation_id, result_id)
    return len(live)
