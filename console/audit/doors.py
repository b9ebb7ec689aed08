"""The two doors that record a whole request: the RPC endpoint (``api_call_record``) and every console
HTTP request (``console_request_record``, from ``AuditMiddleware``). Both run after the view returned,
outside its transaction, and never raise."""

import logging
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from console.audit import redact
from console.audit.collect import RequestAudit
from console.audit.services import Identity, Outcome, audit_event_record

logger = logging.getLogger("console.audit")

SIGNIN_VIEW = "login"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Response fields of RPC actions that name what the call created or touched.
_RESPONSE_IDS = ("InvokeId", "CommandId", "ActivationId")


@dataclass
class ApiCall:
    """Filled in by the RPC endpoint as the request is understood; read once at the end."""

    request_id: str
    audit: RequestAudit = field(default_factory=RequestAudit)
    action: str = ""
    params: dict[str, str] = field(default_factory=dict)
    access_key_id: str = ""
    user: Any = None  # the authenticated iam.User
    principal: Any = None  # the authenticated Principal (a user, or a role session of one)
    error_code: str = ""
    error_message: str = ""
    body: dict[str, Any] = field(default_factory=dict)


def _client(request: HttpRequest) -> tuple[str, str]:
    return request.META.get("REMOTE_ADDR", ""), request.headers.get("User-Agent", "")


def _key_owner(access_key_id: str) -> Any:
    from console.iam.models import AccessKey

    if not access_key_id:
        return None
    key = AccessKey.objects.select_related("user").filter(pk=access_key_id).first()
    return None if key is None else key.user


def api_call_record(request: HttpRequest, call: ApiCall, status: int) -> None:
    try:
        user = call.user
        if user is None:  # not authenticated: attribute the attempt to the named key's account, if any
            user = _key_owner(call.access_key_id)
        if call.principal is not None:
            identity = Identity.of_principal(call.principal)
        elif user is not None:
            identity = Identity.of_user(user, call.access_key_id)
        else:
            identity = Identity(account_id="")
        params = {k: v for k, v in call.params.items() if k != "AccessKeyId"}
        referenced = redact.resource_ids(params)
        for name in _RESPONSE_IDS:
            value = call.body.get(name)
            if isinstance(value, str) and value and value not in referenced.setdefault(name, []):
                referenced[name].append(value)
        source_ip, user_agent = _client(request)
        audit_event_record(
            identity=identity,
            event_name=call.action,
            event_type="ApiCall",
            source="api",
            outcome=Outcome(
                success=not call.error_code,
                error_code=call.error_code,
                error_message=call.error_message,
                http_status=status,
                denials=call.audit.denials,
            ),
            source_ip=source_ip,
            user_agent=user_agent,
            request_id=call.request_id,
            request_parameters=redact.redact(params),
            referenced={k: v for k, v in referenced.items() if v},
        )
    except Exception:
        logger.exception("audit: could not record RPC %s", call.action)
    finally:
        call.audit.recorded = True


def _signin(request: HttpRequest, response: Any) -> None:
    from console.iam.models import Account, User

    login_name = request.POST.get("username", "").strip()
    # Logged in by this request: redirected, with the session now holding the user it named (a failed
    # attempt by someone already logged in keeps the old, different or same, user but answers 200).
    current = request.user
    signed_in = response.status_code in (301, 302) and current.is_authenticated
    user = current if signed_in and current.get_username() == login_name else None
    locked = bool(getattr(request, "axes_locked_out", False))
    if user is None:
        name, _, account_name = login_name.rpartition("@")
        account = Account.objects.filter(name=account_name).first() if name else None
        known = User.objects.filter(login_name=login_name).first() if account else None
        identity = (
            Identity.of_user(known)
            if known is not None
            else Identity(account_id=account.pk if account else "", user_name=name[:140])
        )
    else:
        identity = Identity.of_user(user)
    if user is not None:
        outcome = Outcome(success=True, http_status=response.status_code)
    elif locked:
        outcome = Outcome(
            success=False,
            error_code="LoginLocked",
            error_message="Too many failed log-ins for this user from this address.",
            http_status=response.status_code,
        )
    else:
        outcome = Outcome(
            success=False,
            error_code="InvalidCredentials",
            error_message="The user name and password do not match.",
            http_status=response.status_code,
        )
    source_ip, user_agent = _client(request)
    audit_event_record(
        identity=identity,
        event_name="ConsoleSignin",
        event_type="ConsoleSignin",
        source="console",
        outcome=outcome,
        source_ip=source_ip,
        user_agent=user_agent,
        request_parameters={"username": login_name[:140]},
    )


def console_request_record(request: HttpRequest, response: Any, user: Any) -> None:
    """Record a console request that changed state (any unsafe method by a logged-in user), a log-in
    attempt, or any request that a permission check refused. ``user`` is who was logged in before the
    view ran (a log-out ends the session)."""
    try:
        audit: RequestAudit | None = getattr(request, "audit", None)
        if audit is None or audit.recorded:
            return
        match = getattr(request, "resolver_match", None)
        view_name = match.view_name if match is not None else ""
        unsafe = request.method not in SAFE_METHODS
        if unsafe and view_name == SIGNIN_VIEW:
            _signin(request, response)
            return
        authenticated = user is not None and user.is_authenticated
        if not authenticated or not (unsafe or audit.denials):
            return
        status = response.status_code
        failed = status >= 400 or bool(audit.error_code)
        params = redact.redact(request.POST.lists()) if unsafe else redact.redact(request.GET.lists())
        source_ip, user_agent = _client(request)
        url_ids = [f"{k}={v}" for k, v in (match.kwargs.items() if match is not None else [])]
        audit_event_record(
            identity=Identity.of_user(user),
            event_name=audit.event_name or view_name or request.path,
            event_type="ConsoleCall",
            source="console",
            outcome=Outcome(
                success=not failed,
                error_code=audit.error_code,
                error_message=audit.error_message,
                http_status=status,
                denials=audit.denials,
            ),
            source_ip=source_ip,
            user_agent=user_agent,
            request_parameters={"method": request.method, "path": request.path, **params},
            resources=[*audit.resources, *url_ids],
        )
    except Exception:
        logger.exception("audit: could not record console %s %s", request.method, request.path)
