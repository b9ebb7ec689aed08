"""The websocket door: a refused websocket connection (closed with a 44xx code, nothing relayed) is one
event, like a refused RPC call or console request (``doors.py``). Accepted connections are not recorded
here: the terminal services record a session's connection and end themselves; frames never are.

Called from async consumers through ``database_sync_to_async``; never raises.
"""

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from console.audit import redact
from console.audit.collect import RequestAudit
from console.audit.services import Identity, Outcome, audit_event_record

logger = logging.getLogger("console.audit")

# The ids the console's websocket routes take from their path, as the RPC API calls them.
ROUTE_IDS = {"invocation_id": "InvokeId", "session_id": "SessionId"}


def _client(scope: Mapping[str, Any]) -> tuple[str, str]:
    source_ip = (scope.get("client") or [""])[0] or ""
    headers = dict(scope.get("headers") or [])
    return source_ip, headers.get(b"user-agent", b"").decode("latin-1")


def _named_target_identity(route_ids: Mapping[str, str], as_opener: bool) -> Identity:
    """Whoever it was is not known: the attempt is filed under the account of the invocation or terminal
    session it named (as a failed log-in is under the named account), with an empty identity, or not
    stored when it names nothing that exists. ``as_opener``: a terminal session's security token matched,
    so its holder acts as the user who opened the session."""
    from console.invocations.models import Invocation
    from console.terminals import services as terminal_services
    from console.terminals.models import TerminalSession

    account_id = ""
    if "invocation_id" in route_ids:
        invocation = Invocation.objects.filter(pk=route_ids["invocation_id"]).only("account_id").first()
        account_id = invocation.account_id if invocation is not None else ""
    elif "session_id" in route_ids:
        session = TerminalSession.objects.filter(pk=route_ids["session_id"]).first()
        if session is not None and as_opener:
            return terminal_services.audit_identity(session)
        account_id = session.account_id if session is not None else ""
    return Identity(account_id=account_id)


def websocket_refusal_record(
    scope: Mapping[str, Any],
    *,
    event_name: str,
    close_code: int,
    error_code: str,
    error_message: str,
    principal: Any = None,
    user: Any = None,
    audit: RequestAudit | None = None,
    by_token: bool = False,
    as_opener: bool = False,
) -> None:
    """``principal`` (else ``user``, when logged in) is who asked; neither: see ``_named_target_identity``.
    ``audit`` holds what ``authorize`` refused on the way (then the event is marked denied); ``by_token``:
    an API client's route (an ``ApiCall``), else a browser's (a ``ConsoleCall``)."""
    try:
        route_ids = {str(k): str(v) for k, v in ((scope.get("url_route") or {}).get("kwargs") or {}).items()}
        if principal is not None:
            identity = Identity.of_principal(principal)
        elif user is not None and user.is_authenticated:
            identity = Identity.of_user(user)
        else:
            identity = _named_target_identity(route_ids, as_opener)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        params = redact.redact(query.items())  # a security token in the query is redacted by its name
        source_ip, user_agent = _client(scope)
        audit_event_record(
            identity=identity,
            event_name=event_name,
            event_type="ApiCall" if by_token else "ConsoleCall",
            source="websocket",
            outcome=Outcome(
                success=False,
                error_code=error_code,
                error_message=error_message,
                denials=audit.denials if audit is not None else [],
            ),
            source_ip=source_ip,
            user_agent=user_agent,
            request_parameters={"path": scope.get("path", ""), **params},
            resources=[f"{k}={v}" for k, v in route_ids.items()],
            referenced={ROUTE_IDS[k]: [v] for k, v in route_ids.items() if k in ROUTE_IDS},
            additional={"closeCode": close_code},
        )
    except Exception:
        logger.exception("audit: could not record a refused websocket %s", scope.get("path", ""))
