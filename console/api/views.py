"""The Alibaba-Cloud-compatible RPC endpoint: ``POST /`` (or GET) with an action.

An adapter only: decode the request, authenticate it (``auth``), look the action up in the registry,
call it with the principal and the typed parameters, and render the answer or the error envelope. Every
call, whatever its outcome, is then recorded once in the audit trail (``console.audit.doors``).
"""

import logging
from urllib.parse import parse_qsl

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from console.api import auth, openapi, services
from console.api.actions import lookup
from console.api.actions.registry import ECS_VERSION, VERSIONS, Action
from console.api.params import Params, check_json_parameters
from console.api.render import error_body, respond
from console.api.throttle import Throttled, throttle
from console.audit.collect import RequestAudit
from console.audit.doors import ApiCall, api_call_record
from console.errors import Forbidden, ServiceError
from console.iam.principal import Principal
from console.ids import new_request_id

logger = logging.getLogger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
INTERNAL_ERROR = "The request processing has failed due to some unknown error, exception or failure."


def is_api_request(request: HttpRequest) -> bool:
    """True when the request names an RPC action (query or form ``Action``, or ``x-acs-action``) or is
    signed like one (so a signed request that forgot its action gets an API error, not a login page).
    A request Django refuses to parse (too many parameters, a body over the upload limit) counts when its
    raw query or headers look like the API's, or it is a form POST (the console's own pages never post a
    form to ``/``), so it gets the API's error envelope, not an HTML page or the login redirect."""
    try:
        return _looks_like_api(request)
    except SuspiciousOperation:
        raw = request.META.get("QUERY_STRING", "")
        return bool(
            request.headers.get("x-acs-action")
            or request.headers.get("Authorization", "").startswith("ACS3-")
            or any(f"{name}=" in raw for name in ("Action", "Signature", "AccessKeyId"))
            or (request.method == "POST" and request.content_type == FORM_CONTENT_TYPE)
        )


def _looks_like_api(request: HttpRequest) -> bool:
    if "Action" in request.GET or request.headers.get("x-acs-action"):
        return True
    if "Signature" in request.GET or "AccessKeyId" in request.GET:
        return True
    if request.headers.get("Authorization", "").startswith("ACS3-"):
        return True
    if request.method == "POST" and request.content_type == FORM_CONTENT_TYPE:
        return "Action" in request.POST
    return False


def _check_utf8(raw: bytes, where: str) -> None:
    """Parameters must be UTF-8 (reference section 1.1). Django replaces bad bytes with U+FFFD, which
    would run something other than what was sent (a V3 body is signed as raw bytes, so the signature
    still matches): refuse instead."""
    try:
        parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as error:
        raise ServiceError(
            "InvalidParameter.Encoding",
            f"The {where} is not valid UTF-8 once percent-decoded (at byte {error.start}).",
        ) from error


def _wire(request: HttpRequest) -> auth.WireRequest:
    body = request.body  # read first: the V3 payload hash needs the raw bytes
    # WSGI hands the query over as latin-1 text of the raw bytes (PEP 3333).
    _check_utf8(request.META.get("QUERY_STRING", "").encode("latin-1", errors="replace"), "query string")
    form: dict[str, str] = {}
    if request.method == "POST" and request.content_type == FORM_CONTENT_TYPE:
        _check_utf8(body, "form body")
        form = {name: request.POST[name] for name in request.POST}
    return auth.WireRequest(
        method=request.method or "GET",
        path=request.path,
        query={name: request.GET[name] for name in request.GET},
        form=form,
        headers=request.headers,
        body=body,
    )


def _wants_xml(wire: auth.WireRequest) -> bool:
    """V1 answers in ``Format`` (XML when absent, as documented); V3 always answers JSON."""
    if wire.is_v3:
        return False
    params = wire.params
    fmt = params.get("Format", "").strip().lower()
    if fmt:
        return fmt == "xml"
    return "Signature" in params or "AccessKeyId" in params


def _action_name(wire: auth.WireRequest) -> str:
    # V3 signs the x-acs-* headers (auth requires it); V1 signs only the query, so V1 uses the query.
    name = (wire.headers.get("x-acs-action") if wire.is_v3 else None) or wire.params.get("Action", "")
    if not name:
        raise ServiceError(
            "MissingParameter.Action",
            'The input parameter "Action" that is mandatory for processing this request is not supplied.',
        )
    return name


def _check_version(wire: auth.WireRequest, action_name: str) -> None:
    version = (wire.headers.get("x-acs-version") if wire.is_v3 else None) or wire.params.get("Version", "")
    if not version:
        raise ServiceError(
            "MissingParameter.Version",
            'The input parameter "Version" that is mandatory for processing this request is not supplied.',
        )
    expected = VERSIONS.get(action_name, ECS_VERSION)
    if version != expected:
        raise ServiceError(
            "InvalidVersion",
            f"Specified parameter Version is not valid: {version!r} ({action_name} is {expected}).",
        )


def _run_once(action_name: str, action: Action, principal: Principal, raw_params: dict[str, str]) -> dict:
    """Run the action, or, for a retry carrying an already answered ``ClientToken``, answer as the first
    request was answered (without running the operation again)."""
    token = services.client_token_of(raw_params)
    if not token:
        return action(principal, Params(raw_params))
    claim = {"account_id": principal.account_id, "action": action_name, "token": token}
    earlier = services.client_token_claim(**claim, request_hash=services.request_fingerprint(raw_params))
    if earlier is not None:
        return earlier
    try:
        body = action(principal, Params(raw_params))
    except BaseException:
        services.client_token_release(**claim)
        raise
    services.client_token_complete(**claim, response=body)
    return body


def _host_id(request: HttpRequest) -> str:
    try:
        return request.get_host()
    except SuspiciousOperation:
        return ""


@csrf_exempt
def rpc_endpoint(request: HttpRequest) -> HttpResponse:
    """Serve one call and record it in the audit trail (outcome, refusals, redacted parameters)."""
    call = ApiCall(request_id=new_request_id(), audit=getattr(request, "audit", None) or RequestAudit())
    response = _serve(request, call)
    api_call_record(request, call, response.status_code)
    return response


def _serve(request: HttpRequest, call: ApiCall) -> HttpResponse:
    request_id = call.request_id
    xml_root: str | None = None
    action_name = ""
    try:
        try:
            wire = _wire(request)
        except SuspiciousOperation as error:
            raise ServiceError("InvalidParameter", f"The request could not be read: {error}") from error
        call.params = wire.params
        call.access_key_id = auth.claimed_access_key_id(wire)
        xml_root = "Error" if _wants_xml(wire) else None
        if wire.method not in ("GET", "POST"):
            raise Forbidden("UnsupportedHTTPMethod", f"The HTTP method {wire.method} is not supported.")
        action_name = call.action = _action_name(wire)
        _check_version(wire, action_name)
        action = lookup(action_name)
        if action is None:
            raise Forbidden("InvalidAction", f"Specified action {action_name!r} is not valid.")
        caller = auth.authenticate(wire)
        call.user = caller.user
        source = {"source_ip": request.META.get("REMOTE_ADDR", ""), "secure": request.is_secure()}
        if caller.session is not None:
            principal = Principal.for_session(caller.session, **source, audit=call.audit)
        else:
            principal = Principal.for_user(
                caller.user, **source, via="api", access_key_id=call.access_key_id, audit=call.audit
            )
        throttle(call.access_key_id)
        call.principal = principal
        raw_params = {k: v for k, v in wire.params.items() if k not in auth.V1_COMMON}
        check_json_parameters(raw_params)
        body = call.body = _run_once(action_name, action, principal, raw_params)
        return respond(
            {"RequestId": request_id, **body},
            status=200,
            xml_root=None if xml_root is None else f"{action_name}Response",
        )
    except ServiceError as error:
        call.error_code, call.error_message = error.code, error.message
        response = respond(
            error_body(error, request_id, _host_id(request)), status=error.status, xml_root=xml_root
        )
        if isinstance(error, Throttled):
            response["x-acs-retry-after"] = str(error.retry_after_ms)
        return response
    except Exception:
        logger.exception("RPC %s failed (RequestId %s)", action_name or "?", request_id)
        internal = ServiceError("InternalError", INTERNAL_ERROR, status=500)
        call.error_code, call.error_message = internal.code, internal.message
        return respond(error_body(internal, request_id, _host_id(request)), status=500, xml_root=xml_root)


def openapi_document(request: HttpRequest) -> JsonResponse:
    """``GET /api/openapi.json``: the OpenAPI document of every operation this server answers (public: it
    describes the API, it holds no data)."""
    return JsonResponse(openapi.document(request.build_absolute_uri("/")), json_dumps_params={"indent": 1})
