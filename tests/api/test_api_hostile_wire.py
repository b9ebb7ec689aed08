"""Requests damaged on the wire: a parameter changed after signing, broken percent-encoding or UTF-8, a
huge value, bad Base64, deeply nested JSON. Each gets the error envelope (4xx, never 5xx) and nothing
runs."""

import json

import pytest

from console.api.params import json_depth
from tests.api.conftest import encode_query
from tests.api.test_api_auth import ENVELOPE_KEYS, assert_error, assert_nothing_ran, run_params

pytestmark = pytest.mark.django_db


def assert_refused(response) -> dict:
    assert 400 <= response.status_code < 500, response.content
    body = response.json()
    assert set(body) == ENVELOPE_KEYS, body
    assert body["Code"] and body["Message"]
    assert_nothing_ran()
    return body


@pytest.mark.parametrize(
    ("name", "tampered"),
    [
        ("CommandContent", "rm -rf /"),
        ("InstanceId.1", "mi-someoneelse"),
        ("Type", "RunPowerShellScript"),
    ],
)
def test_v1_parameter_changed_after_signing(rpc, client, instance_id, region, name, tampered) -> None:
    params = rpc.v1_params("RunCommand", run_params(instance_id, region))
    params[name] = tampered
    assert_error(client.post("/?" + encode_query(params)), 400, "SignatureDoesNotMatch")
    assert_nothing_ran()


def test_v1_parameter_added_after_signing(rpc, client, instance_id, region) -> None:
    params = rpc.v1_params("RunCommand", run_params(instance_id, region))
    params["Username"] = "nobody"
    assert_error(client.post("/?" + encode_query(params)), 400, "SignatureDoesNotMatch")
    assert_nothing_ran()


def test_v3_query_parameter_changed_after_signing(rpc, client, instance_id, region) -> None:
    query = run_params(instance_id, region)
    headers = rpc.v3_headers("RunCommand", query)
    tampered = {**query, "CommandContent": "rm -rf /"}
    response = client.generic("POST", "/?" + encode_query(tampered), b"", content_type="", headers=headers)
    assert_error(response, 400, "SignatureDoesNotMatch")
    assert_nothing_ran()


@pytest.mark.parametrize(
    "raw_value",
    [
        "%E4%B8",  # a UTF-8 sequence cut short
        "%FF%FE",  # bytes that are never UTF-8
        "%ZZecho",  # not a percent-escape at all
        "%",
    ],
)
def test_v1_broken_encoding_in_the_query(rpc, client, instance_id, region, raw_value) -> None:
    params = rpc.v1_params("RunCommand", run_params(instance_id, region))
    query = encode_query({k: v for k, v in params.items() if k != "CommandContent"})
    assert_refused(client.post("/?" + query + "&CommandContent=" + raw_value))


def test_broken_utf8_in_a_form_body(rpc, client, instance_id, region) -> None:
    params = rpc.v1_params("RunCommand", run_params(instance_id, region))
    body = encode_query({k: v for k, v in params.items() if k != "CommandContent"}).encode()
    body += b"&CommandContent=echo+\xff\xfe"
    assert_refused(client.post("/", body, content_type="application/x-www-form-urlencoded"))


def test_v3_body_that_is_not_utf8(rpc, client, instance_id, region) -> None:
    body = b"CommandContent=%FF%FE&" + encode_query(run_params(instance_id, region)).encode()
    assert_refused(rpc.v3("RunCommand", {}, body=body, content_type="application/x-www-form-urlencoded"))


def test_a_huge_command_content(rpc, instance_id, region) -> None:
    params = {**run_params(instance_id, region), "CommandContent": "echo " + "x" * 1_000_000}
    body = assert_refused(rpc.v3("RunCommand", params))
    assert body["Code"] == "CmdContent.ExceedLimit"


@pytest.mark.parametrize("content", ["!!notbase64!!", "aGVsbG8", "=" * 8])
def test_bad_base64_content(rpc, instance_id, region, content) -> None:
    params = {**run_params(instance_id, region), "CommandContent": content, "ContentEncoding": "Base64"}
    assert_refused(rpc.v1("RunCommand", params))


def test_deeply_nested_parameters_json(rpc, instance_id, region) -> None:
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    params = {
        **run_params(instance_id, region),
        "CommandContent": "echo {{a}}",
        "EnableParameter": "true",
        "Parameters": deep,
    }
    body = assert_refused(rpc.v1("RunCommand", params))
    assert body["Code"] == "InvalidParameter.Parameters"
    assert "nested more than 64 levels" in body["Message"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SessionManagerConfig", '{"SessionManagerEnabled":' + "[" * 50_000 + "]" * 50_000 + "}"),
        ("AgentUpgradeConfig", "[" * 65 + "]" * 65),
    ],
)
def test_deeply_nested_settings_json(rpc, region, name, value) -> None:
    response = rpc.v3("ModifyCloudAssistantSettings", {"RegionId": region, "SettingType": name, name: value})
    assert_error(response, 400, f"InvalidParameter.{name}")


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("plain", 0),
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[{{{{"}', 1),  # brackets inside strings do not count
        ('{"a": "\\"[[["}', 1),  # nor after an escaped quote inside a string
        ("]]]][[", 2),
        ("[" * 100_000, 100_000),
    ],
)
def test_json_depth(text, depth) -> None:
    assert json_depth(text) == depth


def test_parameters_as_a_python_repr_are_refused_clearly(rpc, instance_id, region) -> None:
    """The legacy SDK's set_Parameters passes a dict through as its Python repr, which is not JSON."""
    params = {
        **run_params(instance_id, region),
        "CommandContent": "echo {{name}}",
        "EnableParameter": "True",
        "Parameters": str({"name": "Jack"}),
    }
    body = assert_refused(rpc.v1("RunCommand", params))
    assert body["Code"] == "InvalidParameter.Parameters"
    assert "JSON object" in body["Message"]
    ok = rpc.v1("RunCommand", {**params, "Parameters": json.dumps({"name": "Jack"})})
    assert ok.status_code == 200, ok.content


def test_too_many_parameters_get_the_api_envelope(rpc, client, instance_id, region) -> None:
    """Past Django's DATA_UPLOAD_MAX_NUMBER_FIELDS the query cannot be parsed; the answer is still the
    API's JSON envelope (not the console's HTML error page)."""
    many = {f"InstanceId.{n}": "mi-x" for n in range(2, 1500)}
    params = rpc.v1_params("RunCommand", {**run_params(instance_id, region), **many})
    body = assert_error(client.post("/?" + encode_query(params)), 400, "InvalidParameter")
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in body["Message"]
    assert_nothing_ran()


def test_a_form_body_over_the_upload_limit_gets_the_api_envelope(rpc, client, instance_id, region) -> None:
    params = rpc.v1_params("RunCommand", run_params(instance_id, region))
    body = encode_query(params) + "&Description=" + "x" * 3_000_000
    response = client.post("/", body, content_type="application/x-www-form-urlencoded")
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in assert_error(response, 400, "InvalidParameter")["Message"]
    assert_nothing_ran()


def test_the_console_home_page_is_still_the_console(client) -> None:
    assert client.get("/").status_code == 302  # to the login page
    assert client.get("/?tab=x").status_code == 302
