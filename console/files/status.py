"""Status rules of file transfers (SendFile): pure functions, no I/O.

Per-instance statuses and the overall rule follow reference section 4.5 ("SendFile"): Pending if any
instance is Pending, else Running if any is Running, else Success if all succeeded, Failed if all failed,
PartialFailed for a mix.
"""

from collections.abc import Iterable

PENDING = "Pending"
INVALID = "Invalid"
RUNNING = "Running"
ABORTED = "Aborted"
SUCCESS = "Success"
FAILED = "Failed"
ERROR = "Error"
TIMEOUT = "Timeout"
PARTIAL_FAILED = "PartialFailed"

INSTANCE_STATUSES = (PENDING, INVALID, RUNNING, ABORTED, SUCCESS, FAILED, ERROR, TIMEOUT)
OVERALL_STATUSES = (PENDING, RUNNING, SUCCESS, FAILED, PARTIAL_FAILED)

FAILED_LIKE = frozenset({INVALID, ABORTED, FAILED, TIMEOUT, ERROR})
FINAL = FAILED_LIKE | {SUCCESS}
LIVE = frozenset({PENDING, RUNNING})
# What an agent may report (file.result).
AGENT_FINAL = frozenset({SUCCESS, FAILED, ERROR, TIMEOUT, INVALID})


def overall_status(statuses: Iterable[str]) -> str:
    """The transfer's status from its instances' statuses. No instance at all counts as Pending."""
    seen = set(statuses)
    if not seen or PENDING in seen:
        return PENDING
    if RUNNING in seen:
        return RUNNING
    unknown = seen - FINAL
    if unknown:
        raise ValueError(f"not a file transfer status: {', '.join(sorted(unknown))}")
    if seen == {SUCCESS}:
        return SUCCESS
    if SUCCESS not in seen:
        return FAILED
    return PARTIAL_FAILED


def is_final(status: str) -> bool:
    return status in FINAL
