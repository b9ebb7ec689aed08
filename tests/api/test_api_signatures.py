"""Known-answer tests of console.api.signatures, cross-checked against the official SDK's signing code
(alibabacloud_tea_openapi.utils.Utils), which is the oracle: it is what real clients run."""

import hashlib

import pytest
from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest

from console.api import signatures as sig

DOC_PARAMS = {
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "Format": "XML",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "Timestamp": "2016-02-23T12:46:24Z",
    "Version": "2014-05-26",
}

# Parameter sets that differ only in the values under test.
TRICKY_VALUES = [
    pytest.param({"CommandContent": "echo hello world"}, id="spaces"),
    pytest.param({"CommandContent": "ls *.txt"}, id="star"),
    pytest.param({"CommandContent": "cd ~user"}, id="tilde"),
    pytest.param({"CommandContent": "echo 中文 ünï"}, id="unicode"),
    pytest.param({"Tag.2.Value": "", "Name": ""}, id="empty-values"),
    pytest.param({"CommandContent": "a+b&c=d/e:f;g?h#i%j'k\"l"}, id="reserved"),
    pytest.param({"CommandContent": "line1\nline2\ttab"}, id="control"),
    pytest.param({"Parameters": '{"name":"Jack","count":3,"flag":true}'}, id="json"),
    pytest.param(
        {"InstanceId.1": "mi-a", "InstanceId.2": "mi-b", "InstanceId.10": "mi-c"}, id="list-sorting"
    ),
    pytest.param({"CommandContent": "-_.~ AZaz09"}, id="unreserved"),
    pytest.param({"CommandContent": "😀 emoji"}, id="astral"),
]


def test_v1_doc_vector() -> None:
    assert sig.v1_signature("testsecret", "GET", DOC_PARAMS) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_v1_doc_vector_string_to_sign() -> None:
    assert sig.v1_string_to_sign("GET", DOC_PARAMS) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
    )


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (" ", "%20"),
        ("*", "%2A"),
        ("~", "~"),
        ("/", "%2F"),
        (":", "%3A"),
        ("+", "%2B"),
        ("-_.", "-_."),
        ("é", "%C3%A9"),
        ("", ""),
    ],
)
def test_percent_encode(raw: str, encoded: str) -> None:
    assert sig.percent_encode(raw) == encoded


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("extra", TRICKY_VALUES)
def test_v1_matches_sdk(method: str, extra: dict[str, str]) -> None:
    params = {**DOC_PARAMS, "Format": "json", **extra}
    expected = Utils.get_rpcsignature(dict(params), method, "s3cr3t/+=")
    assert sig.v1_signature("s3cr3t/+=", method, params) == expected
    assert sig.v1_verify("s3cr3t/+=", method, params, expected)
    assert not sig.v1_verify("other", method, params, expected)


def test_v1_ignores_signature_param() -> None:
    params = dict(DOC_PARAMS)
    signature = sig.v1_signature("testsecret", "GET", params)
    assert sig.v1_verify("testsecret", "GET", {**params, "Signature": signature}, signature)


def _sdk_v3(query: dict[str, str], headers: dict[str, str], body: bytes, secret: str) -> str:
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = dict(query)
    request.headers = dict(headers)
    return Utils.get_authorization(
        request, "ACS3-HMAC-SHA256", hashlib.sha256(body).hexdigest(), "LTAIkey", secret
    )


SDK_HEADERS = {
    "host": "127.0.0.1:8000",
    "x-acs-version": "2014-05-26",
    "x-acs-action": "RunCommand",
    "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.6 TeaDSL/2",
    "x-acs-date": "2026-01-02T03:04:05Z",
    "x-acs-signature-nonce": "0123456789abcdef0123456789abcdef",
    "accept": "application/json",
    "x-acs-credentials-provider": "static_ak",
}


@pytest.mark.parametrize("body", [b"", b"RegionId=local&Name=a+b"], ids=["empty", "form"])
@pytest.mark.parametrize("query", [pytest.param({}, id="no-query"), *TRICKY_VALUES])
def test_v3_matches_sdk(query: dict[str, str], body: bytes) -> None:
    headers = {
        **SDK_HEADERS,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        "X-Acs-Padded": "  v  ",
    }
    authorization = sig.parse_v3_authorization(_sdk_v3(query, headers, body, "secret"))
    assert authorization.access_key_id == "LTAIkey"
    assert authorization.signed_headers == tuple(sorted(name.lower() for name in headers))
    payload = sig.payload_sha256(body)
    # Header names as the SDK signed them; the verifier gets them already lowercased and stripped.
    clean = {name.lower(): value for name, value in headers.items()}
    ours = sig.v3_signature("secret", "POST", "/", query, clean, authorization.signed_headers, payload)
    assert ours == authorization.signature
    assert sig.v3_verify("secret", "POST", "/", query, clean, authorization.signed_headers, payload, ours)
    assert not sig.v3_verify("wrong", "POST", "/", query, clean, authorization.signed_headers, payload, ours)


def test_v3_canonical_request_layout() -> None:
    request = sig.canonical_request(
        "post",
        "/",
        {"b": "2 3", "a": "*"},
        {"Host": "h", "x-acs-date": " d "},
        ["x-acs-date", "host"],
        sig.EMPTY_PAYLOAD_SHA256,
    )
    assert request == (
        "POST\n/\na=%2A&b=2%203\nhost:h\nx-acs-date:d\n\nhost;x-acs-date\n" + sig.EMPTY_PAYLOAD_SHA256
    )


def test_v3_verify_accepts_unencoded_names_like_the_sdk() -> None:
    query = {"Näme": "v"}
    headers = {"host": "h"}
    sdk_style = sig.v3_signature("k", "POST", "/", query, headers, ["host"], "p", encode_names=False)
    assert sdk_style != sig.v3_signature("k", "POST", "/", query, headers, ["host"], "p")
    assert sig.v3_verify("k", "POST", "/", query, headers, ["host"], "p", sdk_style)


def test_parse_v3_authorization() -> None:
    parsed = sig.parse_v3_authorization(
        "ACS3-HMAC-SHA256 Credential=AK1, SignedHeaders=Host;x-acs-date, Signature=" + "A" * 64
    )
    assert parsed == sig.V3Authorization(
        algorithm="ACS3-HMAC-SHA256",
        access_key_id="AK1",
        signed_headers=("host", "x-acs-date"),
        signature="a" * 64,
    )


GOOD_SIGNATURE = "0" * 64


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "does not start with an ACS3"),
        ("HMAC-SHA1 Credential=a", "does not start with an ACS3"),
        ("ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,Signature=" + GOOD_SIGNATURE, "not supported"),
        ("ACS3-HMAC-SHA256", "Malformed"),
        ("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host", "has no Signature"),
        ("ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=" + GOOD_SIGNATURE, "has no Credential"),
        ("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=,Signature=" + GOOD_SIGNATURE, "has no SignedHeaders"),
        ("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host;;x,Signature=" + GOOD_SIGNATURE, "empty header"),
        ("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=xyz", "64 hexadecimal"),
        (
            "ACS3-HMAC-SHA256 Credential=a,Credential=b,SignedHeaders=h,Signature=" + GOOD_SIGNATURE,
            "repeated",
        ),
        ("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=h,Signature=" + GOOD_SIGNATURE + ",Extra=1", "Unknown"),
        ("ACS3-HMAC-SHA256 Credential=a,garbage,Signature=" + GOOD_SIGNATURE, "Malformed"),
    ],
)
def test_parse_v3_authorization_rejects(header: str, message: str) -> None:
    with pytest.raises(sig.AuthorizationHeaderError, match=message):
        sig.parse_v3_authorization(header)
