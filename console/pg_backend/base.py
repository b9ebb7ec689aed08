"""Django's PostgreSQL backend, with the connection health check skipped right after the connection served.

With ``CONN_HEALTH_CHECKS`` Django checks a persistent connection (``SELECT 1``, a round trip) before the
first query of every unit of work, and Channels makes each ``database_sync_to_async`` call such a unit.
The websocket consumers and the report writer make hundreds of calls a second, each a few milliseconds
after the previous one on the same connection, so most of those checks only repeat what the last query
proved. A connection that ran a query within ``HEALTH_CHECK_GRACE_SECONDS`` and has had no error since is
taken as healthy; one idle for longer (the database may have restarted meanwhile) is checked as before."""

import time

from django.db.backends.postgresql import base

HEALTH_CHECK_GRACE_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    used_at = float("-inf")  # when this connection last handed out a cursor

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
