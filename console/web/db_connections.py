"""Database connections of HTTP requests end with the request.

Under ASGI Django runs each HTTP request's sync code on a thread of its own that ends with the request.
A persistent connection (CONN_MAX_AGE) opened there is never reused and stays open until garbage
collection: 600 concurrent agent registrations held 86 PostgreSQL connections, and a fleet of 10,000
registering agents exhausted ``max_connections``. Long-lived threads (the websocket consumers' database
thread, the report writer, Celery) keep their persistent connection, which is what makes their many small
calls cheap; only request threads close theirs, when Django finishes the response (``request_finished``
is sent from ``response.close()`` on the request's thread, after any streamed content). With the pool
(PostgreSQL's default; ``ASSIST_DATABASE_POOL=0`` turns it off) closing hands the connection back to the
process's pool instead (console/pg_backend/base.py), so the next request does not connect anew.

A streamed response (a release or the agent's zipapp, a terminal recording) is sent after the view and
every middleware are done with the database, and may take minutes to reach a slow client: its request
gives its connection back before it streams (``StreamedResponseConnectionMiddleware``), so that a fleet
downloading an upgrade at once does not hold the pool's connections (at most
``ASSIST_DATABASE_POOL_SIZE``; other requests would wait for one) nor PostgreSQL's."""

from collections.abc import Callable

from django.core.signals import request_finished
from django.db import connections
from django.http import HttpRequest, HttpResponseBase


def close_request_connections(**kwargs: object) -> None:
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:  # a test's wrapping transaction, or a caller's: not ours to end
            connection.close()


def connect() -> None:
    request_finished.connect(close_request_connections, dispatch_uid="assist-close-request-connections")


class StreamedResponseConnectionMiddleware:
    """First in MIDDLEWARE, so every other middleware has finished with the database when it runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.streaming:
            close_request_connections()
        return response
