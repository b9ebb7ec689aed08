"""The legacy official SDK (aliyun-python-sdk-core + aliyun-python-sdk-ecs), unchanged, against the
console served for real: signature V1 with its empty ``SignatureType=``, parameters in the URL, raw JSON
bytes back."""

import base64
import json
from urllib.parse import urlsplit

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526 import DescribeInvocationResultsRequest, RunCommandRequest
from django.conf import settings

from console.invocations import reports
from console.invocations.models import InvocationResult
from tests.api.conftest import make_instance, make_tenant


def legacy_client(live_server, key_id: str, secret: str) -> AcsClient:
    endpoint = urlsplit(live_server.url).netloc.replace("localhost", "127.0.0.1")
    client = AcsClient(key_id, secret, settings.ASSIST_REGION)
    return client, endpoint


@pytest.fixture
def legacy_tenant(transactional_db):
    tenant = make_tenant("legacy")
    return tenant, make_instance(tenant, "legacy-host")


def test_legacy_sdk_runs_and_reads_output(live_server, legacy_tenant) -> None:
    tenant, instance_id = legacy_tenant
    client, endpoint = legacy_client(live_server, tenant.access_key_id, tenant.access_key_secret)

    run = RunCommandRequest.RunCommandRequest()
    run.set_endpoint(endpoint)
    run.set_protocol_type("http")
    run.set_Type("RunShellScript")
    run.set_CommandContent("echo legacy  *~ ok")
    run.set_InstanceIds([instance_id])
    run.set_Timeout(30)
    answer = json.loads(client.do_action_with_exception(run))
    invoke_id = answer["InvokeId"]
    assert invoke_id.startswith("t-") and answer["CommandId"].startswith("c-")

    result = InvocationResult.objects.get(invocation_id=invoke_id)
    reports.result_record_output(instance_id=instance_id, task_id=result.id, seq=1, data=b"legacy ok\n")
    reports.result_record_final(
        instance_id=instance_id, task_id=result.id, status="Success", exit_code=0, error_code="",
        error_info="", started_at=1.0, finished_at=2.0, last_seq=1,
    )  # fmt: skip

    describe = DescribeInvocationResultsRequest.DescribeInvocationResultsRequest()
    describe.set_endpoint(endpoint)
    describe.set_protocol_type("http")
    describe.set_InvokeId(invoke_id)
    body = json.loads(client.do_action_with_exception(describe))
    [row] = body["Invocation"]["InvocationResults"]["InvocationResult"]
    assert base64.b64decode(row["Output"]) == b"legacy ok\n"
    assert (row["InvocationStatus"], row["ExitCode"], row["InstanceId"]) == ("Success", 0, instance_id)


def test_legacy_sdk_sees_the_error_envelope(live_server, legacy_tenant) -> None:
    tenant, _ = legacy_tenant
    client, endpoint = legacy_client(live_server, tenant.access_key_id, tenant.access_key_secret)
    run = RunCommandRequest.RunCommandRequest()
    run.set_endpoint(endpoint)
    run.set_protocol_type("http")
    run.set_Type("RunShellScript")
    run.set_CommandContent("echo hi")
    run.set_InstanceIds(["mi-doesnotexist"])
    with pytest.raises(ServerException) as refused:
        client.do_action_with_exception(run)
    assert refused.value.get_error_code() == "InvalidInstance.NotFound"
    assert refused.value.get_http_status() == 404
