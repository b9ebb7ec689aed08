"""Every write of terminal sessions, and every permission check on them.

- Opening needs ``ecs:StartTerminalSession`` on the instance, with ``ecs:SessionUsername`` (the login user
  on the machine) in the context. A user other than the default (``ASSIST_TERMINAL_DEFAULT_USER``), root
  included, needs more: the statement that allows it must name the user with a condition on
  ``ecs:SessionUsername`` (a plain ``ecs:*`` allow is not enough). The account's root user may do both.
- Connecting the websocket checks the permission again (it may have been revoked meanwhile) and uses up
  the session's security token: one websocket per session.
- Ending needs ownership or ``ecs:EndTerminalSession``; watching or replaying someone else's session
  needs ``assist:WatchTerminalSession`` on the instance. Another account's session is "not found".
"""

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.audit import services as audit_services
from console.audit.collect import RequestAudit
from console.errors import Forbidden, NotFound, ServiceError
from console.fleet.models import Instance
from console.fleet.selectors import assistant_settings_of, instances_by_ids
from console.iam.authz import authorize, can, decision_for, policies_of
from console.iam.authz import session_policy_of as authz_session_policy_of
from console.iam.models import User
from console.iam.principal import Principal, arn
from console.ids import new_id
from console.invocations import events
from console.terminals import status as st
from console.terminals.models import TerminalSession

logger = logging.getLogger(__name__)

START = "ecs:StartTerminalSession"
END = "ecs:EndTerminalSession"
DESCRIBE = "ecs:DescribeTerminalSessions"
WATCH = "assist:WatchTerminalSession"
SESSION_USERNAME = "ecs:SessionUsername"
MAX_COMMAND_LINE = 512
_USERNAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
# A session must be connected this soon after StartTerminalSession; later its token has expired.
CONNECT_WITHIN = timedelta(minutes=10)
# Flow control: output bytes the agent may have in flight beyond what the client acknowledged.
WINDOW_BYTES = 1024 * 1024


def terminal_group(session_id: str) -> str:
    return f"terminal.{session_id}"


def instance_arn(target: TerminalSession | Instance) -> str:
    """The ARN of the instance (or of the session's instance): what session permissions are checked on."""
    instance_id = target.instance_id if isinstance(target, TerminalSession) else target.id
    return arn(target.account_id, target.region, "instance", instance_id)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(session: TerminalSession, token: str) -> bool:
    return bool(token) and hmac.compare_digest(session.token_hash, _hash(token))


def default_user() -> str:
    return settings.ASSIST_TERMINAL_DEFAULT_USER


def check_username(username: str) -> str:
    if not _USERNAME_RE.fullmatch(username):
        raise ServiceError(
            "InvalidUsername.Malformed",
            f"The specified username {username!r} is not a valid user name "
            "(a letter or _, then letters, digits, _ . -; at most 32 characters).",
        )
    return username


def check_command_line(command_line: str) -> str:
    if len(command_line) > MAX_COMMAND_LINE:
        raise ServiceError(
            "InvalidCommandLine.LengthExceeded",
            f"The specified CommandLine is {len(command_line)} characters long; "
            f"at most {MAX_COMMAND_LINE} are allowed.",
        )
    if "\x00" in command_line:
        raise ServiceError(
            "InvalidCommandLine.Malformed", "The specified CommandLine contains a NUL character."
        )
    return command_line


def _statement_names_the_user(principal: Principal, resource: str, username: str) -> bool:
    """Whether a statement that allows this start has a condition on ecs:SessionUsername."""
    decision = decision_for(principal, START, [resource], {SESSION_USERNAME: username})
    if not decision.allowed:
        return False
    session_policy = authz_session_policy_of(principal)
    pooled = [*policies_of(principal), *([session_policy] if session_policy else [])]
    attached = {(a.name, a.attached): a.policy for a in pooled}
    for hit in decision.matched:
        policy = attached.get((hit.policy, hit.attached))
        if hit.effect != "Allow" or policy is None:
            continue
        for statement in policy.statements:
            if statement.index == hit.statement and any(
                condition.key.lower() == SESSION_USERNAME.lower() for condition in statement.conditions
            ):
                return True
    return False


def authorize_start(principal: Principal, instance: Instance, username: str) -> None:
    resource = instance_arn(instance)
    authorize(principal, START, [resource], {SESSION_USERNAME: username})
    if principal.is_root or username == default_user():
        return
    if not _statement_names_the_user(principal, resource, username):
        message = (
            f"User not authorized to open a terminal as {username!r} on {resource}: a user other than "
            f"{default_user()!r} must be named by the allowing statement (condition on {SESSION_USERNAME})."
        )
        audit_services.access_denied_record(principal, START, resource, message)
        raise Forbidden("Forbidden.RAM", message)


@dataclass(frozen=True)
class StartedSession:
    session: TerminalSession
    token: str  # returned once; only its hash is stored


def session_start(
    *,
    principal: Principal,
    instance_id: str,
    region: str = "",
    username: str = "",
    command_line: str = "",
    client_ip: str = "",
) -> StartedSession:
    region = region or settings.ASSIST_REGION
    username = check_username(username or default_user())
    command_line = check_command_line(command_line)
    (instance,) = instances_by_ids(principal, region=region, instance_ids=[instance_id])
    authorize_start(principal, instance, username)
    if not assistant_settings_of(principal.account_id).session_manager_enabled:
        raise Forbidden(
            "SessionManager.Disabled",
            "Terminal sessions are turned off for this account: turn them on with "
            'ModifyCloudAssistantSettings (SessionManagerConfig {"SessionManagerEnabled": true}).',
        )
    token = secrets.token_urlsafe(32)
    session = TerminalSession.objects.create(
        id=new_id("s"),
        account_id=principal.account_id,
        region=region,
        instance=instance,
        user_id=principal.user_id,
        principal_name=principal.user_name,
        identity_type=identity_type_of(principal),
        role_session_id=principal.access_key_id if principal.is_role_session else None,
        via=principal.via,
        client_ip=client_ip or principal.source_ip,
        username=username,
        command_line=command_line,
        token_hash=_hash(token),
    )
    return StartedSession(session, token)


def _session_of_account(account_id: str, session_id: str) -> TerminalSession:
    session = (
        TerminalSession.objects.select_related("instance")
        .filter(account_id=account_id, id=session_id)
        .first()
    )
    if session is None:
        raise NotFound("InvalidSessionId.NotFound", f"The specified session does not exist: {session_id}.")
    return session


def identity_type_of(principal: Principal) -> str:
    if principal.is_role_session:
        return "AssumedRoleUser"
    return "Account" if principal.is_root else "RAMUser"


def _owner_principal(
    session: TerminalSession, client_ip: str, audit: RequestAudit | None = None
) -> Principal:
    if session.role_session_id is not None:
        role_session = session.role_session
        if role_session is None or role_session.expires_at <= timezone.now():
            raise Forbidden(
                "Forbidden.RAM", "The role session that opened this terminal session has expired."
            )
        return Principal.for_session(role_session, source_ip=client_ip, audit=audit)
    if session.identity_type == "AssumedRoleUser":  # its role session is gone (deleted with its role)
        raise Forbidden(
            "Forbidden.RAM", "The role session that opened this terminal session no longer exists."
        )
    user = User.objects.filter(pk=session.user_id, is_active=True).first()
    if user is None:
        raise Forbidden("Forbidden.RAM", "The user who opened this session no longer exists or is disabled.")
    return Principal.for_user(user, source_ip=client_ip, via=session.via, audit=audit)


@dataclass(frozen=True)
class Connection:
    """What a websocket consumer needs once it may relay a session."""

    session_id: str
    instance_id: str
    open_frame: dict  # SessionOpen fields, minus cols/rows (the client gives them)


def session_connect(
    *,
    session_id: str,
    principal: Principal | None = None,
    token: str = "",
    client_ip: str = "",
    audit: RequestAudit | None = None,
) -> Connection:
    """Admit the one websocket of a session: by the owner's login (``principal``) or by its security
    token. Raises NotFound (4404), Forbidden (4403), ServiceError AuthFailed (4401) or
    InvalidSession.State (4409). ``audit`` collects the permission refusals of the owner's principal for
    the consumer's one record of the refused connection."""
    if principal is not None:
        session = _session_of_account(principal.account_id, session_id)
        if session.user_id != principal.user_id:
            raise Forbidden("Forbidden.NotOwner", "Only the user who opened a session can type into it.")
    else:
        session = TerminalSession.objects.select_related("instance").filter(id=session_id).first()
        if session is None or not token_matches(session, token):
            raise ServiceError("AuthFailed", "Unknown session or wrong security token.", status=401)
    authorize_start(_owner_principal(session, client_ip, audit), session.instance, session.username)
    if session.instance.deregistered_at is not None:
        _end(session, st.INSTANCE_NOT_EXISTS, "the instance has been deregistered")
        raise ServiceError("InstanceNotExists", "The instance has been deregistered.", status=409)
    if session.token_used_at is None and timezone.now() - session.created_at > CONNECT_WITHIN:
        detail = f"nobody connected within {CONNECT_WITHIN.total_seconds():g} s of the start"
        _end(session, st.TOKEN_EXPIRED, detail)
        raise ServiceError("InvalidSession.Expired", f"The token has expired: {detail}.", status=409)
    used = TerminalSession.objects.filter(
        pk=session.pk, token_used_at__isnull=True, status=st.CONNECTING
    ).update(token_used_at=timezone.now(), client_ip=client_ip or session.client_ip)
    if not used:
        raise ServiceError(
            "InvalidSession.State", "This session is already connected or has ended.", status=409
        )
    if not session.instance.is_online:
        _end(session, st.AGENT_NOT_ONLINE, "the instance's agent is not connected")
        raise ServiceError("AgentNotOnline", "The instance's agent is not connected.", status=409)
    return Connection(
        session_id=session.id,
        instance_id=session.instance_id,
        open_frame={
            "session_id": session.id,
            "username": session.username,
            "create_user": session.username == default_user(),
            "command_line": session.command_line,
            "idle_timeout": float(settings.ASSIST_TERMINAL_IDLE_TIMEOUT),
            "max_duration": float(settings.ASSIST_TERMINAL_MAX_DURATION),
            "window": WINDOW_BYTES,
        },
    )


def session_watch(*, principal: Principal, session_id: str) -> TerminalSession:
    """A session someone may watch live or replay: their own, or with assist:WatchTerminalSession."""
    session = _session_of_account(principal.account_id, session_id)
    if session.user_id != principal.user_id:
        authorize(principal, WATCH, [instance_arn(session)])
    return session


def session_opened(*, session_id: str, instance_id: str) -> bool:
    """The agent runs the shell. False when the session is not (any more) one to open."""
    session = TerminalSession.objects.filter(id=session_id, instance_id=instance_id).first()
    if session is None or st.status_after_open(session.status) != st.CONNECTED or session.is_final:
        return False
    TerminalSession.objects.filter(pk=session.pk, status=st.CONNECTING).update(
        status=st.CONNECTED, started_at=timezone.now()
    )
    return True


def session_closed(
    *,
    session_id: str,
    instance_id: str | None,
    closed_reason: str,
    detail: str = "",
    exit_code: int | None = None,
) -> TerminalSession | None:
    """The session ended (agent report, client gone, agent gone, ...). The first end wins."""
    rows = TerminalSession.objects.select_related("instance").filter(id=session_id)
    if instance_id is not None:
        rows = rows.filter(instance_id=instance_id)
    session = rows.first()
    if session is None or session.is_final:
        return None
    return _end(session, closed_reason, detail, exit_code)


def recording_measured(*, session_id: str, size: int, truncated: bool) -> None:
    TerminalSession.objects.filter(id=session_id).update(recording_bytes=size, recording_truncated=truncated)


def _end(
    session: TerminalSession, closed_reason: str, detail: str = "", exit_code: int | None = None
) -> TerminalSession | None:
    status = st.status_after_close(session.status, closed_reason)
    now = timezone.now()
    changed = TerminalSession.objects.filter(pk=session.pk, status=session.status).update(
        status=status,
        closed_reason=closed_reason,
        failed_detail=detail[:512],
        exit_code=exit_code,
        ended_at=now,
    )
    if not changed:
        return None
    session.status, session.closed_reason, session.failed_detail = status, closed_reason, detail[:512]
    session.exit_code, session.ended_at = exit_code, now
    _audit_end(session)
    return session


AUDIT_IDENTITY_TYPES = {"Account": "root-account", "RAMUser": "ram-user", "AssumedRoleUser": "assumed-role"}


def audit_identity(session: TerminalSession) -> audit_services.Identity:
    return audit_services.Identity(
        account_id=session.account_id,
        identity_type=AUDIT_IDENTITY_TYPES.get(session.identity_type, "ram-user"),
        principal_id=str(session.user_id or ""),
        user_name=session.principal_name,
    )


def _audit_end(session: TerminalSession) -> None:
    duration = session.duration_seconds
    audit_services.audit_event_record(
        identity=audit_identity(session),
        event_name="TerminalSessionEnded",
        event_type="ApiCall" if session.via == "api" else "ConsoleCall",
        source="websocket",
        outcome=audit_services.Outcome(
            success=session.status == st.TERMINATED,
            error_code="" if session.status == st.TERMINATED else session.closed_reason,
            error_message=session.failed_detail,
        ),
        source_ip=session.client_ip,
        request_parameters={
            "SessionId": session.id,
            "InstanceId": session.instance_id,
            "Username": session.username,
            "Status": session.status,
            "ClosedReason": session.closed_reason,
            "StartTime": session.started_at.isoformat() if session.started_at else "",
            "EndTime": session.ended_at.isoformat() if session.ended_at else "",
            "DurationSeconds": round(duration, 3) if duration is not None else None,
        },
        resources=[instance_arn(session), arn(session.account_id, session.region, "session", session.id)],
    )


def audit_connect(*, session_id: str, client_ip: str) -> None:
    session = TerminalSession.objects.filter(id=session_id).first()
    if session is None:
        return
    audit_services.audit_event_record(
        identity=audit_identity(session),
        event_name="TerminalSessionConnected",
        event_type="ApiCall" if session.via == "api" else "ConsoleCall",
        source="websocket",
        outcome=audit_services.Outcome(success=True),
        source_ip=client_ip,
        request_parameters={
            "SessionId": session.id,
            "InstanceId": session.instance_id,
            "Username": session.username,
            "CommandLine": session.command_line,
        },
        resources=[instance_arn(session), arn(session.account_id, session.region, "session", session.id)],
    )


def session_end(*, principal: Principal, session_id: str, region: str = "") -> TerminalSession:
    """EndTerminalSession, and the console's "End" button: the owner, or ecs:EndTerminalSession."""
    session = _session_of_account(principal.account_id, session_id)
    if region and session.region != region:
        raise NotFound("InvalidSessionId.NotFound", f"The specified session does not exist: {session_id}.")
    if session.user_id != principal.user_id:
        authorize(principal, END, [instance_arn(session)])
    if session.is_final:
        return session
    ended = _end(session, st.ENDED_BY_API, f"ended by {principal.user_name}")
    instance_id = session.instance_id
    transaction.on_commit(lambda: ring_end(session_id, instance_id, st.ENDED_BY_API))
    return ended or session


def ring_end(session_id: str, instance_id: str, reason: str) -> None:
    """Tell the agent to kill the shell and the client that the session is over."""
    from assist_agent import protocol

    layer = get_channel_layer()
    if layer is None:
        return
    frame = protocol.encode(protocol.SessionClose(session_id=session_id, reason=reason))
    try:
        async_to_sync(layer.group_send)(
            events.agent_group(instance_id), {"type": "terminal.to_agent", "frame": frame}
        )
        async_to_sync(layer.group_send)(
            terminal_group(session_id),
            {"type": "terminal.closed", "reason": reason, "detail": "", "exit_code": None},
        )
    except Exception:  # the agent also ends it when the connection drops; never fail the request for this
        logger.exception("session %s: could not ring its end", session_id)


def can_watch(principal: Principal, session: TerminalSession) -> bool:
    return session.user_id == principal.user_id or can(principal, WATCH, [instance_arn(session)])


def sessions_of_instance_end(*, instance_id: str) -> int:
    """The instance's agent connected anew: the sessions its previous connection relayed are over."""
    stale = TerminalSession.objects.select_related("instance").filter(
        instance_id=instance_id, status__in=(st.CONNECTING, st.CONNECTED), token_used_at__isnull=False
    )
    ended = 0
    for session in stale:
        if (
            _end(session, st.AGENT_SOCKET_CLOSED, "the agent reconnected; its earlier sessions ended")
            is not None
        ):
            ended += 1
    return ended
