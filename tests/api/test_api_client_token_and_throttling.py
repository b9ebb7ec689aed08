"""ClientToken idempotency and per-access-key throttling of the RPC API, through signed HTTP requests and
through the official SDK (which must raise its ThrottlingException on our answer)."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi import exceptions as tea_exceptions
from alibabacloud_tea_openapi.models import Config
from django.utils import timezone

from console.api import services
from console.api.models import ClientTokenUse
from console.invocations.models import Invocation
from tests.api.conftest import Rpc, make_instance, make_tenant


def run_params(instance_id: str, region: str, **extra: str) -> dict[str, str]:
    return {
        "RegionId": region,
        "Type": "RunShellScript",
        "CommandContent": "echo once",
        "InstanceId.1": instance_id,
        **extra,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["v1", "v3"])
def test_a_retry_with_the_same_token_gets_the_first_answer_and_runs_nothing_again(
    rpc, instance_id, region, style
) -> None:
    send = getattr(rpc, style)
    first = send("RunCommand", run_params(instance_id, region, ClientToken="retry-1"))
    second = send("RunCommand", run_params(instance_id, region, ClientToken="retry-1"))
    assert first.status_code == second.status_code == 200, second.content
    assert first.json()["InvokeId"] == second.json()["InvokeId"]
    assert first.json()["RequestId"] != second.json()["RequestId"]
    assert Invocation.objects.count() == 1


@pytest.mark.django_db
def test_other_tokens_and_no_token_run_again(rpc, instance_id, region) -> None:
    ids = {
        rpc.v1("RunCommand", run_params(instance_id, region, ClientToken="a")).json()["InvokeId"],
        rpc.v1("RunCommand", run_params(instance_id, region, ClientToken="b")).json()["InvokeId"],
        rpc.v1("RunCommand", run_params(instance_id, region)).json()["InvokeId"],
        rpc.v1("RunCommand", run_params(instance_id, region)).json()["InvokeId"],
    }
    assert len(ids) == 4
    assert Invocation.objects.count() == 4


@pytest.mark.django_db
def test_the_same_token_with_other_parameters_is_refused_and_creates_nothing(
    rpc, instance_id, region
) -> None:
    assert rpc.v1("RunCommand", run_params(instance_id, region, ClientToken="t")).status_code == 200
    changed = rpc.v1(
        "RunCommand", run_params(instance_id, region, ClientToken="t", CommandContent="rm -rf /")
    )
    assert changed.status_code == 400
    assert changed.json()["Code"] == "IdempotentParameterMismatch"
    assert Invocation.objects.count() == 1


@pytest.mark.django_db
def test_tokens_are_per_account(client, tenant, instance_id, region) -> None:
    other = make_tenant("globex")
    other_instance = make_instance(other, "g")
    mine = Rpc(client, tenant).v1("RunCommand", run_params(instance_id, region, ClientToken="shared"))
    theirs = Rpc(client, other).v1("RunCommand", run_params(other_instance, region, ClientToken="shared"))
    assert mine.status_code == theirs.status_code == 200, theirs.content
    assert mine.json()["InvokeId"] != theirs.json()["InvokeId"]
    assert Invocation.objects.get(pk=theirs.json()["InvokeId"]).account_id == other.account_id


@pytest.mark.django_db
def test_a_failed_request_does_not_use_up_its_token(rpc, instance_id, region) -> None:
    refused = rpc.v1("RunCommand", run_params("mi-missing", region, ClientToken="fix-and-retry"))
    assert refused.status_code == 404
    assert not ClientTokenUse.objects.exists()
    fixed = rpc.v1("RunCommand", run_params(instance_id, region, ClientToken="fix-and-retry"))
    assert fixed.status_code == 200, fixed.content
    assert Invocation.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["x" * 65, "with space", "中文"])
def test_a_malformed_token_is_refused(rpc, instance_id, region, token) -> None:
    response = rpc.v1("RunCommand", run_params(instance_id, region, ClientToken=token))
    assert response.status_code == 400
    assert response.json()["Code"] == "InvalidParameter"
    assert "ClientToken" in response.json()["Message"]
    assert Invocation.objects.count() == 0


@pytest.mark.django_db
def test_a_retry_while_the_first_request_runs_is_told_to_wait_and_an_abandoned_claim_is_taken_over(
    rpc, tenant, instance_id, region
) -> None:
    params = run_params(instance_id, region, ClientToken="slow")
    services.client_token_claim(
        account_id=tenant.account_id,
        action="RunCommand",
        token="slow",
        request_hash=services.request_fingerprint(params),
    )
    waiting = rpc.v1("RunCommand", params)
    assert waiting.status_code == 409
    assert waiting.json()["Code"] == "OperationConflict"
    assert Invocation.objects.count() == 0

    ClientTokenUse.objects.update(created_at=timezone.now() - services.ABANDONED_CLAIM_AFTER - timedelta(1))
    taken_over = rpc.v1("RunCommand", params)
    assert taken_over.status_code == 200, taken_over.content
    assert Invocation.objects.count() == 1


@pytest.mark.django_db
def test_old_tokens_are_pruned(rpc, instance_id, region, settings) -> None:
    rpc.v1("RunCommand", run_params(instance_id, region, ClientToken="old"))
    later = timezone.now() + timedelta(seconds=settings.ASSIST_CLIENT_TOKEN_TTL + 1)
    assert services.client_tokens_prune(now=later) == 1
    assert rpc.v1("RunCommand", run_params(instance_id, region, ClientToken="old")).status_code == 200
    assert Invocation.objects.count() == 2


@pytest.mark.django_db
def test_calls_over_the_key_rate_are_throttled_with_a_retry_after(client, tenant, region, settings) -> None:
    settings.ASSIST_API_RATE_LIMIT = "3/minute"
    other = make_tenant("globex")
    rpc, other_rpc = Rpc(client, tenant), Rpc(client, other)
    params = {"RegionId": region}
    answers = [rpc.v1("DescribeInvocations", params) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    throttled = rpc.v3("DescribeInvocations", params)
    assert throttled.status_code == 400
    assert throttled.json()["Code"] == "Throttling.User"
    retry_after = int(throttled["x-acs-retry-after"])
    assert 0 < retry_after <= 60_000
    assert other_rpc.v1("DescribeInvocations", params).status_code == 200


@pytest.mark.django_db
def test_throttling_off_when_the_limit_is_empty(rpc, region, settings) -> None:
    settings.ASSIST_API_RATE_LIMIT = ""
    assert all(rpc.v1("DescribeInvocations", {"RegionId": region}).status_code == 200 for _ in range(60))


def test_the_official_sdk_sees_a_throttling_exception(live_server, transactional_db, settings) -> None:
    settings.ASSIST_API_RATE_LIMIT = "2/minute"
    tenant = make_tenant("sdk-throttle")
    endpoint = urlsplit(live_server.url).netloc.replace("localhost", "127.0.0.1")
    config = Config(
        access_key_id=tenant.access_key_id,
        access_key_secret=tenant.access_key_secret,
        endpoint=endpoint,
        protocol="http",
    )
    sdk = Client(config)
    request = ecs_models.DescribeInvocationsRequest(region_id=settings.ASSIST_REGION)
    sdk.describe_invocations(request)
    sdk.describe_invocations(request)
    with pytest.raises(tea_exceptions.ThrottlingException) as raised:
        sdk.describe_invocations(request)
    assert raised.value.code == "Throttling.User"
    assert raised.value.retry_after > 0
