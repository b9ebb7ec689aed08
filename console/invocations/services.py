import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from console.bulk_insert import bulk_insert
from console.commands import limits
from console.commands import parameters as cmd_params
from console.commands.common import (
    public_command,
    public_values_for,
    refuse_public_content_change,
)
from console.commands.selectors import command_of_account, command_resource_name
from console.commands.services import CommandFields, check_launcher, command_save
from console.errors import Forbidden, NotFound, ServiceError
from console.fleet.selectors import instances_by_ids, instances_of_account
from console.iam.authz import authorize
from console.iam.principal import Principal, arn
from console.ids import new_id
from console.invocations import events, rate, run_options, schedule
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult
from console.invocations.selectors import invocation_of_account
from console.tags.selectors import tagged_resource_ids
from console.tags.services import tags_attach

logger = logging.getLogger(__name__)

MAX_INSTANCES_PER_STOP = 50


def _target_ids(
    principal: Principal,
    region: str,
    instance_ids: Sequence[str],
    resource_tags: Mapping[str, str | None] | None = None,
) -> list[str]:
    """The instances to run on: named by id, or (``ResourceTag.N``) every instance of the account in the
    region that carries all the given tags. Either way at most ASSIST_MAX_INSTANCES_PER_RUN."""
    instance_ids = list(dict.fromkeys(instance_ids))
    if resource_tags:
        if instance_ids:
            raise ServiceError(
                "InvalidParameter.ResourceTag",
                "Choose instances by InstanceId.N or by ResourceTag.N, not both.",
            )
        # The tagged ids first, then the instances by id: as one semi-join, PostgreSQL planned a nested
        # loop (thousands x thousands) whenever the tags had just been written and not yet analysed.
        tagged = tagged_resource_ids(
            account_id=principal.account_id, resource_type="managedinstance", wanted=resource_tags
        )
        instance_ids = sorted(
            instances_of_account(principal).filter(region=region, pk__in=tagged).values_list("id", flat=True)
        )
        if not instance_ids:
            raise NotFound("InvalidInstance.NotFound", "No instance carries the given ResourceTag.N tags.")
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
    tags: Mapping[str, str] = field(default_factory=dict)
    frequency: str = ""  # RepeatMode=Period when given (checked by check_frequency)
    options: "RunOptions | None" = None
    launcher: str = ""  # checked (check_launcher); "" runs the script with the type's shell


@dataclass(frozen=True)
class RunOptions:
    """How and when the run happens (console/invocations/run_options.py), checked."""

    repeat_mode: str = run_options.ONCE
    termination_mode: str = "ProcessTree"
    container_id: str = ""
    container_name: str = ""
    max_concurrency: str = ""
    max_errors: str = ""


def _run_options(
    *,
    command_type: str,
    frequency: str,
    repeat_mode: str,
    termination_mode: str,
    container_id: str,
    container_name: str,
    max_concurrency: object,
    max_errors: object,
    launcher: str = "",
) -> RunOptions:
    container = run_options.check_container(container_id, container_name, command_type)
    run_options.check_launcher_placement(launcher, *container)
    return RunOptions(
        repeat_mode=run_options.check_repeat_mode(repeat_mode, frequency),
        termination_mode=run_options.check_termination_mode(termination_mode),
        container_id=container[0],
        container_name=container[1],
        max_concurrency=run_options.check_rate(max_concurrency, "MaxConcurrency", minimum=1),
        max_errors=run_options.check_rate(max_errors, "MaxErrors", minimum=0),
    )


def _first_status(repeat_mode: str) -> str:
    """A one-time run (or a dry run) starts Pending; a periodic task waits for its first run and a reboot
    task for the next boot, both Scheduled."""
    return st.PENDING if repeat_mode in run_options.ONE_SHOT_MODES else st.SCHEDULED


def _rendered_contents(principal: Principal, run: _Run, invoke_id: str, instances: list) -> dict[str, str]:
    """The script of each instance with its parameters and built-ins filled in; checked against the
    content limit. Empty when parameters are off: every instance runs the invocation's content."""
    if not run.template.enabled:
        return {}
    limit = settings.ASSIST_MAX_CONTENT_B64
    contents = {}
    for instance in instances:
        builtins = cmd_params.builtin_values(
            region=run.region,
            account_id=principal.account_id,
            instance_id=instance.id,
            instance_name=instance.name,
            invoke_id=invoke_id,
            command_id=run.command_id,
        )
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
    options = run.options or RunOptions(repeat_mode=run_options.PERIOD if run.frequency else run_options.ONCE)
    now = timezone.now()
    # MaxConcurrency: the first ones start, the others wait for a slot (console/invocations/rate.py); a
    # periodic task applies it when each run starts, a reboot task not at all.
    waits = rate.first_slots(len(instances), options.max_concurrency, len(instances))
    rank = {instance.id: n for n, instance in enumerate(sorted(instances, key=lambda i: i.id))}  # id order
    if options.repeat_mode != run_options.ONCE:  # a dry run runs nothing: no slot to wait for either
        waits = [False] * len(instances)
    next_run_at = None
    if run.frequency:
        periodic = check_frequency(run.frequency, timeout=run.timeout, now=now)
        next_run_at = _next_run(periodic, now, created=now, zones=[i.time_zone for i in instances])
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
            created_at=now,
            repeat_mode=options.repeat_mode,
            frequency=run.frequency,
            next_run_at=next_run_at,
            termination_mode=options.termination_mode,
            container_id=options.container_id,
            container_name=options.container_name,
            max_concurrency=options.max_concurrency,
            max_errors=options.max_errors,
            launcher=run.launcher,
            instance_count=len(instances),
        )
        varying: dict[str, list] = {
            "id": [new_id("r") for _ in instances],
            "instance_id": [instance.id for instance in instances],
        }
        if contents:
            varying["content"] = [contents[instance.id] for instance in instances]
        if options.repeat_mode in run_options.REBOOT_MODES:
            # A reboot task is armed with the boot the instance is in: the next one starts it.
            varying["boot_id"] = [instance.boot_id for instance in instances]
        if any(waits):
            varying["queued"] = [waits[rank[instance.id]] for instance in instances]
        bulk_insert(
            InvocationResult(
                invocation=invocation, created_at=now, status=_first_status(options.repeat_mode)
            ),
            varying,
        )
        tags_attach(
            account_id=principal.account_id,
            region=run.region,
            resource_type="invocation",
            resource_ids=[invoke_id],
            tags=run.tags,
        )
        if keep is not None:
            tags_attach(
                account_id=principal.account_id,
                region=run.region,
                resource_type="command",
                resource_ids=[run.command_id],
                tags=run.tags,
            )
        from console.invocations.tasks import dispatch_invocation

        if options.repeat_mode in run_options.ONE_SHOT_MODES:  # the others wait for their run or boot
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
    resource_tags: Mapping[str, str | None] | None = None,
    tags: Mapping[str, str] | None = None,
    frequency: str = "",
    repeat_mode: str = "",
    termination_mode: str = "",
    container_id: str = "",
    container_name: str = "",
    max_concurrency: object = "",
    max_errors: object = "",
    launcher: str = "",
) -> Invocation:
    """RunCommand: create an invocation of ad-hoc content with one Pending result per instance, and keep
    the content as a command when asked (counted against the retained-command quota). ``launcher`` starts
    the script instead of the type's shell (kept with the command too)."""
    region = region or settings.ASSIST_REGION
    instance_ids = _target_ids(principal, region, instance_ids, resource_tags)
    check_type = limits.check_command_type(command_type)
    content = limits.check_content(limits.decode_content(command_content, content_encoding))
    timeout_seconds = limits.check_timeout(timeout)
    limits.check_name(name)
    limits.check_description(description)
    limits.check_working_dir(working_dir)
    limits.check_username(username)
    launcher = check_launcher(launcher)
    options = _run_options(
        command_type=check_type,
        frequency=frequency,
        repeat_mode=repeat_mode,
        termination_mode=termination_mode,
        container_id=container_id,
        container_name=container_name,
        max_concurrency=max_concurrency,
        max_errors=max_errors,
        launcher=launcher,
    )
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
        tags=dict(tags or {}),
        frequency=frequency,
        options=options,
        launcher=launcher,
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
            launcher=launcher,
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
    resource_tags: Mapping[str, str | None] | None = None,
    tags: Mapping[str, str] | None = None,
    frequency: str = "",
    repeat_mode: str = "",
    termination_mode: str = "",
    container_id: str = "",
    container_name: str = "",
    max_concurrency: object = "",
    max_errors: object = "",
    launcher: str = "",
) -> Invocation:
    """InvokeCommand: run a saved command. ``timeout`` (at least 10 s), ``working_dir`` and ``launcher``
    (when not empty) override the command's for this run only; ``parameters`` fill its placeholders when
    the command enables them."""
    region = region or settings.ASSIST_REGION
    instance_ids = _target_ids(principal, region, instance_ids, resource_tags)
    timeout_seconds = None if timeout is None else limits.check_invoke_timeout(timeout)
    if working_dir is not None:
        limits.check_working_dir(working_dir)
    limits.check_username(username)
    launcher = check_launcher(launcher)
    command = command_of_account(principal, command_id, region)
    # A common (public) command has no launcher of its own.
    launcher = launcher or getattr(command, "launcher", "")
    options = _run_options(
        command_type=command.type,
        frequency=frequency,
        repeat_mode=repeat_mode,
        termination_mode=termination_mode,
        container_id=container_id,
        container_name=container_name,
        max_concurrency=max_concurrency,
        max_errors=max_errors,
        launcher=launcher,
    )
    template = cmd_params.parse(command.content, enabled=command.enable_parameter)
    values = cmd_params.check_values(template, parameters)
    values = public_values_for(command, values)  # a common command's defaults and checks
    instances = instances_by_ids(principal, region=region, instance_ids=instance_ids)
    authorize(
        principal,
        "ecs:InvokeCommand",
        [arn(principal.account_id, region, "command", command_resource_name(command))]
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
        tags=dict(tags or {}),
        frequency=frequency,
        options=options,
        launcher=launcher,
    )
    return _invocation_create(principal=principal, run=run, instances=instances)


@dataclass(frozen=True)
class StopOutcome:
    cancelled: list[str]  # result ids that had not started
    stopping: list[str]  # result ids the agent was asked to stop


STOPPABLE_BEFORE_START = frozenset(
    s for s in st.sources(st.STOP) if st.transition(s, st.STOP) == st.CANCELLED
)


# ModifyInvocationAttribute changes only tasks that run again (reference §3.2), while they are live.
MODIFIABLE_REPEAT_MODES = ("Period", "NextRebootOnly", "EveryReboot")


def invocation_modify(
    *,
    principal: Principal,
    invocation_id: str,
    region: str = "",
    command_content: str | None = None,
    content_encoding: str = "PlainText",
    enable_parameter: bool | None = None,
    parameters: Mapping[str, object] | None = None,
    frequency: str = "",
    instance_ids: Sequence[str] = (),
) -> Invocation:
    """ModifyInvocationAttribute: every input is checked first, then the rule of the original: only a
    Period, NextRebootOnly or EveryReboot task that is still live can be changed (a Once task: 403
    ``InvalidOperation.RepeatMode``)."""
    region = region or settings.ASSIST_REGION
    invocation = invocation_of_account(principal, invocation_id, region)
    refuse_public_content_change(invocation.command_id, command_content)
    if command_content is not None:
        content = limits.check_content(limits.decode_content(command_content, content_encoding))
        enabled = invocation.enable_parameter if enable_parameter is None else enable_parameter
        cmd_params.check_values(cmd_params.parse(content, enabled=enabled), parameters)
    added = instances_by_ids(principal, region=region, instance_ids=list(dict.fromkeys(instance_ids)))
    current = InvocationResult.objects.filter(invocation=invocation).values_list("instance_id", flat=True)
    authorize(
        principal,
        "ecs:ModifyInvocationAttribute",
        [arn(principal.account_id, region, "invocation", invocation.id)]
        + [
            arn(principal.account_id, region, "instance", i)
            for i in sorted({*current, *(a.id for a in added)})
        ],
    )
    known = set(current)
    if frequency and invocation.repeat_mode != "Period":
        raise ServiceError("InvalidParameter.Frequency", "Frequency can only be changed on a Period task.")
    if invocation.repeat_mode not in MODIFIABLE_REPEAT_MODES:
        raise Forbidden(
            "InvalidOperation.RepeatMode",
            f"Only Period, NextRebootOnly and EveryReboot tasks can be modified; {invocation.id} is "
            f"{invocation.repeat_mode}.",
        )
    return _periodic_modify(
        principal=principal,
        invocation=invocation,
        command_content=command_content,
        content_encoding=content_encoding,
        enable_parameter=enable_parameter,
        parameters=parameters,
        frequency=frequency,
        added=[a for a in added if a.id not in known],
    )


def _periodic_modify(
    *,
    principal: Principal,
    invocation: Invocation,
    command_content: str | None,
    content_encoding: str,
    enable_parameter: bool | None,
    parameters: Mapping[str, object] | None,
    frequency: str,
    added: list,
) -> Invocation:
    """ModifyInvocationAttribute on a live periodic or reboot task (reference section 3.2). A new
    Frequency counts from the task's creation; new content gets a new CommandId (saved as a new command
    when the task's command is a saved one) and is what the following executions run; added instances
    wait for the next run (or their next boot). Executions already under way keep what they were given."""
    now = timezone.now()
    with transaction.atomic():
        invocation = Invocation.objects.select_for_update().get(pk=invocation.pk)
        latest = InvocationResult.objects.filter(invocation=invocation, latest=True)
        schedule_over = invocation.repeat_mode == run_options.PERIOD and invocation.next_run_at is None
        if not latest.filter(status__in=st.LIVE).exists() or schedule_over:
            raise Forbidden(
                "InvalidOperation.InvocationStatus",
                f"{invocation.id} has ended (its schedule has no run left, it ran after its reboot, or it "
                "was stopped); only live tasks can be modified.",
            )
        total = latest.count() + len(added)
        if total > settings.ASSIST_MAX_INSTANCES_PER_RUN:
            raise Forbidden(
                "InstanceIds.ExceedLimit",
                f"The task would run on {total} instances; at most {settings.ASSIST_MAX_INSTANCES_PER_RUN}.",
            )
        # A cron without a zone runs in each instance's zone, the added ones' included.
        zones = [*_instance_zones(latest), *(i.time_zone for i in added)]
        if frequency:
            periodic = check_frequency(frequency, timeout=invocation.timeout, now=now)
            invocation.frequency = frequency
            invocation.next_run_at = _next_run(periodic, now, created=invocation.created_at, zones=zones)
        elif (
            added and invocation.next_run_at is not None and _saved_schedule(invocation).follows_instance_zone
        ):
            # An added instance in another zone may run before the task's next run so far.
            sooner = _next_run(
                _saved_schedule(invocation),
                now,
                created=invocation.created_at,
                zones=[i.time_zone for i in added],
            )
            invocation.next_run_at = min(invocation.next_run_at, sooner or invocation.next_run_at)
        content = invocation.command_content
        if command_content is not None:
            content = limits.check_content(limits.decode_content(command_content, content_encoding))
        enabled = invocation.enable_parameter if enable_parameter is None else enable_parameter
        template = cmd_params.parse(content, enabled=enabled)
        passed = dict(invocation.parameters if parameters is None else parameters)
        values = cmd_params.check_values(template, passed)
        values = public_values_for(public_command(invocation.command_id), values)
        if command_content is not None and content != invocation.command_content:
            invocation.command_id = _command_for_new_content(principal, invocation, content, enabled)
        invocation.command_content = content
        invocation.enable_parameter = enabled
        invocation.parameters = passed
        invocation.instance_count += len(added)  # the row is locked: no concurrent change is lost
        invocation.save()
        run = _Run(
            region=invocation.region,
            command_id=invocation.command_id,
            name=invocation.command_name,
            description=invocation.command_description,
            command_type=invocation.command_type,
            template=template,
            values=values,
            passed=passed,
            working_dir=invocation.working_dir,
            username=invocation.username,
            timeout=invocation.timeout,
        )
        rerender = command_content is not None or parameters is not None or enable_parameter is not None
        instances = list(added)
        if rerender and template.enabled:  # each instance's script is rendered for it again
            current_ids = list(latest.values_list("instance_id", flat=True))
            instances += instances_by_ids(principal, region=invocation.region, instance_ids=current_ids)
        contents = _rendered_contents(principal, run, invocation.id, instances)
        for result in latest.exclude(status__in=st.FINAL) if rerender else ():
            result.content = contents.get(result.instance_id, "")
            result.save(update_fields=["content", "updated_at"])
        InvocationResult.objects.bulk_create(
            InvocationResult(
                id=new_id("r"),
                invocation=invocation,
                instance=instance,
                content=contents.get(instance.id, ""),
                status=st.SCHEDULED,
                created_at=now,
                # An added instance of a reboot task waits for its own next boot.
                boot_id=instance.boot_id if invocation.repeat_mode in run_options.REBOOT_MODES else "",
            )
            for instance in added
        )
    return invocation


def _command_for_new_content(
    principal: Principal, invocation: Invocation, content: str, enabled: bool
) -> str:
    """The CommandId of a task's changed content: a new command, kept when the task ran a saved command
    (InvokeCommand, or RunCommand with KeepCommand), otherwise only a new id."""
    from console.commands.models import Command

    command_id = new_id("c")
    saved = Command.objects.filter(pk=invocation.command_id, account_id=principal.account_id).first()
    if saved is not None:
        fields = CommandFields(
            name=saved.name,
            description=saved.description,
            type=saved.type,
            content=content,
            working_dir=saved.working_dir,
            timeout=saved.timeout,
            enable_parameter=enabled,
            launcher=saved.launcher,
        )
        command_save(principal=principal, region=invocation.region, fields=fields, command_id=command_id)
    return command_id


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
    results = InvocationResult.objects.filter(invocation=invocation, latest=True)
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
            to = st.transition(result.status, st.STOP)
            if to is None:  # final: untouched
                continue
            if to == result.status:  # Stopping again: ring the agent again
                to_ring.append((result.instance_id, result.id))
                continue
            if to == st.CANCELLED:
                result.finished_at = now
                cancelled.append(result.id)
            else:
                stopping.append(result.id)
            result.status = to
            result.stopped_at = now
            result.save(update_fields=["status", "finished_at", "stopped_at", "updated_at"])
            to_ring.append((result.instance_id, result.id))
            events.ring_browsers_on_commit(invocation.id, result.id)
        # A stopped execution is never followed by another (executions_roll_over skips stopped ones);
        # stopping the whole task also ends its schedule.
        if invocation.next_run_at is not None and not instance_ids:
            Invocation.objects.filter(pk=invocation.pk).update(next_run_at=None)
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


def results_mark_sent(result_ids: Sequence[str], *, now: datetime | None = None) -> set[str]:
    """Record that these tasks go out to their agent's connection, before they are sent, and return those
    that may go (still Pending; a task stopped or ended meanwhile is not sent). From then on a task is
    never ended as not run (Aborted/DeliveryTimeout): its agent may be running it
    (results_end_unconfirmed). The first send counts; re-sends on the same connection do not move it."""
    if not result_ids:
        return set()
    now = now or timezone.now()
    pending = InvocationResult.objects.filter(pk__in=list(result_ids), status=st.PENDING)
    pending.filter(sent_at=None).update(sent_at=now)
    return set(pending.values_list("id", flat=True))


def results_unsent_at_hello(*, instance_id: str, held_tasks: Sequence[str]) -> int:
    """At an agent's hello: its Pending tasks that were sent but that it does not hold never reached it
    (an agent holds every task it took until its result is acknowledged). They count as never sent
    again: delivered now, or Aborted/DeliveryTimeout if their delivery time is over."""
    held = set(held_tasks)
    sent = InvocationResult.objects.filter(instance_id=instance_id, status=st.PENDING).exclude(sent_at=None)
    unsent = [result_id for result_id in sent.values_list("id", flat=True)[:1000] if result_id not in held]
    return InvocationResult.objects.filter(pk__in=unsent, status=st.PENDING).update(sent_at=None)


def results_abort_undelivered(*, now: datetime | None = None) -> int:
    """End every result still Pending after the delivery timeout that never went out to an agent as
    Aborted/DeliveryTimeout (a result waiting for a MaxConcurrency slot is not late: its clock starts
    when it is released). A task that went out is the agent's until it says otherwise
    (results_end_unconfirmed)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ASSIST_DELIVERY_TIMEOUT)
    stale_ids = list(
        InvocationResult.objects.filter(
            status__in=st.sources(st.DELIVERY_TIMEOUT), queued=False, sent_at=None, created_at__lt=cutoff
        ).values_list("id", flat=True)[:1000]
    )
    aborted = _results_end(
        stale_ids,
        event=st.DELIVERY_TIMEOUT,
        error_code="DeliveryTimeout",
        error_info="the command delivery has been timeout: the agent did not take the task within "
        f"{settings.ASSIST_DELIVERY_TIMEOUT} s (is the instance's agent online?)",
        now=now,
    )
    if aborted:
        logger.info("aborted %d undelivered result(s)", aborted)
    return aborted


def results_abort_for_old_agent(*, instance_id: str, result_ids: Sequence[str], feature: str) -> int:
    """The instance's agent speaks an older protocol that cannot run these tasks (``feature``, e.g. a
    container): they end Aborted/ClientNeedUpgrade at once rather than wait for the delivery timeout."""
    ids = list(
        InvocationResult.objects.filter(pk__in=result_ids, instance_id=instance_id).values_list(
            "id", flat=True
        )
    )
    return _results_end(
        ids,
        event=st.DELIVERY_TIMEOUT,
        error_code="ClientNeedUpgrade",
        error_info=f"the aliyun service in the instance need upgrade: its agent cannot run {feature}; "
        "upgrade the agent on this instance (Agent releases page) and run the command again",
        now=timezone.now(),
    )


def _results_end(
    result_ids: list[str], *, event: str, error_code: str, error_info: str, now: datetime
) -> int:
    """End those of ``result_ids`` that ``event`` may still end (status.sources), one short transaction
    each (an agent report that wins the race is kept); frees their MaxConcurrency slots and rolls
    repeating tasks over (an EveryReboot instance waits for its next boot again)."""
    ended_ids: list[str] = []
    ended_in: set[str] = set()
    for result_id in result_ids:
        with transaction.atomic():
            result = (
                InvocationResult.objects.select_for_update()
                .filter(pk=result_id, status__in=st.sources(event))
                .first()
            )
            if result is None:
                continue
            result.status = st.transition(result.status, event) or result.status
            result.error_code = error_code
            result.error_info = error_info
            result.finished_at = now
            result.save(update_fields=["status", "error_code", "error_info", "finished_at", "updated_at"])
            events.ring_browsers_on_commit(result.invocation_id, result.id)
            ended_in.add(result.invocation_id)
            ended_ids.append(result.id)
    cancelled = rate.rate_control_after(ended_in, now=now)
    executions_roll_over([*ended_ids, *cancelled], now=now)
    return len(ended_ids)


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
    ending: dict[str, list[str]] = {}
    for result_id, _, status in live:
        ending.setdefault(st.transition(status, st.INSTANCE_RELEASED) or status, []).append(result_id)
    for final, ids in ending.items():
        InvocationResult.objects.filter(pk__in=ids).update(
            status=final, error_code="InstanceReleased", error_info=info, finished_at=now, updated_at=now
        )
    for result_id, invocation_id, _ in live:
        events.ring_browsers_on_commit(invocation_id, result_id)
    rate.rate_control_after({invocation_id for _, invocation_id, _ in live}, now=now)
    return len(live)


# --- results whose agent will never report them ------------------------------------------------
# A Running (or Stopping) result waits for its agent's report; these bound the wait when that report
# cannot come: the agent stayed away (results_end_for_silent_agents, on the tick) or came back without
# the task (results_end_not_held, at its hello: its state directory was lost).


def results_end_for_silent_agents(*, now: datetime | None = None) -> int:
    """End as Error / ClientNotRunning each Running or Stopping result whose instance has been offline
    (no heartbeat) for longer than ``ASSIST_OFFLINE_AFTER`` and that started more than its timeout plus
    ``ASSIST_OFFLINE_AFTER`` ago: by then the agent would have ended the command and reported it."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.ASSIST_OFFLINE_AFTER)
    offline = Q(instance__last_heartbeat_at__lt=now - grace) | Q(instance__last_heartbeat_at=None)
    candidates = (
        InvocationResult.objects.filter(
            offline, status__in=st.sources(st.AGENT_LOST), created_at__lt=now - grace
        )
        .order_by("created_at")
        .values_list("id", "created_at", "started_at", "invocation__timeout")[:1000]
    )
    silent_ids = [
        result_id
        for result_id, created_at, started_at, timeout in candidates
        if (started_at or created_at) + timedelta(seconds=timeout) + grace < now
    ]
    ended = _results_end(
        silent_ids,
        event=st.AGENT_LOST,
        error_code="ClientNotRunning",
        error_info="the aliyun service is not running on the instance: its agent stopped reporting "
        f"(offline for more than {settings.ASSIST_OFFLINE_AFTER} s, past the command's timeout); whether "
        "the command finished is unknown",
        now=now,
    )
    if ended:
        logger.info("ended %d result(s) whose agent stopped reporting", ended)
    return ended


def results_end_unconfirmed(*, now: datetime | None = None) -> int:
    """End as Error / ClientNotRunning each Pending result that went out to its agent more than its
    timeout plus ``ASSIST_OFFLINE_AFTER`` ago without a word from the agent about it (cut off, or not
    answering): the command may have run, so it does not end as not run, and it does not wait forever."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.ASSIST_OFFLINE_AFTER)
    candidates = (
        InvocationResult.objects.filter(
            status__in=st.sources(st.UNCONFIRMED), sent_at__lt=now - grace, queued=False
        )
        .order_by("sent_at")
        .values_list("id", "sent_at", "invocation__timeout")[:1000]
    )
    unconfirmed_ids = [
        result_id
        for result_id, sent_at, timeout in candidates
        if sent_at + timedelta(seconds=timeout) + grace < now
    ]
    ended = _results_end(
        unconfirmed_ids,
        event=st.UNCONFIRMED,
        error_code="ClientNotRunning",
        error_info="the task was sent to the instance's agent, which never confirmed it (cut off or not "
        f"answering for longer than the command's timeout plus {settings.ASSIST_OFFLINE_AFTER} s): "
        "whether the command ran is unknown",
        now=now,
    )
    if ended:
        logger.info("ended %d result(s) sent but never confirmed by their agent", ended)
    return ended


def results_end_not_held(*, instance_id: str, held_tasks: Sequence[str]) -> int:
    """At an agent's hello: its Running or Stopping results that it no longer holds (``held_tasks``: the
    tasks it runs or keeps an unacknowledged result of) will never be reported; they end as Error /
    ExecutionInterrupted. An agent drops a task only after the console acknowledged its final result, so
    this happens when its state directory was lost (reinstalled, wiped) while the task ran."""
    held = set(held_tasks)
    lost_ids = [
        result_id
        for result_id in InvocationResult.objects.filter(
            instance_id=instance_id, status__in=st.sources(st.AGENT_LOST)
        ).values_list("id", flat=True)[:1000]
        if result_id not in held
    ]
    ended = _results_end(
        lost_ids,
        event=st.AGENT_LOST,
        error_code="ExecutionInterrupted",
        error_info="the agent came back without this task (its state directory was lost, e.g. reinstalled "
        "or wiped): whether and how far the command ran is unknown",
        now=timezone.now(),
    )
    if ended:
        logger.warning("instance %s: %d running result(s) lost by its agent", instance_id, ended)
    return ended


# --- Periodic tasks (RepeatMode=Period): executions --------------------------------------------------
# Each run is a new result row (a new task id for the agent); see InvocationResult. The tick starts due
# runs (executions_start_due) and, as a sweep, rolls finished executions over to a Scheduled row
# (executions_roll_over_finished); the agent report path rolls over at once (reports.py).


def check_frequency(frequency: str, *, timeout: int, now: datetime) -> schedule.Schedule:
    """A Frequency checked for a task created (or modified) at ``now``; refusals carry the original's
    API codes (403 MissingParam.Frequency / InvalidParam.Frequency) and name the agent's detail code."""
    try:
        return schedule.parse(
            frequency, now=now, timeout=timeout, min_rate_seconds=settings.ASSIST_MIN_RATE_SECONDS
        )
    except schedule.FrequencyError as error:
        if error.code == "MissingParam.Frequency":
            raise Forbidden(error.code, error.message) from error
        detail = "" if error.code == "InvalidParam.Frequency" else f" ({error.code})"
        raise Forbidden("InvalidParam.Frequency", f"{error.message}{detail}") from error


def _saved_schedule(invocation: Invocation) -> schedule.Schedule:
    """The schedule of a stored task: checked when it was set, so only parsed again here."""
    return schedule.parse(invocation.frequency, now=invocation.created_at, min_rate_seconds=0)


def _instance_zones(results) -> list[str]:
    """The distinct zones the instances of these result rows reported (one query)."""
    return list(results.order_by().values_list("instance__time_zone", flat=True).distinct())


def _next_run(
    periodic: schedule.Schedule, moment: datetime, *, created: datetime, zones: Sequence[str]
) -> datetime | None:
    """A task's next run after ``moment``. A cron without a zone runs in each instance's zone: the
    earliest of its instances' next runs (the tick then starts only the instances whose zone is due)."""
    if not periodic.follows_instance_zone:
        return periodic.next_after(moment, created=created)
    runs = [periodic.in_zone(zone).next_after(moment, created=created) for zone in set(zones) or {""}]
    return min((run for run in runs if run is not None), default=None)


def _due_zones(
    periodic: schedule.Schedule, due_at: datetime, now: datetime, zones: Sequence[str]
) -> list[str]:
    """Of the instances' zones, those whose run is due by ``now``. ``due_at`` (the task's next run)
    is the earliest run over the zones, so no zone has a run between the previous tick and it."""
    due = []
    for zone in set(zones):
        run = periodic.in_zone(zone).next_after(due_at - timedelta(microseconds=1), created=due_at)
        if run is not None and run <= now:
            due.append(zone)
    return due


def executions_start_due(*, now: datetime | None = None) -> int:
    """Start every periodic task whose next run is due: each instance waiting (Scheduled) gets a new
    execution, delivered like a one-time run; an instance whose previous execution is still under way
    skips this run. The schedule then moves to its next run after ``now`` (runs missed while the console
    was down are not caught up one by one). Returns the number of executions started."""
    now = now or timezone.now()
    due = list(
        Invocation.objects.filter(repeat_mode="Period", next_run_at__lte=now)
        .order_by("next_run_at")
        .values_list("pk", flat=True)[:500]
    )
    started = 0
    for invocation_id in due:
        with transaction.atomic():
            invocation = (
                Invocation.objects.select_for_update().filter(pk=invocation_id, next_run_at__lte=now).first()
            )
            if invocation is None:
                continue
            periodic = _saved_schedule(invocation)
            latest = InvocationResult.objects.filter(invocation=invocation, latest=True)
            waiting = latest.filter(status__in=st.sources(st.DUE))
            zones: list[str] = []  # a cron without a zone starts only the instances whose zone is due
            if periodic.follows_instance_zone:
                zones = _instance_zones(latest)
                due_at = invocation.next_run_at
                waiting = waiting.filter(instance__time_zone__in=_due_zones(periodic, due_at, now, zones))
            invocation.next_run_at = _next_run(periodic, now, created=invocation.created_at, zones=zones)
            invocation.save(update_fields=["next_run_at"])
            ids = list(waiting.order_by("instance_id").values_list("pk", flat=True))
            if not ids:
                if not latest.filter(status__in=st.LIVE).exists():  # every instance stopped or released
                    Invocation.objects.filter(pk=invocation.pk).update(next_run_at=None)
                continue
            InvocationResult.objects.filter(pk__in=ids).update(
                status=st.transition(st.SCHEDULED, st.DUE),
                repeats=F("repeats") + 1,
                created_at=now,
                updated_at=now,
            )
            if invocation.max_concurrency:  # the first ones run, the others wait for a slot (rate.py)
                waits = rate.first_slots(len(ids), invocation.max_concurrency, latest.count())
                InvocationResult.objects.filter(
                    pk__in=[i for i, w in zip(ids, waits, strict=True) if w]
                ).update(queued=True)
            for result_id in ids:
                events.ring_browsers_on_commit(invocation.id, result_id)
            from console.invocations.tasks import dispatch_invocation

            transaction.on_commit(lambda task=invocation.id: dispatch_invocation.delay(task))
            started += len(ids)
    if started:
        logger.info("started %d scheduled execution(s)", started)
    return started


# Tasks whose executions roll over: a live schedule, or a task run at every boot.
_ROLLS_OVER = Q(invocation__repeat_mode="Period", invocation__next_run_at__isnull=False) | Q(
    invocation__repeat_mode=run_options.EVERY_REBOOT
)


def executions_roll_over(result_ids: Sequence[str], *, now: datetime | None = None) -> int:
    """After an execution of a periodic or EveryReboot task ends (and was not stopped), its instance waits
    for the next run (or boot): the finished row becomes history and a new Scheduled row (a new task id)
    takes its place, keeping the run count and, for a reboot task, armed with the boot the run was in.
    Nothing happens once the schedule has no run left. Runs inside the caller's transaction (the agent
    report path) or its own."""
    if not result_ids:
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        finished = list(
            InvocationResult.objects.select_for_update(of=("self",))
            .filter(_ROLLS_OVER, pk__in=list(result_ids), latest=True, status__in=st.FINAL, stopped_at=None)
            .exclude(error_code="InstanceReleased")
        )
        if not finished:
            return 0
        InvocationResult.objects.filter(pk__in=[r.pk for r in finished]).update(latest=False)
        waiting = [
            InvocationResult(
                id=new_id("r"),
                invocation_id=r.invocation_id,
                instance_id=r.instance_id,
                content=r.content,
                status=st.SCHEDULED,
                repeats=r.repeats,
                created_at=now,
                boot_id=r.boot_id,
            )
            for r in finished
        ]
        InvocationResult.objects.bulk_create(waiting)
        for result in waiting:
            events.ring_browsers_on_commit(result.invocation_id, result.id)
        from console.invocations.reboots import reboot_executions_catch_up

        reboot_executions_catch_up([r.id for r in waiting if r.boot_id])
    return len(waiting)


def executions_roll_over_finished(*, now: datetime | None = None) -> int:
    """The tick's sweep: roll over executions that ended outside the agent report path (Aborted after
    the delivery timeout, or a report path that failed between the two steps)."""
    # From the few live periodic tasks (indexed next_run_at), never a scan of every finished result.
    periodic = Invocation.objects.filter(next_run_at__isnull=False, repeat_mode="Period")
    live = list(periodic.values_list("pk", flat=True))
    finished = InvocationResult.objects.filter(latest=True, status__in=st.FINAL, stopped_at=None).exclude(
        error_code="InstanceReleased"
    )
    ids = list(finished.filter(invocation_id__in=live).values_list("pk", flat=True)[:1000]) if live else []
    # EveryReboot tasks have no schedule to start from. The report path rolls their executions over, the
    # delivery timeout too (results_abort_undelivered); this catches an Aborted one whose roll-over was
    # lost, from the Aborted rows only (indexed status), never a scan of every finished result.
    every_reboot = finished.filter(status=st.ABORTED, invocation__repeat_mode=run_options.EVERY_REBOOT)
    ids += every_reboot.values_list("pk", flat=True)[:1000]
    return executions_roll_over(ids, now=now)
