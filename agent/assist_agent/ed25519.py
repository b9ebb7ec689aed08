"""Ed25519 signature verification in pure Python (RFC 8032 section 6, verify only).

The agent is stdlib-only, and it must check that an update it downloaded was signed by the console's
release key. This is the RFC's reference code (extended homogeneous coordinates), cut down to what
verification needs; it is not constant-time, which is fine because it only handles public data.
A verification takes a few milliseconds; the message itself is hashed by ``hashlib.sha512``.
"""

from __future__ import annotations

from typing import Tuple

__all__ = ["InvalidKey", "public_key_from_pem", "verify"]

Point = Tuple[int, int, int, int]

p = 2**255 - 19  # the field prime
q = 2**252 + 27742317777372353535851937790883648493  # the group order
d = -121665 * pow(121666, p - 2, p) % p  # the curve constant
modp_sqrt_m1 = pow(2, (p - 1) // 4, p)  # a square root of -1

_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")  # DER SubjectPublicKeyInfo of an Ed25519 key


class InvalidKey(ValueError):
    pass


def _sha512_modq(data: bytes) -> int:
    import hashlib  # here, not at the top: hashlib maps OpenSSL into the agent, needed only to update

    return int.from_bytes(hashlib.sha512(data).digest(), "little") % q


def _point_add(P: Point, Q: Point) -> Point:
    A, B = (P[1] - P[0]) * (Q[1] - Q[0]) % p, (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C, D = 2 * P[3] * Q[3] * d % p, 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % p, G * H % p, F * G % p, E * H % p)


def _point_mul(s: int, P: Point) -> Point:
    Q: Point = (0, 1, 1, 0)  # the neutral element
    while s > 0:
        if s & 1:
            Q = _point_add(Q, P)
        P = _point_add(P, P)
        s >>= 1
    return Q


def _point_equal(P: Point, Q: Point) -> bool:
    # x1 / z1 == x2 / z2  <==>  x1 * z2 == x2 * z1
    if (P[0] * Q[2] - Q[0] * P[2]) % p != 0:
        return False
    return (P[1] * Q[2] - Q[1] * P[2]) % p == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= p:
        return None
    x2 = (y * y - 1) * pow(d * y * y + 1, p - 2, p)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (p + 3) // 8, p)  # a square root candidate
    if (x * x - x2) % p != 0:
        x = x * modp_sqrt_m1 % p
    if (x * x - x2) % p != 0:
        return None
    if (x & 1) != sign:
        x = p - x
    return x


_g_y = 4 * pow(5, p - 2, p) % p
_g_x = _recover_x(_g_y, 0)
assert _g_x is not None
G: Point = (_g_x, _g_y, 1, _g_x * _g_y % p)


def _point_decompress(s: bytes) -> Point | None:
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % p)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` (64 bytes) is ``public``'s (32 bytes) Ed25519 signature of ``message``."""
    if len(public) != 32 or len(signature) != 64:
        return False
    A = _point_decompress(public)
    if A is None:
        return False
    Rs = signature[:32]
    R = _point_decompress(Rs)
    if R is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= q:
        return False
    h = _sha512_modq(Rs + public + message)
    sB = _point_mul(s, G)
    hA = _point_mul(h, A)
    return _point_equal(sB, _point_add(R, hA))


def public_key_from_pem(text: str) -> bytes:
    """The 32 raw bytes of an Ed25519 public key in PEM (``-----BEGIN PUBLIC KEY-----``, as served at
    ``/agent/release-key.pub``). Raises ``InvalidKey``."""
    import base64
    import binascii

    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != "-----BEGIN PUBLIC KEY-----" or lines[-1] != "-----END PUBLIC KEY-----":
        raise InvalidKey("not a PEM public key")
    try:
        der = base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidKey("the PEM body is not Base64") from None
    if len(der) != len(_SPKI_PREFIX) + 32 or not der.startswith(_SPKI_PREFIX):
        raise InvalidKey("not an Ed25519 public key")
    return der[len(_SPKI_PREFIX) :]
