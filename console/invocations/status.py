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


# --- The per-instance state machine ------------------------------------------------------------------
# Every change of a result's status is one of these events; ``transition`` says where it leads from a
# given status, or None when the event does not apply there (the caller then leaves the result alone).
DUE = "due"  # a periodic run is due, or the instance booted again (reboot tasks): Scheduled -> Pending
STARTED = "started"  # the agent took the task
REPORTED = "reported"  # the agent's final report; the target is the status it reports
STOP = "stop"  # StopInvocation
MAX_ERRORS = "max_errors"  # rate control: the run failed on too many instances (not started ones end)
DELIVERY_TIMEOUT = "delivery_timeout"  # no agent took it in time
INSTANCE_RELEASED = "instance_released"  # the instance was deregistered
# The agent will not report this task: offline past the task's timeout, or it came back without it.
AGENT_LOST = "agent_lost"
# The task went out to the agent's connection but the agent never confirmed it (no report) well past
# the delivery timeout and the task's own timeout: it may have run, so it cannot end as not run (Aborted).
UNCONFIRMED = "unconfirmed"
EVENTS = (
    DUE, STARTED, REPORTED, STOP, MAX_ERRORS, DELIVERY_TIMEOUT, INSTANCE_RELEASED, AGENT_LOST, UNCONFIRMED,
)  # fmt: skip

_TRANSITIONS: dict[tuple[str, str], str] = {
    (SCHEDULED, DUE): PENDING,
    (PENDING, STARTED): RUNNING,
    # Only a task never sent ends Aborted (DeliveryTimeout), so no agent should report one; if one does
    # (a row aborted before sends were recorded), the agent's word wins.
    (ABORTED, STARTED): RUNNING,
    (PENDING, STOP): CANCELLED,
    (SCHEDULED, STOP): CANCELLED,
    (RUNNING, STOP): STOPPING,
    (STOPPING, STOP): STOPPING,  # stopping again re-sends the stop
    (PENDING, MAX_ERRORS): CANCELLED,
    (PENDING, DELIVERY_TIMEOUT): ABORTED,
    (PENDING, INSTANCE_RELEASED): ABORTED,
    (SCHEDULED, INSTANCE_RELEASED): ABORTED,
    (RUNNING, INSTANCE_RELEASED): ERROR,
    (STOPPING, INSTANCE_RELEASED): ERROR,
    (RUNNING, AGENT_LOST): ERROR,
    (STOPPING, AGENT_LOST): ERROR,
    (PENDING, UNCONFIRMED): ERROR,
}


def transition(current: str, event: str, reported: str = "") -> str | None:
    """The status ``event`` leads to from ``current``, or None when it does not apply there. For
    REPORTED, ``reported`` is the agent's final status: taken from any status an agent report may move
    a result out of (REPORTABLE), never from a final one (a repeated report is only acknowledged)."""
    if event == REPORTED:
        return reported if current in REPORTABLE and reported in AGENT_FINAL else None
    return _TRANSITIONS.get((current, event))


def sources(event: str) -> frozenset[str]:
    """The statuses ``event`` applies to (for the services' bulk updates)."""
    return frozenset(current for current, on in _TRANSITIONS if on == event)


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


def legacy_invoke_status(overall: str, repeat_mode: str = "Once") -> str:
    """The legacy overall ``InvokeStatus`` of DescribeInvocations (section 4.5): a scheduled or reboot task
    is Running until it is stopped (never Finished, Failed or PartialFailed); a one-time task maps its
    overall status."""
    if repeat_mode != "Once" and overall not in ("Stopped", STOPPING):
        return "Running"
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
