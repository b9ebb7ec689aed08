"""The API's JSON answers: orjson's bytes must be exactly the standard library's compact UTF-8 form the
SDKs were tested against, and what orjson refuses must still be answered."""

import json

import pytest

from console.api.render import JSON_CONTENT_TYPE, respond
from console.compact_json import json_bytes

BODIES = [
    {"RequestId": "r", "TotalCount": 0, "Invocations": {"Invocation": []}},
    {"Output": "aGkK", "ExitCode": -1, "Dropped": 0, "Timed": False, "ErrorInfo": None},
    {"Text": '\x00\x08\t\n\r\x1f\x7f "quoted" back\\slash /slash'},
    {"Text": "日本語 — ünïcödé \u2028\u2029 \ue000 \U0001f600"},
    {"Nested": [[{"a": [1, 2, {"b": []}]}], {}, [], ""]},
    {"Big": 2**63 - 1, "Small": -(2**63), "Unsigned": 2**64 - 1},
    {"Tuple": ("a", 1), "Order": {"z": 1, "a": 2, "m": 3}},
]

# What orjson refuses and the standard library writes: these take the slower way, with the same answer.
REFUSED_BY_ORJSON = [
    {"Huge": 2**64},
    {"Keys": {1: "int key", "2": "str key"}},
]


def _standard(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("body", BODIES + REFUSED_BY_ORJSON)
def test_json_bytes_are_the_standard_librarys_compact_utf8(body):
    assert json_bytes(body) == _standard(body)


def test_respond_answers_the_bytes_with_the_json_content_type():
    body = {"RequestId": "req-1", "Text": "é\n"}
    response = respond(body, status=200, xml_root=None)
    assert response.content == _standard(body)
    assert response["Content-Type"] == JSON_CONTENT_TYPE
    assert response["x-acs-request-id"] == "req-1"
    assert json.loads(response.content) == body
