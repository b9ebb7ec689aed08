"""The agent's pure-Python Ed25519 verifier: RFC 8032 section 7.1 vectors, and agreement with
``cryptography`` (OpenSSL) on keys, messages and tampering it never saw."""

from __future__ import annotations

import os

import pytest
from assist_agent import ed25519
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# RFC 8032, 7.1: (secret key, public key, message, signature), hex.
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors_verify(secret: str, public: str, message: str, signature: str) -> None:
    pub, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    assert ed25519.verify(pub, msg, sig)
    # The vectors are what OpenSSL makes from the same secret key.
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == pub
    assert key.sign(msg) == sig


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors_tampered_fail(secret: str, public: str, message: str, signature: str) -> None:
    pub, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    assert not ed25519.verify(pub, msg + b"x", sig)
    flipped_r = bytes([sig[0] ^ 1]) + sig[1:]
    flipped_s = sig[:40] + bytes([sig[40] ^ 0x80]) + sig[41:]
    assert not ed25519.verify(pub, msg, flipped_r)
    assert not ed25519.verify(pub, msg, flipped_s)
    other = bytes.fromhex(RFC8032[(RFC8032.index((secret, public, message, signature)) + 1) % 3][1])
    assert not ed25519.verify(other, msg, sig)


def test_agrees_with_cryptography_on_random_keys_and_messages() -> None:
    for size in (0, 1, 31, 64, 1000, 100_000):
        key = Ed25519PrivateKey.generate()
        pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        message = os.urandom(size)
        signature = key.sign(message)
        assert ed25519.verify(pub, message, signature)
        if size:
            changed = bytes([message[0] ^ 0xFF]) + message[1:]
            assert not ed25519.verify(pub, changed, signature)


def test_malformed_inputs_are_refused_not_raised() -> None:
    pub, _, sig = (bytes.fromhex(v) for v in RFC8032[0][1:2] + ("",) + RFC8032[0][3:4])
    assert not ed25519.verify(pub[:31], b"", sig)
    assert not ed25519.verify(pub, b"", sig[:63])
    assert not ed25519.verify(b"\xff" * 32, b"", sig)  # y >= p: not a point
    s_too_big = sig[:32] + (ed25519.q).to_bytes(32, "little")
    assert not ed25519.verify(pub, b"", s_too_big)


def test_public_key_from_pem_reads_what_cryptography_writes() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert ed25519.public_key_from_pem(pem) == key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    with pytest.raises(ed25519.InvalidKey):
        ed25519.public_key_from_pem("not a key")
    with pytest.raises(ed25519.InvalidKey):
        ed25519.public_key_from_pem(pem.replace("PUBLIC KEY", "PRIVATE KEY"))
    rsa_like = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VxAyEAAAAA\n-----END PUBLIC KEY-----\n"
    with pytest.raises(ed25519.InvalidKey):
        ed25519.public_key_from_pem(rsa_like)
