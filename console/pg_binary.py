"""Binary parameters and results on PostgreSQL, on Django's connection and inside its transaction.

Django's PostgreSQL cursors bind parameters on the client: every value is written into the query text by
the node's one Python process, a bytea chunk as escaped text, an array as a text literal, and bytea comes
back as hex text. For command output that is most of what the database carries (one instance's 100 MB
was stored at 17-21 MB/s that way), so the output paths and the large array statements use a cursor that
binds on the server, with bytea and arrays sent (and output fetched) as binary. It is Django's cursor
wrapper around psycopg's server-binding cursor: execute wrappers, the query log and Django's database
errors apply as to any query. Elsewhere (SQLite, the embedded default) the ORM is used as it is."""

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import QuerySet
from psycopg import pq


def server_binding_cursor(*, binary_results: bool = False) -> CursorWrapper:
    """A cursor on Django's PostgreSQL connection that binds on the server: ``%b`` sends a parameter as
    binary; ``binary_results`` fetches rows as binary (bytea as bytes, not hex)."""
    from django.db.backends.postgresql.base import ServerBindingCursor  # needs a PostgreSQL connection

    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor = ServerBindingCursor(connection.connection)
    if binary_results:
        cursor.format = pq.Format.BINARY
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


def rows(queryset: QuerySet) -> list[tuple[Any, ...]]:
    """The rows of a ``values_list`` queryset; on PostgreSQL fetched as binary."""
    if connection.vendor != "postgresql":
        return [tuple(row) for row in queryset]
    try:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:  # a filter no row can match, such as an empty ``__in``
        return []
    with server_binding_cursor(binary_results=True) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
