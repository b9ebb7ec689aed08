"""Who sent an RPC request: signature V1 (query) or V3 (Authorization header), timestamp window and nonce.

Order of checks: the signature fields are complete, the access key exists and is active, the signature
matches, the timestamp is inside the window, and only then the nonce is recorded (so nobody without the
secret can fill the nonce table). Every failure is a ServiceError with the original's code.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from console.api import services, signatures
from console.errors import Forbidden, ServiceError
from console.iam import sts
from console.iam.models import AccessKey, RoleSession, User
from console.iam.services import access_key_secret

# Common and signature parameters of V1; they are not operation parameters.
V1_COMMON = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "AccessKeyId",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "SignatureType",
        "Timestamp",
        "Signature",
        "SecurityToken",
        "BearerToken",
    }
)
MAX_NONCE_LENGTH = 128
SIGNATURE_MISMATCH = "Specified signature is not matched with our calculation. server string to sign is:"


@dataclass(frozen=True)
class WireRequest:
    """What authentication needs from an HTTP request, already decoded (``+`` in the query is a space)."""

    method: str
    path: str
    query: Mapping[str, str]
    form: Mapping[str, str]
    headers: Mapping[str, str]  # looked up case-insensitively by the caller's mapping (Django HttpHeaders)
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        """Query and form parameters; a form value wins, as in the legacy SDK's signed set."""
        return {**self.query, **self.form}

    @property
    def is_v3(self) -> bool:
        return self.headers.get("Authorization", "").strip().startswith("ACS3-")


def incomplete(detail: str) -> ServiceError:
    return ServiceError(
        "IncompleteSignature", f"The request signature does not conform to Aliyun standards. {detail}"
    )


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise ServiceError(
            f"MissingParameter.{name}",
            f'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
        )
    return value


def _active_key(access_key_id: str) -> AccessKey:
    key = AccessKey.objects.select_related("user").filter(pk=access_key_id).first()
    if key is None:
        raise ServiceError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", status=400)
    if not key.is_active or not key.user.is_active:
        raise Forbidden("InvalidAccessKeyId.Inactive", "Specified access key is disabled.")
    return key


def parse_timestamp(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ServiceError(
            "InvalidTimeStamp.Format",
            f'The specified parameter "{name}" is not valid: {value!r} is not a UTC time in ISO 8601 '
            "(yyyy-MM-ddTHH:mm:ssZ).",
        )
    return parsed


def check_window(stamp: datetime, now: datetime) -> None:
    window = timedelta(seconds=settings.ASSIST_SIGNATURE_WINDOW_SECONDS)
    if abs(now - stamp) > window:
        raise ServiceError(
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired: "
            f"{stamp.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} is more than "
            f"{settings.ASSIST_SIGNATURE_WINDOW_SECONDS // 60} minutes away from the server time "
            f"{now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}.",
        )


def _check_nonce_shape(nonce: str) -> None:
    if len(nonce) > MAX_NONCE_LENGTH:
        raise incomplete(f"The signature nonce must be at most {MAX_NONCE_LENGTH} characters.")


def claimed_access_key_id(wire: WireRequest) -> str:
    """The access key id the request names (not yet verified), for the audit trail; "" if none."""
    if wire.is_v3:
        try:
            return signatures.parse_v3_authorization(wire.headers.get("Authorization", "")).access_key_id
        except signatures.AuthorizationHeaderError:
            return ""
    return wire.params.get("AccessKeyId", "")[:64]


@dataclass(frozen=True)
class Caller:
    """Who signed: the user, and the role session when the key is temporary (``STS.``)."""

    user: User
    session: RoleSession | None = None


def _credentials(access_key_id: str, security_token: str, now: datetime) -> tuple[str, Caller]:
    """The secret that must have signed the request, and who it belongs to."""
    if access_key_id.startswith("STS."):
        session = sts.session_authenticate(
            access_key_id=access_key_id, security_token=security_token, now=now
        )
        return sts.session_secret(session), Caller(user=session.user, session=session)
    key = _active_key(access_key_id)
    return access_key_secret(access_key=key), Caller(user=key.user)


def authenticate(wire: WireRequest, *, now: datetime | None = None) -> Caller:
    """Who signed ``wire`` (an active user's key, or a live role session's); records the nonce as used."""
    now = now or timezone.now()
    if wire.is_v3:
        return _authenticate_v3(wire, now)
    return _authenticate_v1(wire, now)


def _authenticate_v1(wire: WireRequest, now: datetime) -> Caller:
    params = wire.params
    access_key_id = _required(params, "AccessKeyId")
    signature = params.get("Signature", "")
    if not signature:
        raise incomplete("The Signature parameter is missing.")
    if params.get("SignatureMethod", "") != "HMAC-SHA1":
        raise incomplete("SignatureMethod must be HMAC-SHA1.")
    if params.get("SignatureVersion", "") != "1.0":
        raise incomplete("SignatureVersion must be 1.0.")
    if params.get("SignatureType", ""):
        raise incomplete(f"SignatureType {params['SignatureType']!r} is not supported.")
    stamp = parse_timestamp(_required(params, "Timestamp"), "Timestamp")
    nonce = _required(params, "SignatureNonce")
    _check_nonce_shape(nonce)
    secret, caller = _credentials(access_key_id, params.get("SecurityToken", ""), now)
    if not signatures.v1_verify(secret, wire.method, params, signature):
        raise ServiceError(
            "SignatureDoesNotMatch", SIGNATURE_MISMATCH + signatures.v1_string_to_sign(wire.method, params)
        )
    check_window(stamp, now)
    services.nonce_use(access_key_id=access_key_id, nonce=nonce, now=now)
    return caller


def _authenticate_v3(wire: WireRequest, now: datetime) -> Caller:
    try:
        authorization = signatures.parse_v3_authorization(wire.headers.get("Authorization", ""))
    except signatures.AuthorizationHeaderError as error:
        raise incomplete(str(error)) from error
    signed = set(authorization.signed_headers)
    for name in ("x-acs-date", "x-acs-signature-nonce", "x-acs-action", "x-acs-version"):
        present = wire.headers.get(name) is not None
        if name in ("x-acs-date", "x-acs-signature-nonce") and not wire.headers.get(name):
            raise incomplete(f"The {name} header is required.")
        if present and name not in signed:
            raise incomplete(f"SignedHeaders must include {name}.")
    missing = sorted(name for name in signed if wire.headers.get(name) is None)
    if missing:
        raise incomplete(f"Signed header(s) not in the request: {', '.join(missing)}.")
    stamp = parse_timestamp(wire.headers.get("x-acs-date", ""), "x-acs-date")
    nonce = wire.headers.get("x-acs-signature-nonce", "")
    _check_nonce_shape(nonce)
    secret, caller = _credentials(
        authorization.access_key_id, wire.headers.get("x-acs-security-token", ""), now
    )
    headers = {name: wire.headers.get(name, "") for name in signed}
    payload_hash = signatures.payload_sha256(wire.body)
    if not signatures.v3_verify(
        secret, wire.method, wire.path, wire.query, headers, signed, payload_hash, authorization.signature
    ):
        string_to_sign = signatures.v3_string_to_sign(
            wire.method, wire.path, wire.query, headers, signed, payload_hash
        )
        raise ServiceError("SignatureDoesNotMatch", SIGNATURE_MISMATCH + string_to_sign)
    check_window(stamp, now)
    services.nonce_use(access_key_id=authorization.access_key_id, nonce=nonce, now=now)
    return caller
