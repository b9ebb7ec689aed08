"""Production mode for real: PostgreSQL, Redis (broker and channel layer), `celery worker` and `celery beat`,
two daphne nodes, three agents split across the nodes, and the official SDK as the client."""

import base64
import os
import secrets
import sys
from contextlib import contextmanager

import pytest
from alibabacloud_ecs20140526 import models

from tests.live import Console, Processes, free_port, require_service, sdk_client, wait_for_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.live]
PG_ADMIN = os.environ.get("ASSIST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("ASSIST_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _pg_check():
    import psycopg

    psycopg.connect(PG_ADMIN, connect_timeout=3).close()


def _redis_check():
    import redis

    redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()


@contextmanager
def scratch_database():
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    require_service("PostgreSQL", _pg_check)
    import psycopg

    name = "assist_it_" + secrets.token_hex(4)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database():
    with scratch_database() as url:
        yield url


@pytest.fixture
def redis_url():
    require_service("Redis", _redis_check)
    import redis

    db = 9
    url = REDIS.rsplit("/", 1)[0] + f"/{db}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def production(tmp_path, database, redis_url):
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "ASSIST_DATA_DIR": str(tmp_path / "data"),
            "ASSIST_DELIVERY_TIMEOUT": "3",
            "ASSIST_TICK_SECONDS": "0.5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    procs = Processes(tmp_path, env)
    procs.manage("migrate", "--verbosity", "0")
    ports = [free_port(), free_port()]
    # The second node and the worker take their connections from a pool (the default; a small one here),
    # the first node connects per request (ASSIST_DATABASE_POOL=0): both ways serve the same deployment.
    pooled = {"ASSIST_DATABASE_POOL_SIZE": "6"}
    nodes = [
        procs.spawn(
            f"daphne-{n}",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "console.asgi:application"],
            env=pooled if n == 1 else {"ASSIST_DATABASE_POOL": "0"},
        )
        for n, port in enumerate(ports)
    ]
    procs.spawn(
        "worker",
        [sys.executable, "-m", "celery", "-A", "console", "worker", "-l", "info", "-c", "2"],
        env=pooled,
    )
    procs.spawn(
        "beat",
        [sys.executable, "-m", "celery", "-A", "console", "beat", "-l", "info", "-s", str(tmp_path / "beat")],
    )
    try:
        for node, port in zip(nodes, ports, strict=True):
            wait_for_port(port, timeout=60, proc=node)
    except Exception:
        procs.stop_all()
        raise RuntimeError(procs.dump_logs()) from None
    consoles = [Console(procs, f"http://127.0.0.1:{port}") for port in ports]
    yield procs, consoles
    procs.stop_all()


def _finished(client, invoke_id, count):
    def done():
        request = models.DescribeInvocationResultsRequest(region_id="local", invoke_id=invoke_id)
        rows = client.describe_invocation_results(
            request
        ).body.invocation.invocation_results.invocation_result
        if len(rows) == count and all(r.invocation_status not in ("Pending", "Running") for r in rows):
            return {r.instance_id: r for r in rows}
        return None

    return wait_until(done, timeout=60, message=f"{invoke_id} to finish")


def test_command_fans_out_across_nodes_through_worker_and_redis(production):
    procs, (node_a, node_b) = production
    key = node_a.bootstrap()
    activation = node_a.create_activation(count=4)
    # Agents 0 and 1 register with (and so talk to) node A, agent 2 node B, while the SDK calls node B:
    # delivery has to cross nodes through the worker and Redis.
    homes = [node_a, node_a, node_b]
    ids = [home.register_agent(f"agent-{n}", activation) for n, home in enumerate(homes)]
    for n, home in enumerate(homes):
        home.start_agent(f"agent-{n}")
    offline = node_a.register_agent("offline", activation)

    for v1 in (False, True):
        client = sdk_client(node_b, key, signature_v1=v1)
        request = models.RunCommandRequest(
            region_id="local",
            type="RunShellScript",
            command_content="echo from-$(hostname | wc -c); echo err >&2",
            instance_id=[*ids, offline],
            timeout=30,
        )
        invoke_id = client.run_command(request).body.invoke_id
        rows = _finished(client, invoke_id, 4)
        for instance_id in ids:
            assert rows[instance_id].invocation_status == "Success", procs.dump_logs()
            assert base64.b64decode(rows[instance_id].output).endswith(b"\nerr\n")
        assert rows[offline].invocation_status == "Aborted"
        assert rows[offline].error_code == "DeliveryTimeout"
