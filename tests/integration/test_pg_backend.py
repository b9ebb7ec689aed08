"""The PostgreSQL backend (console/pg_backend/base.py) on a real PostgreSQL: a connection that served a
query within the grace is not health-checked again; one idle for longer is, so a connection the server
dropped meanwhile is replaced without an error; an error always leads to a check at the next unit of work.
With a shared pool, request threads reuse pooled connections while long-lived threads keep their own."""

import os
from concurrent.futures import ThreadPoolExecutor

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


# --- SHARED_POOL (ASSIST_DATABASE_POOL=1): request threads share connections, long-lived threads keep theirs


@pytest.fixture
def pooled(database_url, django_db_blocker):
    """A handler of pooled connections to the scratch database (at most 3), its pool closed afterwards."""
    with django_db_blocker.unblock():
        handler = ConnectionHandler({"default": database_from_url(database_url, pooled=True, pool_size=3)})
        handler["default"].shared_pool().wait(timeout=10)  # its first connection is open
        yield handler
        handler["default"].close()
        handler["default"].close_pool()


def _request(handler, sql: str = "SELECT pg_backend_pid()", *, leave_open: bool = False):
    """What an HTTP request does under ASGI: on a thread of its own, run ``sql``; then close the connection
    as the end of the response does (console/web/db_connections.py). ``leave_open``: the request left a
    transaction open."""

    def work():
        connection = handler["default"]
        if leave_open:
            connection.set_autocommit(False)
        with connection.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone() if cursor.description else None
        connection.close()
        return row[0] if row else None

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(work).result(timeout=30)


def _connections_to(database_url: str) -> int:
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()[
            0
        ]


def test_requests_take_an_open_connection_from_the_pool(pooled, database_url):
    pids = [_request(pooled) for _ in range(10)]
    assert len(set(pids)) == 1  # one connection, opened once, served all ten
    assert _connections_to(database_url) == 1


def test_without_the_pool_every_request_connects(database_url, django_db_blocker):
    with django_db_blocker.unblock():
        handler = ConnectionHandler({"default": database_from_url(database_url, pooled=False, pool_size=3)})
        assert len({_request(handler) for _ in range(3)}) == 3


def test_a_long_lived_thread_keeps_its_own_connection_beside_the_pool(pooled):
    long_lived = pooled["default"]  # this thread: as the consumers' database thread or the report writer
    own = _unit_of_work(long_lived)
    served = {_request(pooled) for _ in range(5)}
    assert [_unit_of_work(long_lived) for _ in range(5)] == [own] * 5  # never handed back between calls
    assert own not in served


def test_a_transaction_a_request_left_open_is_rolled_back_before_the_next_takes_it(pooled):
    _request(pooled, "CREATE TABLE left_uncommitted (x int)", leave_open=True)
    assert _request(pooled, "SELECT to_regclass('left_uncommitted') IS NULL") is True
    assert _request(pooled, "SELECT current_setting('transaction_isolation')") == "read committed"


def test_a_pooled_connection_dropped_while_idle_is_replaced_without_an_error(pooled):
    first = _request(pooled)
    _terminate(first)  # a database restart, as the idle pooled connection sees it
    second = _request(pooled)
    assert second != first


def test_a_forked_child_uses_a_pool_of_its_own_and_leaves_its_parents_alone(pooled):
    parents = _request(pooled)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # as a Celery prefork worker: the parent's pool and its sockets are inherited
        try:
            os.write(write_end, str(_request(pooled)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    childs = int(os.read(read_end, 100).decode())
    os.close(read_end)
    os.waitpid(child, 0)
    assert childs != parents
    assert _request(pooled) == parents  # the parent's pooled connection still serves
