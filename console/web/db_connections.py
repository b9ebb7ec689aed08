"""Database connections of HTTP requests end with the request.

Under ASGI Django runs each HTTP request's sync code on a thread of its own that ends with the request.
A persistent connection (CONN_MAX_AGE) opened there is never reused and stays open until garbage
collection: 600 concurrent agent registrations held 86 PostgreSQL connections, and a fleet of 10,000
registering agents exhausted ``max_connections``. Long-lived threads (the websocket consumers' database
thread, the report writer, Celery) keep their persistent connection, which is what makes their many small
calls cheap; only request threads close theirs, when Django finishes the response (``request_finished``
is sent from ``response.close()`` on the request's thread, after any streamed content). With
``ASSIST_DATABASE_POOL=1`` closing hands the connection back to the process's pool instead
(console/pg_backend/base.py), so the next request does not connect anew."""

from django.core.signals import request_finished
from django.db import connections


def close_request_connections(**kwargs: object) -> None:
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:  # a test's wrapping transaction, or a caller's: not ours to end
            connection.close()


def connect() -> None:
    request_finished.connect(close_request_connections, dispatch_uid="assist-close-request-connections")
