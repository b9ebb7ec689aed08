"""The official SDK (alibabacloud-ecs20140526), unchanged, against the console served for real over HTTP.

Both signature schemes: V3 (ACS3-HMAC-SHA256, the SDK default) and V1 (``signature_algorithm='v2'``).
The SDK silently returns ``body=None`` when a response wrapper is wrong, so each call checks the parsed
body and not just the status.
"""

from urllib.parse import urlsplit

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi import exceptions as tea_exceptions
from alibabacloud_tea_openapi.models import Config
from django.conf import settings

from console.invocations.models import Invocation
from tests.api.conftest import make_instance, make_tenant

CONTENT = "echo '中文 *~+&= a  b'"


def sdk_client(live_server, key_id: str, secret: str, algorithm: str | None) -> Client:
    endpoint = urlsplit(live_server.url).netloc.replace("localhost", "127.0.0.1")
    config = Config(access_key_id=key_id, access_key_secret=secret, endpoint=endpoint, protocol="http")
    if algorithm:
        config.signature_algorithm = algorithm
    return Client(config)


@pytest.fixture
def sdk_tenant(transactional_db):
    tenant = make_tenant("sdk")
    return tenant, make_instance(tenant, "sdk-host")


@pytest.mark.parametrize("algorithm", [None, "v2"], ids=["v3", "v1"])
def test_official_sdk_runs_and_describes(live_server, sdk_tenant, algorithm) -> None:
    tenant, instance_id = sdk_tenant
    client = sdk_client(live_server, tenant.access_key_id, tenant.access_key_secret, algorithm)
    region = settings.ASSIST_REGION

    ran = client.run_command(
        ecs_models.RunCommandRequest(
            region_id=region,
            type="RunShellScript",
            command_content=CONTENT,
            instance_id=[instance_id],
            timeout=30,
            keep_command=False,
        )
    )
    assert ran.status_code == 200
    assert ran.body is not None
    assert ran.body.invoke_id.startswith("t-")
    assert ran.body.command_id.startswith("c-")
    assert ran.body.request_id
    invocation = Invocation.objects.get(pk=ran.body.invoke_id)
    assert invocation.command_content == CONTENT

    described = client.describe_invocation_results(
        ecs_models.DescribeInvocationResultsRequest(
            region_id=region, invoke_id=ran.body.invoke_id, content_encoding="PlainText", max_results=10
        )
    )
    assert described.body is not None
    results = described.body.invocation.invocation_results.invocation_result
    assert [(r.invoke_id, r.instance_id, r.invocation_status) for r in results] == [
        (ran.body.invoke_id, instance_id, "Pending")
    ]
    assert results[0].exit_code == 0
    assert results[0].tags.tag == []
    assert described.body.invocation.total_count == 1
    assert described.body.invocation.next_token == ""

    paged = client.describe_invocation_results(
        ecs_models.DescribeInvocationResultsRequest(region_id=region, page_number=1, page_size=5)
    )
    assert paged.body is not None
    assert (paged.body.invocation.page_number, paged.body.invocation.page_size) == (1, 5)


@pytest.mark.parametrize("algorithm", [None, "v2"], ids=["v3", "v1"])
def test_official_sdk_sees_errors(live_server, sdk_tenant, algorithm) -> None:
    tenant, instance_id = sdk_tenant
    wrong = sdk_client(live_server, tenant.access_key_id, "wrong-secret", algorithm)
    with pytest.raises(tea_exceptions.ClientException) as raised:
        wrong.describe_invocation_results(
            ecs_models.DescribeInvocationResultsRequest(region_id=settings.ASSIST_REGION)
        )
    assert raised.value.code == "SignatureDoesNotMatch"
    assert raised.value.status_code == 400

    client = sdk_client(live_server, tenant.access_key_id, tenant.access_key_secret, algorithm)
    with pytest.raises(tea_exceptions.ClientException) as raised:
        client.run_command(
            ecs_models.RunCommandRequest(
                region_id=settings.ASSIST_REGION,
                type="RunShellScript",
                command_content="echo hi",
                instance_id=["mi-doesnotexist"],
            )
        )
    assert raised.value.code == "InvalidInstance.NotFound"
    assert raised.value.status_code == 404
    assert not Invocation.objects.exists()
