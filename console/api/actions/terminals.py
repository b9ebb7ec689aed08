"""Session Manager: StartTerminalSession, DescribeTerminalSessions and EndTerminalSession (reference
section 3.5, Appendix A). The websocket behind ``WebSocketUrl`` is described in docs/terminals.md."""

from typing import Any

from django.conf import settings

from console.api import paging
from console.api.actions.invocations import iso_time
from console.api.actions.registry import action
from console.api.params import Params, invalid, missing, unsupported
from console.iam.principal import Principal
from console.terminals.models import TerminalSession
from console.terminals.selectors import sessions_visible
from console.terminals.services import session_end, session_start

MAX_RESULTS = 100
CONNECTION_TYPES = ("Internet", "Intranet")


def websocket_url(session_id: str, token: str) -> str:
    """Absolute with ASSIST_PUBLIC_URL (http -> ws, https -> wss), else a path on the API's host."""
    path = f"/ws/terminal-sessions/{session_id}/?token={token}"
    base = settings.ASSIST_PUBLIC_URL
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + path
    if base.startswith("http://"):
        return "ws://" + base.removeprefix("http://") + path
    return path


@action("StartTerminalSession")
def start_terminal_session(principal: Principal, params: Params) -> dict[str, Any]:
    """One instance per session. Port forwarding (PortNumber, TargetServer), Windows secrets (PasswordName)
    and KMS encryption are refused; ConnectionType is validated and ignored (there is one endpoint);
    ClientToken is handled by the API layer."""
    region = params.text("RegionId", required=True)
    instance_ids = params.values("InstanceId")
    if not instance_ids:
        raise missing("InstanceId.N")
    if len(instance_ids) > 1:
        raise invalid("InstanceId.N", f"a session connects to one instance; {len(instance_ids)} were given.")
    for name in ("PortNumber", "TargetServer"):
        if params.text(name):
            raise unsupported(name, "Port forwarding is not supported; open a shell (CommandLine) instead.")
    if params.text("PasswordName"):
        raise unsupported("PasswordName", "Windows instances are not supported by terminal sessions.")
    encryption = params.json_object("EncryptionOptions")
    mode = encryption.get("Mode") or "Auto"
    if not isinstance(mode, str) or mode.lower() != "auto" or encryption.get("KMSKeyId"):
        raise unsupported(
            "EncryptionOptions", "Only Mode Auto (TLS to the console, then the agent's TLS) exists."
        )
    params.choice("ConnectionType", CONNECTION_TYPES, default="Internet")
    started = session_start(
        principal=principal,
        region=region,
        instance_id=instance_ids[0],
        username=params.text("Username"),
        command_line=params.text("CommandLine"),
    )
    return {
        "SessionId": started.session.id,
        "SecurityToken": started.token,
        "WebSocketUrl": websocket_url(started.session.id, started.token),
    }


def _session_row(session: TerminalSession) -> dict[str, Any]:
    return {
        "ClientIP": session.client_ip,
        "CreationTime": iso_time(session.created_at),
        "IdentityType": session.identity_type,
        "PortNumber": 0,  # a shell session (port forwarding is not offered); the SDK model wants an int
        "PrincipalId": str(session.user_id or ""),
        "SessionId": session.id,
        "TargetServer": "",
        "Username": session.username,
        "Connections": {
            "Connection": [
                {
                    "ClosedReason": session.closed_reason,
                    "EndTime": iso_time(session.ended_at),
                    "FailedDetail": session.failed_detail,
                    "InstanceId": session.instance_id,
                    "StartTime": iso_time(session.started_at),
                    "Status": session.status,
                }
            ]
        },
    }


@action("DescribeTerminalSessions")
def describe_terminal_sessions(principal: Principal, params: Params) -> dict[str, Any]:
    """The caller's own sessions, and others' on instances where ecs:DescribeTerminalSessions is allowed.
    Token paging only (MaxResults 1-100, default 10)."""
    region = params.text("RegionId", required=True)
    size = params.integer(
        "MaxResults",
        default=paging.DEFAULT_PAGE_SIZE,
        minimum=1,
        maximum=MAX_RESULTS,
        code="InvalidParam.MaxResults",
    )
    page = paging.PageRequest(token_style=True, size=size, next_token=params.text("NextToken"))
    sessions = sessions_visible(principal).filter(region=region)
    if instance_id := params.text("InstanceId"):
        sessions = sessions.filter(instance_id=instance_id)
    if session_id := params.text("SessionId"):
        sessions = sessions.filter(id=session_id)
    rows, page_fields = paging.paginate(sessions, page)
    return {
        "NextToken": page_fields["NextToken"],
        "Sessions": {"Session": [_session_row(row) for row in rows]},
    }


@action("EndTerminalSession")
def end_terminal_session(principal: Principal, params: Params) -> dict[str, Any]:
    region = params.text("RegionId", required=True)
    session_end(principal=principal, session_id=params.text("SessionId", required=True), region=region)
    return {}
