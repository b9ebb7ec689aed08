"""Response bodies of the RPC API: JSON (always for V3 and when asked) or XML (V1's documented default)."""

from typing import Any
from xml.sax.saxutils import escape

from django.http import HttpResponse

from console.compact_json import json_bytes
from console.errors import ServiceError

JSON_CONTENT_TYPE = "application/json;charset=utf-8"
# The new SDK parses an XML error body only with exactly this content type.
XML_CONTENT_TYPE = "text/xml;charset=utf-8"


def recommend_url(code: str, request_id: str) -> str:
    return f"https://api.aliyun.com/troubleshoot?q={code}&product=Ecs&requestId={request_id}"


def error_body(error: ServiceError, request_id: str, host_id: str) -> dict[str, Any]:
    return {
        "RequestId": request_id,
        "HostId": host_id,
        "Code": error.code,
        "Message": error.message,
        "Recommend": recommend_url(error.code, request_id),
    }


def respond(body: dict[str, Any], *, status: int, xml_root: str | None) -> HttpResponse:
    """``xml_root`` None answers JSON; otherwise XML under that root element."""
    if xml_root is None:
        response = HttpResponse(json_bytes(body), status=status, content_type=JSON_CONTENT_TYPE)
    else:
        content = "<?xml version='1.0' encoding='UTF-8'?>" + _element(xml_root, body)
        response = HttpResponse(content, status=status, content_type=XML_CONTENT_TYPE)
    response["x-acs-request-id"] = body["RequestId"]
    return response


def _element(name: str, value: Any) -> str:
    if isinstance(value, list):
        return "".join(_element(name, item) for item in value)
    if isinstance(value, dict):
        inner = "".join(_element(key, item) for key, item in value.items())
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    elif value is None:
        inner = ""
    else:
        inner = escape(str(value))
    return f"<{name}>{inner}</{name}>"
