"""The Alibaba-Cloud-compatible RPC endpoint: ``POST /`` (or GET) with an action.

An adapter only: decode the request, authenticate it (``auth``), look the action up in the registry,
call it with the principal and the typed parameters, and render the answer or the error envelope. Every
call, whatever its outcome, is then recorded once in the audit trail (``console.audit.doors``).
"""

import logging

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from console.api import auth
from console.api.actions import lookup
from console.api.params import Params
from console.api.render import error_body, respond
from console.audit.collect import RequestAudit
from console.audit.doors import ApiCall, api_call_record
from console.errors import Forbidden, ServiceError
from console.iam.principal import Principal
from console.ids import new_request_id

logger = logging.getLogger(__name__)

API_VERSION = "2014-05-26"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
INTERNAL_ERROR = "The request processing has failed due to some unknown error, exception or failure."


def is_api_request(request: HttpRequest) -> bool:
    """True when the request names an RPC action (query or form ``Action``, or ``x-acs-action``) or is
    signed like one (so a signed request that forgot its action gets an API error, not a login page)."""
    if "Action" in request.GET or request.headers.get("x-acs-action"):
        return True
    if "Signature" in request.GET or "AccessKeyId" in request.GET:
        return True
    if request.headers.get("Authorization", "").startswith("ACS3-"):
        return True
    if request.method == "POST" and request.content_type == FORM_CONTENT_TYPE:
        return "Action" in request.POST
    return False


def _wire(request: HttpRequest) -> auth.WireRequest:
    body = request.body  # read first: the V3 payload hash needs the raw bytes
    form: dict[str, str] = {}
    if request.method == "POST" and request.content_type == FORM_CONTENT_TYPE:
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


def _check_version(wire: auth.WireRequest) -> None:
    version = (wire.headers.get("x-acs-version") if wire.is_v3 else None) or wire.params.get("Version", "")
    if not version:
        raise ServiceError(
            "MissingParameter.Version",
            'The input parameter "Version" that is mandatory for processing this request is not supplied.',
        )
    if version != API_VERSION:
        raise ServiceError(
            "InvalidVersion",
            f"Specified parameter Version is not valid: {version!r} (this API is {API_VERSION}).",
        )


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
        _check_version(wire)
        action = lookup(action_name)
        if action is None:
            raise Forbidden("InvalidAction", f"Specified action {action_name!r} is not valid.")
        user = call.user = auth.authenticate(wire)
        principal = Principal.for_user(
            user,
            source_ip=request.META.get("REMOTE_ADDR", ""),
            secure=request.is_secure(),
            via="api",
            access_key_id=call.access_key_id,
            audit=call.audit,
        )
        params = Params({k: v for k, v in wire.params.items() if k not in auth.V1_COMMON})
        body = call.body = action(principal, params)
        return respond(
            {"RequestId": request_id, **body},
            status=200,
            xml_root=None if xml_root is None else f"{action_name}Response",
        )
    except ServiceError as error:
        call.error_code, call.error_message = error.code, error.message
        return respond(
            error_body(error, request_id, _host_id(request)), status=error.status, xml_root=xml_root
        )
    except Exception:
        logger.exception("RPC %s failed (RequestId %s)", action_name or "?", request_id)
        internal = ServiceError("InternalError", INTERNAL_ERROR, status=500)
        call.error_code, call.error_message = internal.code, internal.message
        return respond(error_body(internal, request_id, _host_id(request)), status=500, xml_root=xml_root)
