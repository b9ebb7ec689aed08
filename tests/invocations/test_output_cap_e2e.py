"""A too-large output end to end: `manage.py serve` with a small ASSIST_MAX_OUTPUT_BYTES, a real agent
printing far more, the official SDK as the client: the run still completes, only the cap is kept, and
Dropped counts everything else."""

import base64

import pytest

from tests.e2e.test_embedded import FAST, finished_results, run
from tests.live import embedded_console, sdk_client

pytestmark = pytest.mark.live

CAP = 1000


@pytest.fixture
def embedded(tmp_path):
    procs, console = embedded_console(tmp_path, extra_env={**FAST, "ASSIST_MAX_OUTPUT_BYTES": str(CAP)})
    yield console
    procs.stop_all()


def test_output_beyond_the_cap_is_dropped_and_counted(embedded):
    key = embedded.bootstrap()
    [instance_id] = embedded.add_agents(1)
    client = sdk_client(embedded, key)
    printed = 300_000
    invoke_id = run(client, [instance_id], f"head -c {printed} /dev/zero | tr '\\0' a; echo; exit 0")
    [result] = finished_results(client, invoke_id, 1, timeout=60)
    assert (result.invocation_status, result.exit_code) == ("Success", 0)
    assert base64.b64decode(result.output) == b"a" * CAP
    assert result.dropped == printed + 1 - CAP  # the newline too
