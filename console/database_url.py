"""The database settings for a DATABASE_URL (PostgreSQL in production), with or without a connection pool.

Under ASGI each HTTP request runs its sync code on a thread of its own, so a persistent connection
(CONN_MAX_AGE) is never reused by the next request: console/web/db_connections.py closes it at the end
of the request, and every API call connects anew. With ``ASSIST_DATABASE_POOL=1`` a process keeps its
PostgreSQL connections in psycopg's pool instead (Django's ``OPTIONS["pool"]``): closing a connection
hands it back. It saves 6-10 ms per API call (docs/performance.md, section 4), but it is off by default:
the pool's persistent connections cannot be kept alongside it, so the websocket consumers' and the report
writer's many small calls each take a connection from the pool and check it (a round trip), where today
they keep their own; that slowed the output benchmark when every process pooled. It suits web nodes that
serve the API rather than agents; not Celery workers, whose prefork children close the pool after every
task (Celery's Django fixup)."""

from typing import Any

import dj_database_url

DJANGO_POSTGRESQL = "django.db.backends.postgresql"
# Django's PostgreSQL backend without the health check of a connection that has just served
# (console/pg_backend/base.py).
POSTGRESQL = "console.pg_backend"
POOLABLE_ENGINES = (POSTGRESQL,)


def database_from_url(url: str, *, pooled: bool, pool_size: int) -> dict[str, Any]:
    """Django's DATABASES entry for ``url``; a pool of at most ``pool_size`` connections when ``pooled``
    and the database is PostgreSQL (other engines keep persistent connections)."""
    database: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    if database["ENGINE"] == DJANGO_POSTGRESQL:
        database["ENGINE"] = POSTGRESQL
    if pooled and database["ENGINE"] in POOLABLE_ENGINES:
        # Django refuses persistent connections with a pool: a closed connection goes back to it.
        database["CONN_MAX_AGE"] = 0
        database["OPTIONS"] = {**database.get("OPTIONS", {}), "pool": {"min_size": 2, "max_size": pool_size}}
    return database
