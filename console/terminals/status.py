"""Pure rules of a terminal session's connection status (reference §3.5): Connecting, then Connected when
the agent's shell runs, then Terminated; Failed when it never ran. Final statuses never change."""

CONNECTING = "Connecting"
CONNECTED = "Connected"
TERMINATED = "Terminated"
FAILED = "Failed"
STATUSES = (CONNECTING, CONNECTED, TERMINATED, FAILED)
FINAL = frozenset({TERMINATED, FAILED})

# ClosedReason values: the reference's, plus why a shell ended on its own.
CLIENT_CLOSED = "ClientClosed"
AGENT_SOCKET_CLOSED = "AgentSocketClosed"
AGENT_NOT_ONLINE = "AgentNotOnline"
DELIVERY_TIMEOUT = "DeliveryTimeout"
INSTANCE_NOT_EXISTS = "InstanceNotExists"
PROCESS_EXITED = "ProcessExited"
IDLE_TIMEOUT = "IdleTimeout"
MAX_DURATION = "MaxDuration"
USER_NOT_EXISTS = "UserNotExists"
OPEN_FAILED = "OpenFailed"
ENDED_BY_API = "EndTerminalSession"
TOKEN_EXPIRED = "TokenExpired"  # noqa: S105 - a reason, not a secret

# The agent's session.closed reasons that are ours as they are; AgentStopped is the agent's socket going.
_AGENT_REASONS = {
    "ClientClosed": CLIENT_CLOSED,
    "ProcessExited": PROCESS_EXITED,
    "IdleTimeout": IDLE_TIMEOUT,
    "MaxDuration": MAX_DURATION,
    "AgentStopped": AGENT_SOCKET_CLOSED,
    "AgentSocketClosed": AGENT_SOCKET_CLOSED,
    "UserNotExists": USER_NOT_EXISTS,
    "OpenFailed": OPEN_FAILED,
    "EndTerminalSession": ENDED_BY_API,
}


def is_final(status: str) -> bool:
    return status in FINAL


def closed_reason_of_agent(reason: str) -> str:
    """The ClosedReason stored for an agent's session.closed reason (an unknown one is kept, clipped)."""
    return _AGENT_REASONS.get(reason, reason[:64] or OPEN_FAILED)


def status_after_close(current: str, closed_reason: str) -> str:
    """Where a session goes when it ends: Failed if its shell never ran, else Terminated. A session that is
    already final keeps its status (the first end wins: the client and the agent may both report one)."""
    if is_final(current):
        return current
    if current == CONNECTING and closed_reason != CLIENT_CLOSED and closed_reason != ENDED_BY_API:
        return FAILED
    return TERMINATED


def status_after_open(current: str) -> str:
    """session.opened moves Connecting to Connected; it cannot revive an ended session."""
    return CONNECTED if current == CONNECTING else current
