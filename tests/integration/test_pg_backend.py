"""The PostgreSQL backend (console/pg_backend/base.py) on a real PostgreSQL: a connection that served a
query within the grace is not health-checked again; one idle for longer is, so a connection the server
dropped meanwhile is replaced without an error; an error always leads to a check at the next unit of work."""

import psycopg
import pytest
from django.db.utils import ConnectionHandler, OperationalError, ProgrammingError

from console.database_url import database_from_url
from console.pg_backend.base import HEALTH_CHECK_GRACE_SECONDS, DatabaseWrapper
from tests.integration.test_production_mode import PG_ADMIN, scratch_database

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def database_url():
    with scratch_database() as url:
        yield url


@pytest.fixture
def wrapper(database_url, django_db_blocker):
    """A Django connection to the scratch database (not the tests' database), its health checks counted."""
    with django_db_blocker.unblock():
        yield from _counted_connection(database_url)


def _counted_connection(database_url):
    handler = ConnectionHandler({"default": database_from_url(database_url, pooled=False, pool_size=2)})
    connection = handler["default"]
    assert isinstance(connection, DatabaseWrapper)
    checks = []
    real_is_usable = connection.is_usable

    def counted_is_usable():
        usable = real_is_usable()
        checks.append(usable)
        return usable

    connection.is_usable = counted_is_usable
    yield connection, checks
    connection.close()


def _unit_of_work(connection) -> int:
    """What Channels' database_sync_to_async does around a call: close what is unusable or obsolete, run
    the call (here one query: the connection's backend pid), close again."""
    connection.close_if_unusable_or_obsolete()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]
    finally:
        connection.close_if_unusable_or_obsolete()


def _terminate(pid: int) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_that_just_served_is_not_checked_again(wrapper):
    connection, checks = wrapper
    first = _unit_of_work(connection)  # connects: nothing to check yet
    pids = [_unit_of_work(connection) for _ in range(20)]
    assert checks == []
    assert set(pids) == {first}  # the same persistent connection throughout


def test_a_connection_idle_past_the_grace_is_checked(wrapper):
    connection, checks = wrapper
    first = _unit_of_work(connection)
    connection.used_at -= HEALTH_CHECK_GRACE_SECONDS + 0.1
    assert _unit_of_work(connection) == first
    assert checks == [True]


def test_a_connection_dropped_while_idle_is_replaced_without_an_error(wrapper):
    connection, checks = wrapper
    first = _unit_of_work(connection)
    _terminate(first)  # a database restart, as the connection sees it
    connection.used_at -= HEALTH_CHECK_GRACE_SECONDS + 0.1
    second = _unit_of_work(connection)
    assert second != first
    assert checks == [False]


def test_a_connection_dropped_within_the_grace_fails_once_and_is_then_replaced(wrapper):
    connection, checks = wrapper
    first = _unit_of_work(connection)
    _terminate(first)
    with pytest.raises(OperationalError):
        _unit_of_work(connection)  # the one unit of work the grace can cost: it fails, it is not lost
    second = _unit_of_work(connection)
    assert second != first
    assert connection.errors_occurred is False


def test_after_an_error_the_next_unit_of_work_is_checked(wrapper):
    connection, checks = wrapper
    first = _unit_of_work(connection)
    with pytest.raises(ProgrammingError, match="no_such_table"):  # not a DataError: Django marks those
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
    assert connection.errors_occurred is True
    assert _unit_of_work(connection) == first  # checked (usable), so kept
    assert checks == [True]
