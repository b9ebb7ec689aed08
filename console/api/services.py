"""Writes of the API layer: the signature-nonce ledger that refuses replayed requests, and the
``ClientToken`` ledger that answers a retried request with its first answer instead of running it twice."""

import hashlib
import json
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from console.api.models import ClientTokenUse, UsedNonce
from console.errors import ServiceError

# Pruning runs at most this often per process, on the request path (cheap: one indexed DELETE).
PRUNE_INTERVAL_SECONDS = 60.0
_next_prune = 0.0


def nonce_retention() -> timedelta:
    """How long a nonce must be remembered. A request is accepted while |now - Timestamp| <= window, so a
    replay of a request first seen at ``t`` can pass the timestamp check until ``t + 2 * window``."""
    return timedelta(seconds=2 * settings.ASSIST_SIGNATURE_WINDOW_SECONDS)


def nonce_use(*, access_key_id: str, nonce: str, now: datetime | None = None) -> None:
    """Record ``nonce`` as used by ``access_key_id``; raise SignatureNonceUsed if it already was."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            UsedNonce.objects.create(access_key_id=access_key_id, nonce=nonce, created_at=now)
    except IntegrityError as error:
        raise ServiceError(
            "SignatureNonceUsed", "Specified signature nonce was used already.", status=400
        ) from error
    _maybe_prune(now)


def nonces_prune(*, now: datetime | None = None) -> int:
    """Forget nonces that can no longer be replayed. Returns how many rows were deleted."""
    cutoff = (now or timezone.now()) - nonce_retention()
    deleted, _ = UsedNonce.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _maybe_prune(now: datetime) -> None:
    global _next_prune
    tick = time.monotonic()
    if tick < _next_prune:
        return
    _next_prune = tick + PRUNE_INTERVAL_SECONDS
    nonces_prune(now=now)
    client_tokens_prune(now=now)


# A claimed token whose request never finished (its process died) is taken over after this long; no
# request runs this long, so the first one cannot still be at work.
ABANDONED_CLAIM_AFTER = timedelta(minutes=10)
CLIENT_TOKEN_PARAMETER = "ClientToken"  # noqa: S105 (a parameter name)


def request_fingerprint(params: Mapping[str, str]) -> str:
    """What must match for a retry to count as the same request: every parameter but the token itself
    (signature, nonce and timestamp are not among ``params``; they differ on every retry)."""
    canonical = sorted((name, value) for name, value in params.items() if name != CLIENT_TOKEN_PARAMETER)
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode()).hexdigest()


def client_token_of(params: Mapping[str, str]) -> str:
    """The request's ``ClientToken`` ("" when absent). Printable ASCII, at most 64 characters."""
    token = params.get(CLIENT_TOKEN_PARAMETER, "")
    if token and (len(token) > 64 or not all(" " < char <= "~" for char in token)):
        raise ServiceError(
            "InvalidParameter",
            "The specified parameter ClientToken is not valid: use at most 64 printable ASCII characters.",
        )
    return token


def client_token_claim(
    *, account_id: str, action: str, token: str, request_hash: str, now: datetime | None = None
) -> dict | None:
    """Claim ``token`` for this request and return None, or return the answer its first use produced.

    The same token with other parameters is refused (``IdempotentParameterMismatch``); while the first
    request is still running, a retry is told to wait (``OperationConflict``)."""
    now = now or timezone.now()
    key = {"account_id": account_id, "action": action, "token": token}
    try:
        with transaction.atomic():
            ClientTokenUse.objects.create(**key, request_hash=request_hash, response=None, created_at=now)
        return None
    except IntegrityError:
        pass
    earlier = ClientTokenUse.objects.filter(**key).first()
    if earlier is None:  # pruned or released in between: this request may run
        return client_token_claim(
            account_id=account_id, action=action, token=token, request_hash=request_hash, now=now
        )
    if earlier.request_hash != request_hash:
        raise ServiceError(
            "IdempotentParameterMismatch",
            "Request uses a client token in a previous request but is not identical to that request.",
        )
    if earlier.response is not None:
        return earlier.response
    if now - earlier.created_at > ABANDONED_CLAIM_AFTER:
        taken = ClientTokenUse.objects.filter(
            pk=earlier.pk, response__isnull=True, created_at=earlier.created_at
        )
        if taken.update(created_at=now):
            return None
    raise ServiceError(
        "OperationConflict",
        "A request with the same ClientToken is still being processed; retry in a moment.",
        status=409,
    )


def client_token_complete(*, account_id: str, action: str, token: str, response: dict) -> None:
    ClientTokenUse.objects.filter(account_id=account_id, action=action, token=token).update(response=response)


def client_token_release(*, account_id: str, action: str, token: str) -> None:
    """The request failed: forget the claim, so a retry runs the operation."""
    ClientTokenUse.objects.filter(
        account_id=account_id, action=action, token=token, response__isnull=True
    ).delete()


def client_tokens_prune(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.ASSIST_CLIENT_TOKEN_TTL)
    deleted, _ = ClientTokenUse.objects.filter(created_at__lt=cutoff).delete()
    return deleted
