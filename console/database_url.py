"""The database settings for a DATABASE_URL (PostgreSQL in production), with or without a connection pool.

Under ASGI each HTTP request runs its sync code on a thread of its own, so a persistent connection
(CONN_MAX_AGE) is never reused by the next request: console/web/db_connections.py closes it at the end
of the request, and without a pool every API call connects anew (4-10 ms here). So by default
(``ASSIST_DATABASE_POOL=0`` turns it off) a process takes its PostgreSQL connections from a pool of its own
and gives them back when Django closes them (``SHARED_POOL``, console/pg_backend/base.py): a request takes one
that is already open, while the long-lived threads (the websocket consumers' database thread, the report
writer, a Celery worker's) keep theirs for CONN_MAX_AGE as without a pool. The pool also bounds the
process's connections: requests beyond ``ASSIST_DATABASE_POOL_SIZE`` at once wait for one."""

from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

DJANGO_POSTGRESQL = "django.db.backends.postgresql"
# Django's PostgreSQL backend without the health check of a connection that has just served
# (console/pg_backend/base.py).
POSTGRESQL = "console.pg_backend"
POOLABLE_ENGINES = (POSTGRESQL,)
POOL_SWITCH = {"": True, "1": True, "0": False}


def pool_wanted(value: str) -> bool:
    """``ASSIST_DATABASE_POOL``: unset or ``1`` pools, ``0`` connects per request; anything else is a
    mistake to name, not to guess at."""
    try:
        return POOL_SWITCH[value.strip()]
    except KeyError:
        raise ImproperlyConfigured(
            f"ASSIST_DATABASE_POOL must be 1 (pool PostgreSQL connections, the default) or 0 (connect per "
            f"request), not {value!r}."
        ) from None


def database_from_url(url: str, *, pooled: bool, pool_size: int) -> dict[str, Any]:
    """Django's DATABASES entry for ``url``; a pool of at most ``pool_size`` connections when ``pooled``
    and the database is PostgreSQL (other engines keep persistent connections)."""
    database: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    if database["ENGINE"] == DJANGO_POSTGRESQL:
        database["ENGINE"] = POSTGRESQL
    if pooled and database["ENGINE"] in POOLABLE_ENGINES:
        # Not Django's OPTIONS["pool"], which refuses persistent connections (console/pg_backend/base.py).
        database["SHARED_POOL"] = {"min_size": 1, "max_size": pool_size}
    return database
