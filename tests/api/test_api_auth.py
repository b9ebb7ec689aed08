"""Authentication and the envelope of the RPC endpoint, through full HTTP requests to ``/``."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.test import RequestFactory

from console.api import services as api_services
from console.api import signatures
from console.api.actions import ACTIONS
from console.api.models import UsedNonce
from console.api.views import is_api_request
from console.iam.models import AccessKey, User
from console.invocations.models import Invocation, InvocationResult
from tests.api.conftest import encode_query

UUID_UPPER = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
ENVELOPE_KEYS = {"RequestId", "HostId", "Code", "Message", "Recommend"}


def run_params(instance_id: str, region: str) -> dict[str, str]:
    return {
        "RegionId": region,
        "Type": "RunShellScript",
        "CommandContent": "echo hello",
        "InstanceId.1": instance_id,
    }


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["Code"] == code
    assert UUID_UPPER.match(body["RequestId"])
    assert response["x-acs-request-id"] == body["RequestId"]
    return body


def assert_nothing_ran() -> None:
    assert Invocation.objects.count() == 0
    assert InvocationResult.objects.count() == 0


def stamp(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["v1", "v3"])
def test_signed_request_succeeds(rpc, instance_id, region, style) -> None:
    response = getattr(rpc, style)("RunCommand", run_params(instance_id, region))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json;charset=utf-8"
    body = response.json()
    assert set(body) == {"RequestId", "CommandId", "InvokeId"}
    assert UUID_UPPER.match(body["RequestId"])
    assert Invocation.objects.filter(pk=body["InvokeId"], command_id=body["CommandId"]).exists()


@pytest.mark.django_db
def test_v1_get_and_plus_encoded_spaces(rpc, client, instance_id, region) -> None:
    """The new SDK in v2 mode writes spaces as ``+``; the legacy one as ``%20``. Both must verify."""
    params = rpc.v1_params(
        "RunCommand", {**run_params(instance_id, region), "CommandContent": "echo a b*~"}, method="GET"
    )
    response = client.get("/?" + urlencode(params))
    assert response.status_code == 200, response.content
    assert Invocation.objects.get().command_content == "echo a b*~"


@pytest.mark.django_db
def test_v1_form_body_is_signed_and_read(rpc, client, instance_id, region) -> None:
    params = rpc.v1_params("RunCommand", run_params(instance_id, region))
    response = client.post("/", urlencode(params), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.content
    assert Invocation.objects.count() == 1


@pytest.mark.django_db
def test_v3_form_body_is_hashed_and_read(rpc, client, instance_id, region) -> None:
    body = urlencode(run_params(instance_id, region)).encode()
    response = rpc.v3("RunCommand", {}, body=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.content
    assert Invocation.objects.count() == 1


@pytest.mark.django_db
def test_v3_tampered_body_does_not_match(rpc, client, instance_id, region) -> None:
    signed_body = urlencode(run_params(instance_id, region)).encode()
    headers = rpc.v3_headers("RunCommand", {}, body=signed_body)
    tampered = signed_body.replace(b"hello", b"rm+-rf")
    response = client.generic(
        "POST", "/", tampered, content_type="application/x-www-form-urlencoded", headers=headers
    )
    assert_error(response, 400, "SignatureDoesNotMatch")
    assert_nothing_ran()


@pytest.mark.django_db
def test_no_signature_at_all(client, instance_id, region) -> None:
    query = encode_query({"Action": "RunCommand", "Version": "2014-05-26", **run_params(instance_id, region)})
    response = client.post("/?" + query + "&Format=JSON")
    assert_error(response, 400, "MissingParameter.AccessKeyId")
    assert_nothing_ran()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("drop", "replace", "code"),
    [
        ("Signature", {}, "IncompleteSignature"),
        ("Timestamp", {}, "MissingParameter.Timestamp"),
        ("SignatureNonce", {}, "MissingParameter.SignatureNonce"),
        ("Version", {}, "MissingParameter.Version"),
        ("Action", {}, "MissingParameter.Action"),
        (None, {"SignatureMethod": "HMAC-SHA256"}, "IncompleteSignature"),
        (None, {"SignatureVersion": "2.0"}, "IncompleteSignature"),
        (None, {"SignatureNonce": "n" * 129}, "IncompleteSignature"),
        (None, {"Timestamp": "yesterday"}, "InvalidTimeStamp.Format"),
        (None, {"Version": "2016-01-01"}, "InvalidVersion"),
    ],
)
def test_v1_incomplete_requests(rpc, client, instance_id, region, drop, replace, code) -> None:
    params = rpc.v1_params("RunCommand", run_params(instance_id, region))
    params.pop(drop or "", None)
    params.update(replace)
    response = client.post("/?" + encode_query(params))
    assert_error(response, 400, code)
    assert_nothing_ran()


@pytest.mark.django_db
def test_v1_bad_signature_echoes_string_to_sign(rpc, client, instance_id, region) -> None:
    params = rpc.v1_params("RunCommand", run_params(instance_id, region), secret="not-the-secret")
    response = client.post("/?" + encode_query(params))
    body = assert_error(response, 400, "SignatureDoesNotMatch")
    assert body["Message"].endswith(":" + signatures.v1_string_to_sign("POST", params))
    assert body["Message"].split("server string to sign is:")[1].startswith("POST&%2F&AccessKeyId%3D")
    assert_nothing_ran()


@pytest.mark.django_db
def test_v3_bad_signature(rpc, instance_id, region) -> None:
    response = rpc.v3("RunCommand", run_params(instance_id, region), secret="not-the-secret")
    body = assert_error(response, 400, "SignatureDoesNotMatch")
    assert "server string to sign is:ACS3-HMAC-SHA256\n" in body["Message"]
    assert_nothing_ran()


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["v1", "v3"])
def test_unknown_access_key(rpc, instance_id, region, style) -> None:
    response = getattr(rpc, style)("RunCommand", run_params(instance_id, region), access_key_id="LTAInope")
    assert_error(response, 400, "InvalidAccessKeyId.NotFound")
    assert_nothing_ran()


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["v1", "v3"])
@pytest.mark.parametrize("disable", ["key", "user"])
def test_inactive_key_or_user(rpc, tenant, instance_id, region, style, disable) -> None:
    if disable == "key":
        AccessKey.objects.filter(pk=tenant.access_key_id).update(is_active=False)
    else:
        User.objects.filter(pk=tenant.user.pk).update(is_active=False)
    response = getattr(rpc, style)("RunCommand", run_params(instance_id, region))
    assert_error(response, 403, "InvalidAccessKeyId.Inactive")
    assert_nothing_ran()


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["v1", "v3"])
def test_replayed_nonce(rpc, instance_id, region, style) -> None:
    nonce = uuid.uuid4().hex
    first = getattr(rpc, style)("RunCommand", run_params(instance_id, region), nonce=nonce)
    assert first.status_code == 200, first.content
    again = getattr(rpc, style)("RunCommand", run_params(instance_id, region), nonce=nonce)
    assert_error(again, 400, "SignatureNonceUsed")
    assert Invocation.objects.count() == 1


@pytest.mark.django_db
def test_nonce_is_per_key(rpc, other_tenant, instance_id, region) -> None:
    nonce = uuid.uuid4().hex
    assert rpc.v1("DescribeInvocationResults", {"RegionId": region}, nonce=nonce).status_code == 200
    response = rpc.v1(
        "DescribeInvocationResults",
        {"RegionId": region},
        nonce=nonce,
        access_key_id=other_tenant.access_key_id,
        secret=other_tenant.access_key_secret,
    )
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_failed_signature_does_not_burn_the_nonce(rpc, instance_id, region) -> None:
    nonce = uuid.uuid4().hex
    bad = rpc.v1("RunCommand", run_params(instance_id, region), nonce=nonce, secret="wrong")
    assert_error(bad, 400, "SignatureDoesNotMatch")
    assert not UsedNonce.objects.exists()
    good = rpc.v1("RunCommand", run_params(instance_id, region), nonce=nonce)
    assert good.status_code == 200, good.content


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["v1", "v3"])
@pytest.mark.parametrize("delta", [timedelta(minutes=-16), timedelta(minutes=16)], ids=["past", "future"])
def test_timestamp_outside_window(rpc, instance_id, region, style, delta) -> None:
    when = {"v1": "timestamp", "v3": "date"}[style]
    response = getattr(rpc, style)("RunCommand", run_params(instance_id, region), **{when: stamp(delta)})
    assert_error(response, 400, "InvalidTimeStamp.Expired")
    assert_nothing_ran()
    assert not UsedNonce.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["v1", "v3"])
def test_timestamp_inside_window(rpc, instance_id, region, style) -> None:
    when = {"v1": "timestamp", "v3": "date"}[style]
    response = getattr(rpc, style)(
        "RunCommand", run_params(instance_id, region), **{when: stamp(timedelta(minutes=-14))}
    )
    assert response.status_code == 200, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["v1", "v3"])
def test_unknown_action(rpc, region, style) -> None:
    response = getattr(rpc, style)("DescribeUnicorns", {"RegionId": region})
    assert_error(response, 403, "InvalidAction")


@pytest.mark.django_db
def test_v3_requires_signed_action_and_nonce(rpc, client, instance_id, region) -> None:
    headers = rpc.v3_headers("RunCommand", run_params(instance_id, region))
    headers["Authorization"] = headers["Authorization"].replace("x-acs-action;", "")
    query = encode_query(run_params(instance_id, region))
    response = client.generic("POST", "/?" + query, b"", content_type="", headers=headers)
    body = assert_error(response, 400, "IncompleteSignature")
    assert "x-acs-action" in body["Message"]
    del headers["x-acs-signature-nonce"]
    response = client.generic("POST", "/?" + query, b"", content_type="", headers=headers)
    assert "x-acs-signature-nonce" in assert_error(response, 400, "IncompleteSignature")["Message"]
    assert_nothing_ran()


@pytest.mark.django_db
def test_v3_malformed_authorization(rpc, client, instance_id, region) -> None:
    headers = rpc.v3_headers("RunCommand", {})
    headers["Authorization"] = "ACS3-HMAC-SHA256 Credential=x"
    response = client.generic("POST", "/", b"", content_type="", headers=headers)
    assert_error(response, 400, "IncompleteSignature")


@pytest.mark.django_db
def test_xml_format(rpc, region) -> None:
    response = rpc.v1("DescribeInvocationResults", {"RegionId": region}, fmt="XML")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml;charset=utf-8"
    text = response.content.decode()
    assert "<DescribeInvocationResultsResponse><RequestId>" in text
    assert "<PageSize>10</PageSize>" in text
    error = rpc.v1("DescribeInvocationResults", {"RegionId": region}, fmt=None, secret="wrong")
    assert error.status_code == 400
    assert "<Error><RequestId>" in error.content.decode()
    assert "<Code>SignatureDoesNotMatch</Code>" in error.content.decode()


@pytest.mark.django_db
def test_unexpected_exception_is_internal_error(rpc, region, monkeypatch, caplog) -> None:
    def explode(principal, params):
        raise RuntimeError("secret detail")

    monkeypatch.setitem(ACTIONS, "DescribeInvocationResults", explode)
    response = rpc.v3("DescribeInvocationResults", {"RegionId": region})
    body = assert_error(response, 500, "InternalError")
    assert "secret detail" not in body["Message"]
    assert "secret detail" in caplog.text


@pytest.mark.django_db
def test_unsupported_method(rpc, client, region) -> None:
    query = encode_query(rpc.v1_params("DescribeInvocationResults", {"RegionId": region}, method="PUT"))
    response = client.put("/?" + query)
    assert_error(response, 403, "UnsupportedHTTPMethod")


def test_is_api_request() -> None:
    factory = RequestFactory()
    assert is_api_request(factory.post("/?Action=RunCommand"))
    assert is_api_request(factory.get("/?Action=RunCommand"))
    assert is_api_request(factory.post("/", headers={"x-acs-action": "RunCommand"}))
    assert is_api_request(
        factory.post("/", "Action=RunCommand", content_type="application/x-www-form-urlencoded")
    )
    assert is_api_request(factory.post("/?AccessKeyId=x&Signature=y"))
    assert is_api_request(factory.post("/", headers={"Authorization": "ACS3-HMAC-SHA256 Credential=x"}))
    assert not is_api_request(factory.get("/"))
    assert not is_api_request(factory.post("/", {"username": "x"}))


@pytest.mark.django_db
def test_nonces_are_pruned_after_twice_the_window(settings) -> None:
    now = datetime.now(UTC)
    window = timedelta(seconds=settings.ASSIST_SIGNATURE_WINDOW_SECONDS)
    api_services.nonce_use(access_key_id="k", nonce="old", now=now - 2 * window - timedelta(seconds=1))
    api_services.nonce_use(access_key_id="k", nonce="recent", now=now - 2 * window + timedelta(seconds=5))
    assert api_services.nonces_prune(now=now) == 1
    assert list(UsedNonce.objects.values_list("nonce", flat=True)) == ["recent"]


@pytest.mark.django_db
def test_legacy_sdk_empty_signature_type_is_signed_and_accepted(rpc, instance_id, region) -> None:
    """aliyun-python-sdk-core sends ``SignatureType=`` (empty) and signs it."""
    response = rpc.v1("RunCommand", {**run_params(instance_id, region), "SignatureType": ""})
    assert response.status_code == 200, response.content
    refused = rpc.v1("RunCommand", {**run_params(instance_id, region), "SignatureType": "BEARERTOKEN"})
    assert_error(refused, 400, "IncompleteSignature")
    assert Invocation.objects.count() == 1
