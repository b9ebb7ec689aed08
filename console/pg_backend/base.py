"""Django's PostgreSQL backend, with the connection health check skipped right after the connection served,
and optionally a pool shared by the short-lived request threads without taking the long-lived threads'
persistent connections away.

With ``CONN_HEALTH_CHECKS`` Django checks a persistent connection (``SELECT 1``, a round trip) before the
first query of every unit of work, and Channels makes each ``database_sync_to_async`` call such a unit.
The websocket consumers and the report writer make hundreds of calls a second, each a few milliseconds
after the previous one on the same connection, so most of those checks only repeat what the last query
proved. A connection that ran a query within ``HEALTH_CHECK_GRACE_SECONDS`` and has had no error since is
taken as healthy; one idle for longer (the database may have restarted meanwhile) is checked as before.

``SHARED_POOL`` (psycopg's ``ConnectionPool`` options, console/database_url.py): connections come from a
pool of the process and go back to it when Django closes them. Under ASGI every HTTP request runs on a
thread of its own and closes its connection when it ends (console/web/db_connections.py), so without a
pool every request connects anew; the long-lived threads keep theirs for ``CONN_MAX_AGE`` as before.
Django's own pool (``OPTIONS["pool"]``) refuses persistent connections, which made every small call of
those threads a checkout and a check. A checkout is checked by the pool (a round trip): a connection that
died while pooled is replaced, not handed out."""

import os
import threading
import time

from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

HEALTH_CHECK_GRACE_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    used_at = float("-inf")  # when this connection last handed out a cursor
    # database -> (the process that made it, the pool): a forked child (a Celery worker) makes its own and
    # never touches its parent's, whose connections it shares the sockets of.
    _shared_pools: dict[tuple, tuple[int, ConnectionPool]] = {}
    _shared_pools_lock = threading.Lock()

    @property
    def _pool_key(self) -> tuple:
        settings = self.settings_dict
        return (self.alias, settings["NAME"], settings["HOST"], settings["PORT"], settings["USER"])

    def shared_pool(self) -> ConnectionPool | None:
        options = self.settings_dict.get("SHARED_POOL")
        if not options:
            return None
        with self._shared_pools_lock:
            owner, pool = self._shared_pools.get(self._pool_key, (0, None))
            if pool is None or owner != os.getpid():
                pool = ConnectionPool(
                    kwargs={**self.get_connection_params(), "autocommit": True},
                    configure=self._configure_connection,
                    check=ConnectionPool.check_connection,
                    name=f"assist-{self.alias}",
                    open=True,
                    **options,
                )
                self._shared_pools[self._pool_key] = (os.getpid(), pool)
            return pool

    def _own_pool_of(self, connection) -> ConnectionPool | None:  # type: ignore[no-untyped-def]
        """The pool ``connection`` came from, if this process made it."""
        pool = getattr(connection, "_pool", None)
        owner, current = self._shared_pools.get(self._pool_key, (0, None))
        return pool if pool is not None and pool is current and owner == os.getpid() else None

    def get_new_connection(self, conn_params):  # type: ignore[no-untyped-def]
        # Django's own pool, or an isolation level the pool's connections would not be given: no shared pool.
        if self.pool is not None or "isolation_level" in self.settings_dict["OPTIONS"]:
            return super().get_new_connection(conn_params)
        pool = self.shared_pool()
        return super().get_new_connection(conn_params) if pool is None else pool.getconn()

    def _close(self) -> None:
        pool = self._own_pool_of(self.connection) if self.connection is not None else None
        if pool is None:
            return super()._close()
        with self.wrap_database_errors:
            pool.putconn(self.connection)  # rolled back there if a transaction was left open
        self.connection = None

    def close_pool(self) -> None:
        """Also the shared pool: Django closes its pools when the time zone setting changes, so that new
        connections are configured for it."""
        super().close_pool()
        with self._shared_pools_lock:
            owner, pool = self._shared_pools.pop(self._pool_key, (0, None))
        if pool is not None and owner == os.getpid():
            pool.close()

    def _cursor(self, name=None):  # type: ignore[no-untyped-def]
        cursor = super()._cursor(name)
        self.used_at = time.monotonic()
        return cursor

    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and not self.errors_occurred
            and time.monotonic() - self.used_at < HEALTH_CHECK_GRACE_SECONDS
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
