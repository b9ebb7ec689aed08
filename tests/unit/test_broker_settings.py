"""The Redis broker's visibility timeout (docs/reliability.md): a message a killed worker had taken comes
back after minutes, not Redis' default hour, and the setting reaches the Celery app that workers run."""

import json
import os
import subprocess
import sys

import pytest

PRINT_OPTIONS = (
    "import json; from console.celery import app; "
    "print(json.dumps(app.connection_for_write().transport_options))"
)


@pytest.mark.parametrize(
    ("environment", "expected"), [({}, 300), ({"ASSIST_BROKER_VISIBILITY_TIMEOUT": "45"}, 45)]
)
def test_workers_get_the_visibility_timeout(tmp_path, environment, expected):
    env = {
        **os.environ,
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "ASSIST_DATA_DIR": str(tmp_path),
        **environment,
    }
    env.pop("ASSIST_BROKER_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", PRINT_OPTIONS], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    options = json.loads(done.stdout.strip().splitlines()[-1])
    assert options["visibility_timeout"] == expected
