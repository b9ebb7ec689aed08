"""Send file in production mode: PostgreSQL, Redis, Celery worker and beat, two daphne nodes sharing the
data dir. The file is uploaded to node B while the agent is connected to node A, so the file.send frame
crosses nodes through Redis and node A serves the chunks from the shared content store."""

import hashlib
import os

import pytest
from alibabacloud_ecs20140526 import models

from tests.files.test_e2e_send_file import console_session, finished, upload
from tests.integration.test_production_mode import database, production, redis_url  # noqa: F401
from tests.live import sdk_client

pytestmark = [pytest.mark.integration, pytest.mark.live]


def test_a_file_uploaded_to_one_node_reaches_an_agent_on_another(production, tmp_path):  # noqa: F811
    procs, (node_a, node_b) = production
    key = node_a.bootstrap()
    activation = node_a.create_activation(count=2)
    instance_id = node_a.register_agent("agent-a", activation)
    node_a.start_agent("agent-a")
    offline = node_a.register_agent("offline", activation)
    client = sdk_client(node_b, key)

    content = os.urandom(5 * 1024 * 1024 + 3)
    source = tmp_path / "payload.bin"
    source.write_bytes(content)
    answer = upload(console_session(node_b), node_b, source, [instance_id, offline], tmp_path / "target")
    assert answer.status_code == 200, answer.text
    row = finished(client, answer.json()["InvokeId"], timeout=60)
    by_instance = {i.instance_id: i for i in row.invoke_instances.invoke_instance}
    assert by_instance[instance_id].invocation_status == "Success", procs.dump_logs()
    assert (by_instance[offline].invocation_status, by_instance[offline].error_code) == (
        "Aborted",
        "ClientNotRunning",
    )
    assert row.invocation_status == "PartialFailed"
    written = (tmp_path / "target" / "payload.bin").read_bytes()
    assert hashlib.sha256(written).hexdigest() == hashlib.sha256(content).hexdigest()

    small = client.send_file(
        models.SendFileRequest(
            region_id="local", instance_id=[instance_id], name="api.txt", target_dir=str(tmp_path / "target"),
            content="from the API", content_type="PlainText",
        )
    ).body.invoke_id  # fmt: skip
    assert finished(client, small, timeout=60).invocation_status == "Success"
    assert (tmp_path / "target" / "api.txt").read_text() == "from the API"
