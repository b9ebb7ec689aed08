"""The OpenAPI 3.1 document of the RPC API, built from the contract (``contract.json``: the request and
response trees of the original API) and the registry of the operations this server answers.

The API is RPC style: every operation is ``POST /`` (or GET) naming itself with ``Action`` and its API
``Version``. OpenAPI has one operation per path and method, so each operation gets the path
``/#Action=<Name>`` (the fragment is never sent; the request goes to ``/``), as converted AWS query APIs
do. List parameters are flattened (``InstanceId.1``, ``Tag.1.Key``, ...) and are described by their
pattern (``InstanceId.N``). Requests are signed (docs/api.md, "Authentication"); the security scheme says
so but OpenAPI cannot express the signature itself.
"""

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from console.api.actions import ACTIONS
from console.api.actions.registry import VERSIONS

CONTRACT = Path(__file__).with_name("contract.json")
PRODUCTS = {"2014-05-26": "Cloud Assistant", "2015-04-01": "STS", "2015-05-01": "RAM"}
_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean"}


# What this server answers beyond the original's trees (docs/api.md): rate control on every run.
_RATE_DESCRIPTION = "This server's extra: a whole number or a percentage of the targets (e.g. 10 or 25%)."
EXTRA_REQUEST: dict[str, list[dict[str, Any]]] = {
    action: [
        {"name": "MaxConcurrency", "required": False, "type": "string", "extra": _RATE_DESCRIPTION},
        {"name": "MaxErrors", "required": False, "type": "string", "extra": _RATE_DESCRIPTION},
    ]
    for action in ("RunCommand", "InvokeCommand")
}
EXTRA_RESPONSE: dict[str, dict[str, list[dict[str, Any]]]] = {
    "DescribeInvocations": {
        "Invocations.Invocation[]": [
            {"name": "MaxConcurrency", "type": "string", "list": False},
            {"name": "MaxErrors", "type": "string", "list": False},
        ]
    }
}


@lru_cache(maxsize=1)
def contract() -> dict[str, Any]:
    return json.loads(CONTRACT.read_text())


def _with_extras(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    response = {path: list(fields) for path, fields in spec["response"].items()}
    for path, fields in EXTRA_RESPONSE.get(name, {}).items():
        response.setdefault(path, []).extend(fields)
    return {"request": [*spec["request"], *EXTRA_REQUEST.get(name, [])], "response": response}


def _parameter(spec: dict[str, Any]) -> dict[str, Any]:
    name = spec["name"]
    schema: dict[str, Any] = {"type": _TYPES.get(spec["type"], "string")}
    description = ""
    if spec["type"] == "json":
        schema = {"type": "string", "contentMediaType": "application/json"}
        description = f"One parameter whose value is JSON: {spec['shape']}."
    if ".N" in name:
        description = (
            f"A list: send {name.replace('.N', '.1')}, {name.replace('.N', '.2')}, ... " + description
        )
    if "extra" in spec:
        description = f"{description} {spec['extra']}"
    parameter = {"name": name, "in": "query", "required": spec["required"], "schema": schema}
    if description:
        parameter["description"] = description.strip()
    return parameter


def _fields_schema(fields: list[dict[str, Any]]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for field in fields:
        item = {"type": _TYPES[field["type"]]}
        properties[field["name"]] = {"type": "array", "items": item} if field["list"] else item
    return {"type": "object", "properties": properties}


def response_schema(tree: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The response tree (``path: fields``, ``X[]`` a list of objects, ``X.Y`` nesting) as a schema."""
    root = _fields_schema(tree.get("", []))
    for path in sorted((p for p in tree if p), key=lambda p: p.count(".") + p.count("[]")):
        node = root
        for segment in path.split("."):
            is_list = segment.endswith("[]")
            key = segment.removesuffix("[]")
            properties = node.setdefault("properties", {})
            if is_list:
                child = properties.setdefault(key, {"type": "array", "items": {"type": "object"}})
                node = child["items"]
            else:
                node = properties.setdefault(key, {"type": "object"})
        node.setdefault("properties", {}).update(_fields_schema(tree[path])["properties"])
    return root


def _summary(name: str) -> str:
    doc = (ACTIONS[name].__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ") if doc else name


def document(server_url: str = "/") -> dict[str, Any]:
    operations = contract()["operations"]
    error = {
        "description": "The error envelope: the original's code, message and HTTP status.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    paths: dict[str, Any] = {}
    for name in sorted(ACTIONS):
        spec = _with_extras(name, operations.get(name, {"request": [], "response": {"": []}}))
        version = VERSIONS.get(name, contract()["version"])
        parameters = [
            {"name": "Action", "in": "query", "required": True, "schema": {"const": name}},
            {"name": "Version", "in": "query", "required": True, "schema": {"const": version}},
            *(_parameter(p) for p in spec["request"]),
        ]
        body = response_schema(spec["response"])
        body.setdefault("properties", {})["RequestId"] = {"type": "string"}
        paths[f"/#Action={name}"] = {
            "post": {
                "operationId": name,
                "summary": _summary(name),
                "tags": [PRODUCTS.get(version, "Cloud Assistant")],
                "parameters": parameters,
                "responses": {
                    "200": {"description": "Success", "content": {"application/json": {"schema": body}}},
                    "4XX": error,
                    "5XX": error,
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Assist API (Alibaba Cloud Cloud Assistant compatible)",
            "version": contract()["version"],
            "description": "RPC API: POST / with Action, Version and the operation's parameters in the query "
            "or a form body, signed with ACS3-HMAC-SHA256 (headers) or HMAC-SHA1 (query), as the official "
            "SDKs do. See docs/api.md.",
        },
        "servers": [{"url": server_url}],
        "security": [{"acs-signature": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "acs-signature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=...,"
                    "Signature=... (or V1: AccessKeyId, Signature, SignatureNonce, Timestamp in the query).",
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["RequestId", "Code", "Message"],
                    "properties": {
                        "RequestId": {"type": "string"},
                        "HostId": {"type": "string"},
                        "Code": {"type": "string"},
                        "Message": {"type": "string"},
                        "Recommend": {"type": "string"},
                    },
                }
            },
        },
    }
