"""Binary output in and out of PostgreSQL, on Django's connection and inside its transaction.

Django's PostgreSQL cursors bind parameters on the client: a bytea value is written into the query as
escaped text, and read back as hex text, in the node's one Python process. For command output that is
most of what the database carries (one instance's 100 MB was stored at 17-21 MB/s that way), so the output
paths use a cursor that binds on the server, with bytea sent and fetched as binary. Elsewhere (SQLite, the
embedded default) the ORM is used as it is."""

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet
from psycopg import Cursor


def server_binding_cursor() -> Cursor:
    """A psycopg cursor on Django's PostgreSQL connection: ``%b`` sends a parameter as binary."""
    connection.ensure_connection()
    return Cursor(connection.connection)


def rows(queryset: QuerySet) -> list[tuple[Any, ...]]:
    """The rows of a ``values_list`` queryset; on PostgreSQL fetched as binary (bytea as bytes, no hex)."""
    if connection.vendor != "postgresql":
        return [tuple(row) for row in queryset]
    try:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:  # a filter no row can match, such as an empty ``__in``
        return []
    with server_binding_cursor() as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()
