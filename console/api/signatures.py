"""Request signatures of the Alibaba Cloud RPC API: pure functions, no Django, no I/O.

Two schemes (reference/cloud-assistant-api.md sections 1.3 and 1.4):

- V1, HMAC-SHA1 over the sorted, RFC 3986-encoded query (``Signature`` parameter);
- V3, ACS3-HMAC-SHA256 over a canonical request (``Authorization`` header).

Callers hand in parameters already decoded with form semantics (``+`` is a space), as Django's
``QueryDict`` does; this module re-encodes them the one way the signer did.
"""

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

V3_ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8 text: ``A-Z a-z 0-9 - _ . ~`` stay, every other byte is ``%XY``."""
    return quote(value, safe="~", encoding="utf-8")


# --- V1 (HMAC-SHA1) -------------------------------------------------------------------------------


def v1_canonical_query(params: Mapping[str, str]) -> str:
    """Sorted ``k=v`` pairs joined by ``&``; ``Signature`` itself is never signed."""
    pairs = sorted((name, value) for name, value in params.items() if name != "Signature")
    return "&".join(f"{percent_encode(name)}={percent_encode(value)}" for name, value in pairs)


def v1_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(v1_canonical_query(params))}"


def v1_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    key = (secret + "&").encode("utf-8")
    digest = hmac.new(key, v1_string_to_sign(method, params).encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def v1_verify(secret: str, method: str, params: Mapping[str, str], signature: str) -> bool:
    expected = v1_signature(secret, method, params)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8"))


# --- V3 (ACS3-HMAC-SHA256) ------------------------------------------------------------------------


def v3_canonical_query(query: Mapping[str, str], *, encode_names: bool = True) -> str:
    """Sorted ``name=pct(value)``. The docs encode names too; the Python SDK does not (it only matters
    for names outside ``A-Za-z0-9-_.~``, which no operation has)."""
    pairs = sorted(query.items())
    return "&".join(
        f"{percent_encode(name) if encode_names else name}={percent_encode(value)}" for name, value in pairs
    )


def canonical_headers(headers: Mapping[str, str], signed_headers: Iterable[str]) -> str:
    """``name:trimmed value\\n`` for each signed header, sorted by lowercase name."""
    lowered = {name.lower(): value for name, value in headers.items()}
    lines = [
        f"{name}:{lowered.get(name, '').strip()}\n" for name in sorted(h.lower() for h in signed_headers)
    ]
    return "".join(lines)


def canonical_request(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_hash: str,
    *,
    encode_names: bool = True,
) -> str:
    names = sorted(h.lower() for h in signed_headers)
    return "\n".join(
        [
            method.upper(),
            path or "/",
            v3_canonical_query(query, encode_names=encode_names),
            canonical_headers(headers, names),
            ";".join(names),
            payload_hash,
        ]
    )


def v3_string_to_sign(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_hash: str,
    *,
    encode_names: bool = True,
) -> str:
    request = canonical_request(
        method, path, query, headers, signed_headers, payload_hash, encode_names=encode_names
    )
    return f"{V3_ALGORITHM}\n{hashlib.sha256(request.encode('utf-8')).hexdigest()}"


def v3_signature(
    secret: str,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_hash: str,
    *,
    encode_names: bool = True,
) -> str:
    string_to_sign = v3_string_to_sign(
        method, path, query, headers, signed_headers, payload_hash, encode_names=encode_names
    )
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def v3_verify(
    secret: str,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_hash: str,
    signature: str,
) -> bool:
    """True when ``signature`` matches with names encoded (the docs) or left as they are (the SDK)."""
    names = list(signed_headers)
    variants = [True]
    if v3_canonical_query(query, encode_names=True) != v3_canonical_query(query, encode_names=False):
        variants.append(False)
    matched = False
    for encode_names in variants:
        expected = v3_signature(
            secret, method, path, query, headers, names, payload_hash, encode_names=encode_names
        )
        matched |= hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("utf-8"))
    return matched


def payload_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class AuthorizationHeaderError(ValueError):
    """The Authorization header is not ``ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..``."""


@dataclass(frozen=True)
class V3Authorization:
    algorithm: str
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_v3_authorization(header: str) -> V3Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if not algorithm.startswith("ACS3-"):
        raise AuthorizationHeaderError("The Authorization header does not start with an ACS3 algorithm name.")
    if algorithm != V3_ALGORITHM:
        raise AuthorizationHeaderError(
            f"The signature algorithm {algorithm} is not supported; use {V3_ALGORITHM}."
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or not name:
            raise AuthorizationHeaderError(f"Malformed Authorization field {part.strip()!r}.")
        if name in fields:
            raise AuthorizationHeaderError(f"The Authorization field {name} is repeated.")
        fields[name] = value.strip()
    for required in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(required):
            raise AuthorizationHeaderError(f"The Authorization header has no {required}.")
    unknown = sorted(set(fields) - {"Credential", "SignedHeaders", "Signature"})
    if unknown:
        raise AuthorizationHeaderError(f"Unknown Authorization field(s): {', '.join(unknown)}.")
    signed = tuple(name.strip().lower() for name in fields["SignedHeaders"].split(";"))
    if any(not name for name in signed):
        raise AuthorizationHeaderError("SignedHeaders has an empty header name.")
    signature = fields["Signature"]
    if len(signature) != 64 or any(c not in "0123456789abcdefABCDEF" for c in signature):
        raise AuthorizationHeaderError("Signature must be 64 hexadecimal characters (HMAC-SHA256).")
    return V3Authorization(
        algorithm=algorithm,
        access_key_id=fields["Credential"],
        signed_headers=signed,
        signature=signature.lower(),
    )
