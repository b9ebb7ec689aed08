"""Rerun on failed: a new invocation of an invocation's content and parameters on those of its instances
that ended failed. It goes through RunCommand's service, which checks the user's permission to run there."""

from console.commands.common import parameters_with_defaults
from console.errors import ServiceError
from console.iam.principal import Principal
from console.invocations import run_options
from console.invocations import selectors as inv_selectors
from console.invocations import services as inv_services
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult

RERUNNABLE = frozenset({st.FAILED, st.TIMEOUT, st.ERROR, st.ABORTED})


def results_to_rerun(principal: Principal, invocation: Invocation) -> list[InvocationResult]:
    """The visible results of ``invocation`` that a rerun would target, by instance name."""
    return list(
        inv_selectors.results_visible(principal)
        .filter(invocation=invocation, status__in=RERUNNABLE)
        .select_related("instance")
        .order_by("instance__name", "instance_id")
    )


def invocation_rerun_failed(*, principal: Principal, invocation: Invocation) -> Invocation:
    """Run ``invocation``'s content again, with its parameters, timeout, working dir, user and launcher, on
    its failed instances only (Failed, Timeout, Error, Aborted). A dry run is rerun as a dry run."""
    failed = results_to_rerun(principal, invocation)
    if not failed:
        raise ServiceError(
            "InvalidParameter.InstanceId", "No instance of this invocation failed: there is nothing to rerun."
        )
    return inv_services.invocation_run_command(
        principal=principal,
        instance_ids=[result.instance_id for result in failed],
        command_content=invocation.command_content,
        region=invocation.region,
        command_type=invocation.command_type,
        timeout=invocation.timeout,
        working_dir=invocation.working_dir,
        username=invocation.username,
        name=invocation.command_name,
        description=invocation.command_description,
        enable_parameter=invocation.enable_parameter,
        # A common command's defaults were filled when it ran; fill them again.
        parameters=parameters_with_defaults(invocation.command_id, invocation.parameters or {}) or None,
        launcher=invocation.launcher,
        repeat_mode=invocation.repeat_mode if invocation.repeat_mode == run_options.DRY_RUN else "",
    )
