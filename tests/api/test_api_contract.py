"""The contract suite: every Cloud Assistant operation of the original, driven through the official SDK
(alibabacloud-ecs20140526, signature V3) and the legacy SDK (aliyun-python-sdk-core, signature V1)
against a real console (`manage.py serve`) with a real agent, and every answer checked against the
original's response tree (``console/api/contract.json``): each declared field present, with its type.

The official SDK's answers are checked after its own response model parsed them (``<Action>ResponseBody
.from_map`` then ``to_map``): a wrong wrapper or name makes the model drop the field, which the check then
reports as missing. The OpenAPI document served by the console is checked against the registry too.
"""

import base64
import importlib
import json
import re
from typing import Any

import pytest
import requests
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_tea_openapi import utils_models
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from darabonba.runtime import RuntimeOptions

from console.api.openapi import contract
from tests.live import embedded_console, sdk_client, wait_until

pytestmark = pytest.mark.live
# Both scenarios sign with one key as fast as the calls return: no per-key limit here (tested elsewhere).
FAST = {"ASSIST_DELIVERY_TIMEOUT": "5", "ASSIST_TICK_SECONDS": "0.5", "ASSIST_API_RATE_LIMIT": ""}
REGION = "local"
TYPES = {"string": str, "integer": int, "boolean": bool}
# Present in one paging style only (NextToken with MaxResults/NextToken, PageNumber without).
PAGING_STYLE_FIELDS = {"NextToken", "PageNumber"}
# Fields the original sends only for public commands (reference §3.1): checked for them below.
PUBLIC_COMMAND_ONLY = {"Commands.Command[]": {"Category", "Latest", "Version"}}
# DescribeCloudAssistantSettings answers the SettingType asked for; ResourceUsageConfig is not supported.
OPTIONAL_CONTAINERS = {
    "DescribeCloudAssistantSettings": {
        "ResourceUsageConfig",
        "SessionManagerConfig",
        "AgentUpgradeConfig",
        "AgentUpgradeConfig.AllowedUpgradeWindows",
        "OssDeliveryConfigs.OssDeliveryConfig[]",
        "SlsDeliveryConfigs.SlsDeliveryConfig[]",
    }
}


def _containers(body: Any, path: str) -> tuple[list[dict], bool]:
    """The objects at ``path`` (``X.Y[]`` walks into each list item); False when a step is missing."""
    nodes: list[Any] = [body]
    if not path:
        return nodes, True
    for segment in path.split("."):
        key = segment.removesuffix("[]")
        found: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict) or key not in node:
                return [], False
            value = node[key]
            if segment.endswith("[]"):
                if not isinstance(value, list):
                    return [], False
                found.extend(value)
            else:
                found.append(value)
        nodes = found
    return nodes, True


def contract_problems(action: str, body: dict) -> list[str]:
    tree = contract()["operations"][action]["response"]
    problems = []
    for path, fields in tree.items():
        containers, present = _containers(body, path)
        if not present:
            if path not in OPTIONAL_CONTAINERS.get(action, ()):
                problems.append(f"{action}: {path or '(top)'} is missing")
            continue
        for container in containers:
            if not isinstance(container, dict):
                problems.append(f"{action}: {path} is not an object")
                continue
            for field in fields:
                name = field["name"]
                if name not in container:
                    if name in PAGING_STYLE_FIELDS or name in PUBLIC_COMMAND_ONLY.get(path, ()):
                        continue
                    problems.append(f"{action}: {path}.{name} is missing".replace(": .", ": "))
                    continue
                value = container[name]
                expected = TYPES[field["type"]]
                values = value if field["list"] else [value]
                if field["list"] and not isinstance(value, list):
                    problems.append(f"{action}: {path}.{name} is not a list")
                    continue
                for item in values:
                    if not isinstance(item, expected) or (expected is int and isinstance(item, bool)):
                        problems.append(f"{action}: {path}.{name} is {item!r}, not {field['type']}")
    return problems


def json_style(params: dict[str, Any]) -> dict[str, Any]:
    """Struct parameters (dicts) as the new SDK sends them: one JSON-encoded string each."""
    return {name: json.dumps(value) if isinstance(value, dict) else value for name, value in params.items()}


class Official:
    """Any operation through the official SDK's own request path (V3 signature), parsed by its model."""

    def __init__(self, client: OpenApiClient) -> None:
        self.client = client

    def call(self, action: str, params: dict[str, Any]) -> dict:
        answer = self.client.call_api(
            utils_models.Params(
                action=action, version="2014-05-26", protocol="HTTPS", pathname="/", method="POST",
                auth_type="AK", style="RPC", req_body_type="formData", body_type="json",
            ),
            utils_models.OpenApiRequest(query=Utils.query(json_style(params))),
            RuntimeOptions(),
        )  # fmt: skip
        model = getattr(ecs_models, f"{action}ResponseBody")().from_map(answer["body"])
        return model.to_map()


LIST_PARAMETER = re.compile(r"^(?P<name>[A-Za-z]+)\.(?P<index>[0-9]+)(?:\.(?P<field>[A-Za-z]+))?$")


class Legacy:
    """Any operation through the legacy SDK: aliyun-python-sdk-ecs's own ``<Action>Request`` class filled
    through its setters (``set_InstanceIds([...])``, ``set_Tags([{"Key", "Value"}])``, ``set_Name``), sent
    by aliyun-python-sdk-core's AcsClient (V1 signature, parameters in the URL); raw JSON back."""

    def __init__(self, url: str, key: dict) -> None:
        self.endpoint = url.removeprefix("http://")
        self.client = AcsClient(key["AccessKeyId"], key["AccessKeySecret"], REGION)

    @staticmethod
    def request_of(action: str, params: dict[str, Any]) -> Any:
        module = importlib.import_module(f"aliyunsdkecs.request.v20140526.{action}Request")
        request = getattr(module, f"{action}Request")()
        lists: dict[str, dict[int, Any]] = {}
        for name, value in params.items():
            if name == "RegionId":  # the client adds its own region (AcsClient(..., REGION)); no setter
                assert value == REGION
                continue
            match = LIST_PARAMETER.match(name)
            if match is None:
                getattr(request, f"set_{name}")(value)  # every parameter the test sends has a setter
                continue
            items = lists.setdefault(match["name"], {})
            if match["field"]:
                items.setdefault(int(match["index"]), {})[match["field"]] = value
            else:
                items[int(match["index"])] = value
        for name, items in lists.items():
            getattr(request, f"set_{name}s")([items[index] for index in sorted(items)])
        return request

    def call(self, action: str, params: dict[str, Any]) -> dict:
        request = self.request_of(action, params)
        request.set_endpoint(self.endpoint)
        request.set_protocol_type("http")
        return json.loads(self.client.do_action_with_exception(request))


def flat(name: str, values: list[str]) -> dict[str, str]:
    return {f"{name}.{n}": value for n, value in enumerate(values, start=1)}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    procs, console = embedded_console(tmp_path_factory.mktemp("contract"), extra_env=FAST)
    try:
        key = console.bootstrap()
        instances = console.add_agents(2, prefix="contract")
        official = Official(sdk_client(console, key))

        def online() -> bool:
            body = official.call(
                "DescribeCloudAssistantStatus", {"RegionId": REGION, **flat("InstanceId", instances)}
            )
            rows = body["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"]
            return {row["CloudAssistantStatus"] for row in rows} == {"true"}

        wait_until(online, timeout=30, message="the agents online")
        yield console, instances, official, Legacy(console.url, key)
    finally:
        procs.stop_all()


def finished(official: Official, invoke_id: str) -> dict:
    def done():
        body = official.call(
            "DescribeInvocationResults",
            {"RegionId": REGION, "InvokeId": invoke_id, "ContentEncoding": "PlainText"},
        )
        rows = body["Invocation"]["InvocationResults"]["InvocationResult"]
        return (
            body if rows and all(r["InvocationStatus"] not in ("Pending", "Running") for r in rows) else None
        )

    return wait_until(done, timeout=30, message=f"{invoke_id} to finish")


@pytest.mark.parametrize("sdk", ["official", "legacy"])
def test_every_operation_answers_the_original_response_tree(world, sdk) -> None:
    """The whole API once through each SDK (a few reads through the other one too)."""
    console, instances, official, legacy = world
    primary, other = (official, legacy) if sdk == "official" else (legacy, official)
    instance = instances[0] if sdk == "official" else instances[1]
    answers: dict[str, list[dict]] = {}

    def call(action: str, params: dict[str, Any], *, via: Official | Legacy | None = None) -> dict:
        body = (via or primary).call(action, {"RegionId": REGION, **params})
        answers.setdefault(action, []).append(body)
        return body

    spare = call("CreateActivation", {"InstanceCount": 1, "Description": "contract", "Tag.1.Key": "suite"})
    call("DescribeActivations", {"ActivationId": spare["ActivationId"]})
    call("DescribeActivations", {"MaxResults": 5}, via=other)
    call("DescribeManagedInstances", flat("InstanceId", [instance]))
    call("DescribeManagedInstances", {}, via=other)
    call("ModifyManagedInstance", {"InstanceId": instance, "InstanceName": "contract-box"})
    call("DescribeCloudAssistantStatus", flat("InstanceId", [instance]))
    call("DescribeCloudAssistantStatus", {}, via=other)
    call("InstallCloudAssistant", flat("InstanceId", [instance]))
    call("ListPluginStatus", {"Name": "ecsgo", **flat("InstanceId", [instance])})

    command = call(
        "CreateCommand",
        {
            "Name": "contract",
            "Type": "RunShellScript",
            "CommandContent": base64.b64encode(b"echo contract {{who}}").decode(),
            "EnableParameter": True,
            "Tag.1.Key": "suite",
            "Tag.1.Value": "contract",
        },
    )
    call("DescribeCommands", {"CommandId": command["CommandId"]})
    call("DescribeCommands", {"Tag.1.Key": "suite"}, via=other)
    public = call("DescribeCommands", {"Provider": "AlibabaCloud", "Latest": True}, via=other)
    public_rows = public["Commands"]["Command"]  # the public-only fields are there for them
    assert public_rows and all({"Category", "Latest", "Version"} <= set(r) for r in public_rows)
    call("ModifyCommand", {"CommandId": command["CommandId"], "Description": "changed"})
    invoked = call(
        "InvokeCommand",
        {
            "CommandId": command["CommandId"],
            "Parameters": json.dumps({"who": "me"}),
            **flat("InstanceId", [instance]),
        },
    )
    ran = call(
        "RunCommand",
        {"Type": "RunShellScript", "CommandContent": "echo run", **flat("InstanceId", [instance])},
    )
    via_legacy = call(
        "RunCommand",
        {"Type": "RunShellScript", "CommandContent": "echo v1", **flat("InstanceId", [instance])},
        via=other,
    )
    for invoke_id in (invoked["InvokeId"], ran["InvokeId"], via_legacy["InvokeId"]):
        answers["DescribeInvocationResults"] = [
            *answers.get("DescribeInvocationResults", []),
            finished(official, invoke_id),
        ]
    output = answers["DescribeInvocationResults"][0]["Invocation"]["InvocationResults"]["InvocationResult"][0]
    assert output["Output"] == "contract me\n"
    call("DescribeInvocationResults", {"InvokeId": ran["InvokeId"]}, via=other)
    call("DescribeInvocations", {"InvokeId": ran["InvokeId"], "IncludeOutput": True})
    call("DescribeInvocations", {"PageSize": 5}, via=other)
    sleeper = call(
        "RunCommand",
        {"Type": "RunShellScript", "CommandContent": "sleep 30", **flat("InstanceId", [instance])},
    )
    wait_until(
        lambda: (
            official.call("DescribeInvocations", {"RegionId": REGION, "InvokeId": sleeper["InvokeId"]})[
                "Invocations"
            ]["Invocation"][0]["InvocationStatus"]
            == "Running"
        ),
        timeout=20,
        message="the sleeper running",
    )
    call("StopInvocation", {"InvokeId": sleeper["InvokeId"]})
    with pytest.raises((ClientException, ServerException)) as refused:
        call("ModifyInvocationAttribute", {"InvokeId": ran["InvokeId"], "CommandContent": "echo changed"})
    code = refused.value.code if sdk == "official" else refused.value.get_error_code()
    assert code == "InvalidOperation.RepeatMode"
    periodic = call(
        "RunCommand",
        {
            "Type": "RunShellScript",
            "CommandContent": "echo tick",
            "RepeatMode": "Period",
            "Frequency": "rate(1h)",
            **flat("InstanceId", [instance]),
        },
    )
    modified = call("ModifyInvocationAttribute", {"InvokeId": periodic["InvokeId"], "Frequency": "rate(2h)"})
    assert modified["CommandId"] == periodic["CommandId"]  # same content: the task keeps its command
    changed = call(
        "ModifyInvocationAttribute", {"InvokeId": periodic["InvokeId"], "CommandContent": "echo tock"}
    )
    assert changed["CommandId"].startswith("c-") and changed["CommandId"] != periodic["CommandId"]
    task = official.call("DescribeInvocations", {"RegionId": REGION, "InvokeId": periodic["InvokeId"]})
    [row] = task["Invocations"]["Invocation"]
    assert (row["Frequency"], row["CommandId"]) == ("rate(2h)", changed["CommandId"])
    call("StopInvocation", {"InvokeId": periodic["InvokeId"]})

    sent = call(
        "SendFile",
        {
            "Name": "contract.txt",
            "TargetDir": str(console.procs.workdir / "sent" / sdk),
            "Content": "hello file",
            "Overwrite": True,
            **flat("InstanceId", [instance]),
        },
    )

    def file_done():
        body = official.call("DescribeSendFileResults", {"RegionId": REGION, "InvokeId": sent["InvokeId"]})
        status = body["Invocations"]["Invocation"][0]["InvocationStatus"]
        return body if status not in ("Pending", "Running") else None

    answers["DescribeSendFileResults"] = [wait_until(file_done, timeout=30, message="the file sent")]
    assert (console.procs.workdir / "sent" / sdk / "contract.txt").read_text() == "hello file"
    call("DescribeSendFileResults", {"InvokeId": sent["InvokeId"]}, via=other)

    call(
        "TagResources",
        {
            "ResourceType": "managedinstance",
            "Tag.1.Key": "env",
            "Tag.1.Value": "test",
            **flat("ResourceId", [instance]),
        },
    )
    call("ListTagResources", {"ResourceType": "managedinstance", **flat("ResourceId", [instance])})
    call("ListTagResources", {"ResourceType": "managedinstance", "Tag.1.Key": "env"}, via=other)
    call(
        "UntagResources",
        {"ResourceType": "managedinstance", "TagKey.1": "env", **flat("ResourceId", [instance])},
    )

    call(
        "ModifyCloudAssistantSettings",
        {
            "SettingType": "SessionManagerConfig",
            # A struct: the legacy SDK's setter JSON-encodes it, the new SDK sends it as one JSON string.
            "SessionManagerConfig": {"SessionManagerEnabled": True},
        },
    )
    call(
        "DescribeCloudAssistantSettings",
        flat("SettingType", ["SessionManagerConfig", "AgentUpgradeConfig", "InvocationDelivery"]),
    )

    session = call("StartTerminalSession", flat("InstanceId", [instance]))
    call("DescribeTerminalSessions", {"SessionId": session["SessionId"]})
    call("DescribeTerminalSessions", {"InstanceId": instance}, via=other)
    call("EndTerminalSession", {"SessionId": session["SessionId"]})

    call("DeleteCommand", {"CommandId": command["CommandId"]})
    call("DisableActivation", {"ActivationId": spare["ActivationId"]})
    unused = call("CreateActivation", {"InstanceCount": 1})
    call("DeleteActivation", {"ActivationId": unused["ActivationId"]})
    call("DeregisterManagedInstance", {"InstanceId": instance})

    assert sorted(answers) == sorted(contract()["operations"])  # every operation was driven
    problems = [
        problem
        for action, bodies in answers.items()
        for body in bodies
        for problem in contract_problems(action, body)
    ]
    assert problems == [], "\n".join(problems)


def test_the_contract_check_notices_a_missing_wrapper_or_a_wrong_type() -> None:
    good = {
        "RequestId": "r",
        "Invocation": {
            "PageNumber": 1,
            "PageSize": 10,
            "TotalCount": 0,
            "InvocationResults": {"InvocationResult": []},
        },
    }
    assert contract_problems("DescribeInvocationResults", good) == []
    unwrapped = {"RequestId": "r", "Invocation": {"PageSize": 10, "TotalCount": 0, "InvocationResult": []}}
    assert contract_problems("DescribeInvocationResults", unwrapped)
    wrong_type = json.loads(json.dumps(good))
    wrong_type["Invocation"]["TotalCount"] = "0"
    assert contract_problems("DescribeInvocationResults", wrong_type) == [
        "DescribeInvocationResults: Invocation.TotalCount is '0', not integer"
    ]


def test_the_openapi_document_lists_every_operation(world) -> None:
    console = world[0]
    document = requests.get(f"{console.url}/api/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    operations = {path.removeprefix("/#Action="): spec["post"] for path, spec in document["paths"].items()}
    for action, spec in contract()["operations"].items():
        described = operations[action]
        names = {p["name"] for p in described["parameters"]}
        assert {p["name"] for p in spec["request"]} <= names, action
        assert {"Action", "Version"} <= names
        required = {p["name"] for p in described["parameters"] if p["required"]}
        assert {p["name"] for p in spec["request"] if p["required"]} | {"Action", "Version"} == required
    assert operations["AssumeRole"]["parameters"][1]["schema"] == {"const": "2015-04-01"}
    body = operations["DescribeInvocations"]["responses"]["200"]["content"]["application/json"]["schema"]
    invocation = body["properties"]["Invocations"]["properties"]["Invocation"]["items"]
    assert invocation["properties"]["InvokeInstances"]["properties"]["InvokeInstance"]["type"] == "array"
    # This server's extras are described too: rate control on runs, and answered by DescribeInvocations.
    for action in ("RunCommand", "InvokeCommand"):
        extras = {p["name"]: p for p in operations[action]["parameters"]}
        assert not extras["MaxConcurrency"]["required"] and "extra" in extras["MaxErrors"]["description"]
    assert {"MaxConcurrency", "MaxErrors"} <= set(invocation["properties"])
