"""Status rules of Cloud Assistant invocations: pure functions, no I/O.

Per-instance statuses and the overall status derived from them follow the original product
(reference/cloud-assistant-api.md section 4.5); where several "any instance" rules hold, the
precedence is Pending > Running > Stopping > Scheduled.
"""

from collections.abc import Iterable

PENDING = "Pending"
INVALID = "Invalid"
ABORTED = "Aborted"
RUNNING = "Running"
SUCCESS = "Success"
FAILED = "Failed"
ERROR = "Error"
TIMEOUT = "Timeout"
CANCELLED = "Cancelled"
STOPPING = "Stopping"
TERMINATED = "Terminated"
SCHEDULED = "Scheduled"

INSTANCE_STATUSES = (
    PENDING, INVALID, ABORTED, RUNNING, SUCCESS, FAILED, ERROR, TIMEOUT, CANCELLED, STOPPING, TERMINATED,
    SCHEDULED,
)  # fmt: skip
OVERALL_STATUSES = (PENDING, SCHEDULED, RUNNING, SUCCESS, FAILED, STOPPING, "Stopped", "PartialFailed")

FAILED_LIKE = frozenset({INVALID, ABORTED, FAILED, TIMEOUT, ERROR})
STOPPED_LIKE = frozenset({CANCELLED, TERMINATED})
FINAL = FAILED_LIKE | STOPPED_LIKE | {SUCCESS}
LIVE = frozenset({PENDING, RUNNING, STOPPING, SCHEDULED})

# Statuses an agent report may move a result out of. Aborted is included because an agent that was
# reached after all (a delivery raced the timeout) ran the task: its real outcome wins.
REPORTABLE = frozenset({PENDING, RUNNING, STOPPING, SCHEDULED, ABORTED})
AGENT_FINAL = frozenset({SUCCESS, FAILED, TIMEOUT, ERROR, TERMINATED})


def overall_status(statuses: Iterable[str]) -> str:
    present = set(statuses)
    if not present:
        return PENDING
    for live in (PENDING, RUNNING, STOPPING, SCHEDULED):
        if live in present:
            return live
    if present <= STOPPED_LIKE:
        return "Stopped"
    has_success = SUCCESS in present
    has_failed = bool(present & FAILED_LIKE)
    if has_success and not has_failed:
        return SUCCESS
    if has_failed and not has_success:
        return FAILED
    return "PartialFailed"


def record_status(status: str) -> str:
    """The lifecycle ``InvokeRecordStatus`` of one result (DescribeInvocationResults)."""
    if status in (SUCCESS, FAILED):
        return "Finished"
    if status in FAILED_LIKE:
        return "Failed"
    if status in STOPPED_LIKE:
        return "Stopped"
    if status == STOPPING:
        return "Stopping"
    return "Running"


def legacy_invoke_status(overall: str) -> str:
    """The legacy overall ``InvokeStatus`` of DescribeInvocations."""
    return {
        SUCCESS: "Finished",
        "PartialFailed": "PartialFailed",
        FAILED: "Failed",
        "Stopped": "Stopped",
        STOPPING: "Stopping",
    }.get(overall, "Running")


def error_for_exit(status: str, exit_code: int | None) -> tuple[str, str]:
    """Default ErrorCode and ErrorInfo for a final status reported without one."""
    if status == FAILED:
        return "ExitCodeNonzero", "the command execution exit code is not zero"
    if status == TIMEOUT:
        return "ExecutionTimeout", "the command execution has been timeout"
    if status == TERMINATED:
        return "ExecutionInterrupted", "the command execution has been interrupted"
    if status == ERROR:
        return "ExecutionException", "the command execution got an exception"
    return "", ""
