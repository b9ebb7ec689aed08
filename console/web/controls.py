"""Which of a page's action controls a principal may use, so the console offers only what would be allowed.

Each flag asks ``console.iam.authz`` the question the service behind the control asks: the same action, the
same ARNs (instance-scoped where the service checks per instance) and the same condition keys. Hiding a
control is presentation only: the services still check (and refuse) on their own.

Policies are loaded once per question (``allowed_resources`` judges all of a page's ARNs for an action in
one go), so a page costs a handful of small queries.
Where the service's condition depends on a user typed into the form (``ecs:CommandRunAs`` for runs,
``ecs:SessionUsername`` for terminals), the control is shown when the default user or any user the
principal's policies name for that key would be allowed, so a policy limited to one named user still
gets its button.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from django.conf import settings

from console.commands.common import PublicCommand
from console.commands.models import Command
from console.commands.selectors import command_resource_name
from console.fleet.models import Instance
from console.iam import authz, policy
from console.iam.principal import Principal, arn
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult
from console.terminals import services as terminal_services
from console.web import rerun

RUN_AS = "ecs:CommandRunAs"
DEFAULT_RUN_AS = "root"  # what a run form's empty user means (invocation services)


def _allowed(
    principal: Principal, action: str, resources: Iterable[str], context: Mapping[str, str] | None = None
) -> set[str]:
    return authz.allowed_resources(principal, action, resources, context)


def _may(
    principal: Principal, action: str, resources: Iterable[str], context: Mapping[str, str] | None = None
) -> bool:
    """Whether ``action`` on all of ``resources`` at once would be allowed (each is judged alone by the
    policy language, so the set is allowed exactly when each of its members is)."""
    resources = set(resources)
    return bool(resources) and resources <= _allowed(principal, action, resources, context)


def users_named(principal: Principal, key: str) -> list[str]:
    """The values the principal's allowing statements give the condition ``key`` (e.g. the users an
    ``ecs:CommandRunAs`` condition names): candidates worth asking about besides the default user."""
    if principal.is_root:
        return []
    try:
        attached = list(authz.policies_of(principal))
        session = authz.session_policy_of(principal)
    except policy.PolicyDocumentError:
        return []
    if session is not None:
        attached.append(session)
    named = {
        value
        for entry in attached
        for statement in entry.policy.statements
        if statement.effect == "Allow"
        for condition in statement.conditions
        if condition.key.lower() == key.lower()
        for value in condition.values
    }
    return sorted(named)


def _candidates(principal: Principal, key: str, default: str) -> Iterator[str]:
    """The default user, then (only if asked further) the users the principal's policies name."""
    yield default
    yield from (user for user in users_named(principal, key) if user != default)


def _may_as_someone(
    principal: Principal, action: str, resources: Iterable[str], key: str, default: str
) -> bool:
    """``_may`` for a form whose user is typed in: allowed as the default user or as one the policies name."""
    resources = list(resources)
    users = _candidates(principal, key, default)
    return any(_may(principal, action, resources, {key: user}) for user in users)


def _any_may_as_someone(
    principal: Principal, action: str, shared: list[str], each: list[str], key: str, default: str
) -> bool:
    """Whether ``action`` on ``shared`` plus at least one of ``each`` would be allowed for some candidate
    user: a run form that starts from a choice of instances (with no instance to choose yet, ``shared``
    alone decides, so an empty fleet does not hide the form from who may use it)."""
    for user in _candidates(principal, key, default):
        context = {key: user}
        allowed = _allowed(principal, action, [*shared, *each], context)
        if set(shared) <= allowed and (not each or allowed & set(each)):
            return True
    return False


def _instance_arn(principal: Principal, region: str, instance_id: str) -> str:
    return arn(principal.account_id, region, "instance", instance_id)


def _any_command(principal: Principal, region: str) -> str:
    return arn(principal.account_id, region, "command", "*")


# --- the instance page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceControls:
    run: bool  # "Run command" (RunCommand on the instance and command/*)
    send_file: bool  # "Send file" (SendFile on the instance)
    connect: bool  # "Connect" (StartTerminalSession on the instance)
    tag: bool  # "Add tag" (TagResources on the instance)
    untag: bool  # each tag's "Remove" (UntagResources on the instance)

    @property
    def read_only(self) -> bool:
        return not (self.run or self.send_file or self.connect or self.tag or self.untag)


def instance_controls(principal: Principal, instance: Instance) -> InstanceControls:
    target = _instance_arn(principal, instance.region, instance.id)
    return InstanceControls(
        run=_may_as_someone(
            principal,
            "ecs:RunCommand",
            [target, _any_command(principal, instance.region)],
            RUN_AS,
            DEFAULT_RUN_AS,
        ),
        send_file=_may(principal, "ecs:SendFile", [target]),
        connect=_may_as_someone(
            principal,
            terminal_services.START,
            [terminal_services.instance_arn(instance)],
            terminal_services.SESSION_USERNAME,
            terminal_services.default_user(),
        ),
        tag=_may(principal, "ecs:TagResources", [target]),
        untag=_may(principal, "ecs:UntagResources", [target]),
    )


# --- the invocation page -------------------------------------------------------------------------


@dataclass(frozen=True)
class InvocationControls:
    stop_all: bool  # "Stop…": StopInvocation on every instance the invocation runs on
    stoppable: frozenset[str]  # instance ids whose result may be stopped alone ("Stop selected…")
    rerun: bool  # "Rerun on failed…": RunCommand, as the invocation's user, where a rerun would run

    @property
    def stop_some(self) -> bool:
        return bool(self.stoppable)


def invocation_controls(
    principal: Principal, invocation: Invocation, visible: list[InvocationResult]
) -> InvocationControls:
    """``visible`` are the invocation's results the page shows. Stopping everything (like the service)
    names every instance of the invocation, seen or not; a rerun runs on the failed ones, and on those
    still running (they may yet fail while the page is open)."""
    region = invocation.region
    latest = InvocationResult.objects.filter(invocation=invocation, latest=True)
    all_ids = set(latest.values_list("instance_id", flat=True))
    by_arn = {_instance_arn(principal, region, instance_id): instance_id for instance_id in all_ids}
    stoppable = {by_arn[a] for a in _allowed(principal, "ecs:StopInvocation", by_arn)}
    may_fail = [r.instance_id for r in visible if r.status in rerun.RERUNNABLE or r.status in st.LIVE]
    targets = may_fail or [r.instance_id for r in visible]
    run_on = [_instance_arn(principal, region, i) for i in targets] + [_any_command(principal, region)]
    return InvocationControls(
        stop_all=bool(all_ids) and all_ids <= stoppable,
        stoppable=frozenset(stoppable),
        rerun=bool(targets)
        and _may(principal, "ecs:RunCommand", run_on, {RUN_AS: invocation.username or DEFAULT_RUN_AS}),
    )


def rerun_allowed(principal: Principal, invocation: Invocation, failed: list[InvocationResult]) -> bool:
    """The rerun page's confirm button: RunCommand on the failed instances, as the invocation's user."""
    region = invocation.region
    run_on = [_instance_arn(principal, region, r.instance_id) for r in failed]
    run_on.append(_any_command(principal, region))
    context = {RUN_AS: invocation.username or DEFAULT_RUN_AS}
    return bool(failed) and _may(principal, "ecs:RunCommand", run_on, context)


# --- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandControls:
    run: bool  # "Run…": InvokeCommand on the command and at least one instance of its region
    edit: bool  # "Edit": ModifyCommand on the command
    clone: bool  # "Clone into a new version" / "Copy into my commands": CreateCommand on command/*
    delete: bool  # "Delete…": DeleteCommand on the command

    @property
    def read_only(self) -> bool:
        return not (self.run or self.edit or self.clone or self.delete)


def command_controls(
    principal: Principal, command: Command | PublicCommand, instances: Iterable[Instance]
) -> CommandControls:
    """``instances``: those the principal sees in the command's region (the run form's choice). A common
    command is never edited or deleted."""
    region = command.region if isinstance(command, Command) else str(settings.ASSIST_REGION)
    target = arn(principal.account_id, region, "command", command_resource_name(command))
    own = isinstance(command, Command)
    return CommandControls(
        run=_any_may_as_someone(
            principal,
            "ecs:InvokeCommand",
            [target],
            [_instance_arn(principal, region, i.id) for i in instances],
            RUN_AS,
            DEFAULT_RUN_AS,
        ),
        edit=own and _may(principal, "ecs:ModifyCommand", [target]),
        clone=_may(principal, "ecs:CreateCommand", [_any_command(principal, region)]),
        delete=own and _may(principal, "ecs:DeleteCommand", [target]),
    )


def may_create_command(principal: Principal, region: str = "") -> bool:
    """The command list's "New command" (CreateCommand on command/* of the console's region)."""
    return _may(principal, "ecs:CreateCommand", [_any_command(principal, region or settings.ASSIST_REGION)])


# --- fleet ---------------------------------------------------------------------------------------


def may_create_activation(principal: Principal, region: str = "") -> bool:
    """The activations page's form (CreateActivation on activation/*)."""
    region = region or settings.ASSIST_REGION
    return _may(principal, "ecs:CreateActivation", [arn(principal.account_id, region, "activation", "*")])
