"""Turning stored tasks into the agent's task.run frames (one place, used by dispatch and by the gateway)."""

from assist_agent import protocol

from console.gateway.nodes import TASK_RUN_PREFIX
from console.invocations.models import Invocation, InvocationResult
from console.invocations.run_options import DRY_RUN


def task_run_frame(result: InvocationResult) -> protocol.TaskRun:
    return _frame(result.invocation, result.id, result.content)


def _frame(invocation: Invocation, task_id: str, content: str) -> protocol.TaskRun:
    return protocol.TaskRun(
        task_id=task_id,
        command_type=invocation.command_type,
        # Parameters are rendered per instance at creation; otherwise every instance runs the same script.
        content=content if invocation.enable_parameter else invocation.command_content,
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


def invocation_task_runs(invocation: Invocation, tasks: list[tuple[str, str, str]]) -> dict[str, list[str]]:
    """``encoded_task_runs`` for tasks of one invocation given as (task id, instance id, content) rows.
    Without parameters the frames differ only in their task id, which ``encode`` writes right after the
    type: one frame is encoded (and checked) and the others are made from it, as a dispatch to 10,000
    instances would otherwise encode the same frame 10,000 times."""
    template = None  # the frame after its task id, when every frame but the id is the same
    if tasks and not invocation.enable_parameter:
        first_id = tasks[0][0]
        text = protocol.encode(_frame(invocation, first_id, ""))
        head = _task_run_head(first_id)
        template = text[len(head) :] if text.startswith(head) else None  # None: encode every frame
    by_instance: dict[str, list[str]] = {}
    for task_id, instance_id, content in tasks:
        if template is not None and protocol.is_valid_task_id(task_id):  # a valid id needs no escaping
            frame = _task_run_head(task_id) + template
        else:
            frame = protocol.encode(_frame(invocation, task_id, content))
        by_instance.setdefault(instance_id, []).append(frame)
    return by_instance


def _task_run_head(task_id: str) -> str:
    return f'{TASK_RUN_PREFIX}"task_id":"{task_id}"'
