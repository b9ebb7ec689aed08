"""Per-access-key rate limit on the RPC API, kept by the ``limits`` library.

With Redis configured every web node counts in the same Redis, so the limit holds for the whole
deployment; the embedded default counts in memory (one process). A refused call answers the original's
``Throttling.User`` with the ``x-acs-retry-after`` header (milliseconds, as the official SDK's retry
policy reads it), so the SDK raises ``ThrottlingException`` and can back off by itself.
"""

import math
import time
from functools import lru_cache

# Imported here, at start-up: `limits` reads redis.__version__ the first time a Redis limiter is built,
# and in a request thread racing another thread's first import of redis it read a half-imported module
# ("minimum version of 3.0 for 'redis' ... Found version: 0.0.0", a 500 on the first API calls).
import redis  # noqa: F401
from django.conf import settings
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import RateLimiter, SlidingWindowCounterRateLimiter

from console.errors import ServiceError

THROTTLED_MESSAGE = "Request was denied due to user flow control."


class Throttled(ServiceError):
    def __init__(self, retry_after_ms: int) -> None:
        super().__init__("Throttling.User", THROTTLED_MESSAGE, status=400)
        self.retry_after_ms = retry_after_ms


@lru_cache(maxsize=1)
def _limiter(storage_uri: str) -> RateLimiter:
    return SlidingWindowCounterRateLimiter(storage_from_string(storage_uri))


@lru_cache(maxsize=8)
def _limits(spec: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(spec)) if spec.strip() else ()


def _storage_uri() -> str:
    return settings.REDIS_URL or "memory://"


def throttle(access_key_id: str) -> None:
    """Count one call for ``access_key_id``; raise ``Throttled`` when any configured limit is used up."""
    limits = _limits(settings.ASSIST_API_RATE_LIMIT)
    if not limits or not access_key_id:
        return
    limiter = _limiter(_storage_uri())
    for limit in limits:
        if not limiter.hit(limit, "assist-api", access_key_id):
            reset_at = limiter.get_window_stats(limit, "assist-api", access_key_id).reset_time
            raise Throttled(retry_after_ms=max(1, math.ceil((reset_at - time.time()) * 1000)))
