"""Turning stored tasks into the agent's task.run frames (one place, used by dispatch and by the gateway)."""

from assist_agent import protocol

from console.invocations.models import InvocationResult
from console.invocations.run_options import DRY_RUN


def task_run_frame(result: InvocationResult) -> protocol.TaskRun:
    invocation = result.invocation
    return protocol.TaskRun(
        task_id=result.id,
        command_type=invocation.command_type,
        # Parameters are rendered per instance at creation; otherwise every instance runs the same script.
        content=result.content if invocation.enable_parameter else invocation.command_content,
        working_dir=invocation.working_dir,
        username=invocation.username,
        timeout=float(invocation.timeout),
        # The API stores "Process" or "ProcessTree"; anything else (a row from before the field) kills
        # the tree, as every agent did before TerminationMode existed.
        termination_mode=(
            invocation.termination_mode
            if invocation.termination_mode in protocol.TERMINATION_MODES
            else protocol.TERMINATION_PROCESS_TREE
        ),
        container_id=invocation.container_id,
        container_name=invocation.container_name,
        launcher=invocation.launcher,
        dry_run=invocation.repeat_mode == DRY_RUN,
    )


def encoded_task_runs(results: list[InvocationResult]) -> dict[str, list[str]]:
    """Encoded task.run frames grouped by instance id."""
    by_instance: dict[str, list[str]] = {}
    for result in results:
        by_instance.setdefault(result.instance_id, []).append(protocol.encode(task_run_frame(result)))
    return by_instance
