"""Writes of the API layer: the signature-nonce ledger that refuses replayed requests."""

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from console.api.models import UsedNonce
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
