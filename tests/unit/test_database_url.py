"""The database settings from DATABASE_URL (console/database_url.py): unless ASSIST_DATABASE_POOL=0 a process
pools its PostgreSQL connections (console/pg_backend's SHARED_POOL, not Django's pool, which refuses the
persistent connections the long-lived threads keep); connections stay persistent either way."""

import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from console.database_url import database_from_url, pool_wanted

PG = "postgresql://assist@db.example:5432/assist"


@pytest.mark.parametrize(
    ("url", "pooled", "pool"),
    [
        (PG, True, {"min_size": 1, "max_size": 7}),
        ("postgres://assist@db.example/assist", True, {"min_size": 1, "max_size": 7}),
        (PG, False, None),
        ("sqlite:////tmp/assist.sqlite3", True, None),
    ],
)
def test_only_a_pooled_postgresql_database_gets_a_pool(url, pooled, pool):
    database = database_from_url(url, pooled=pooled, pool_size=7)
    assert database["CONN_MAX_AGE"] == 60
    assert database.get("SHARED_POOL") == pool
    assert "pool" not in database.get("OPTIONS", {})  # Django's own pool would refuse CONN_MAX_AGE
    assert database["CONN_HEALTH_CHECKS"] is True
    # Django's PostgreSQL backend without the check of a connection that has just served (pg_backend)
    assert database["ENGINE"] == (
        "django.db.backends.sqlite3" if url.startswith("sqlite") else "console.pg_backend"
    )


def test_pool_keeps_options_given_in_the_url():
    database = database_from_url(PG + "?sslmode=require", pooled=True, pool_size=7)
    assert database["OPTIONS"]["sslmode"] == "require"
    assert database["SHARED_POOL"] == {"min_size": 1, "max_size": 7}


PRINT_DATABASE = """
import json, sys
__import__(sys.argv[1])
from django.conf import settings
database = settings.DATABASES["default"]
print(json.dumps([database["CONN_MAX_AGE"], database.get("SHARED_POOL")]))
"""


@pytest.mark.parametrize(
    ("module", "environment", "expected"),
    [
        ("console.asgi", {}, [60, {"min_size": 1, "max_size": 20}]),
        ("console.asgi", {"ASSIST_DATABASE_POOL": "1"}, [60, {"min_size": 1, "max_size": 20}]),
        (
            "console.asgi",
            {"ASSIST_DATABASE_POOL": "1", "ASSIST_DATABASE_POOL_SIZE": "5"},
            [60, {"min_size": 1, "max_size": 5}],
        ),
        ("console.asgi", {"ASSIST_DATABASE_POOL": "0"}, [60, None]),
        ("console.celery", {}, [60, {"min_size": 1, "max_size": 20}]),
        ("console.celery", {"ASSIST_DATABASE_POOL": "0"}, [60, None]),
    ],
)
def test_a_process_pools_unless_told_not_to(tmp_path, module, environment, expected):
    env = {name: value for name, value in os.environ.items() if not name.startswith("ASSIST_DATABASE_POOL")}
    env.update({"DATABASE_URL": PG, "ASSIST_DATA_DIR": str(tmp_path), **environment})
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-c", PRINT_DATABASE, module], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected


@pytest.mark.parametrize(
    ("value", "pooled"), [("", True), ("1", True), (" 1 ", True), ("0", False), ("0\n", False)]
)
def test_the_pool_switch(value, pooled):
    assert pool_wanted(value) is pooled


@pytest.mark.parametrize("value", ["yes", "true", "off", "2", "-1"])
def test_a_pool_switch_that_is_neither_1_nor_0_is_refused_by_name(value):
    with pytest.raises(
        ImproperlyConfigured, match=r"ASSIST_DATABASE_POOL must be 1 .* or 0 .*" + repr(value)
    ):
        pool_wanted(value)


def test_a_process_with_a_bad_pool_switch_does_not_start(tmp_path):
    env = {name: value for name, value in os.environ.items() if not name.startswith("ASSIST_DATABASE_POOL")}
    env.update({"DATABASE_URL": PG, "ASSIST_DATA_DIR": str(tmp_path), "ASSIST_DATABASE_POOL": "yes"})
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-c", PRINT_DATABASE, "console.asgi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "ASSIST_DATABASE_POOL must be 1" in done.stderr
