"""Fuzzing every RPC operation with hostile parameters (hypothesis): whatever arrives, the answer is the
error envelope or a success, never a 5xx, and a refused request changes nothing.

Parameter names come from each operation's entry in the OpenAPI document the console serves (lists
flattened: ``InstanceId.N`` as ``InstanceId.1``, ``InstanceId.2``, ``InstanceId.51``), plus names other
operations read, so requests get past the first checks and into the services. Values mix valid ids of
the caller's own resources with hostile ones: huge strings, control characters, broken Base64, deep or
duplicate-key JSON, negative and enormous numbers, other accounts' ids.
"""

import json
import re

import pytest
from django.apps import apps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.api.actions import ACTIONS
from console.api.actions.registry import VERSIONS
from console.api.openapi import document
from console.commands.services import command_create
from console.fleet.services import activation_create
from tests.api.conftest import make_instance, make_tenant

NAMES = [
    "RegionId", "InstanceId", "InstanceId.1", "InstanceId.2", "InstanceId.51", "InvokeId", "CommandId",
    "CommandContent", "Type", "Name", "Description", "Timeout", "WorkingDir", "Username", "EnableParameter",
    "Parameters", "ContentEncoding", "KeepCommand", "RepeatMode", "Frequency", "PageNumber", "PageSize",
    "MaxResults", "NextToken", "InvokeStatus", "InvokeRecordStatus", "IncludeOutput", "IncludeHistory",
    "ActivationId", "InstanceCount", "InstanceName", "IpAddressRange", "TimeToLiveInHours", "OsType",
    "OSType", "Connected", "ResourceType", "ResourceId.1", "Tag.1.Key", "Tag.1.Value", "Tag.2.Key",
    "TagKey.1", "All", "ResourceTag.1.Key", "ResourceTag.1.Value", "Content", "ContentType", "TargetDir",
    "FileMode", "FileOwner", "FileGroup", "Overwrite", "SessionId", "CommandLine", "PortNumber",
    "ClientToken", "Latest", "Provider", "Timed", "TerminationMode", "MachineId", "InstanceIp",
]  # fmt: skip

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=31), max_size=10),
    st.sampled_from(
        [
            "",
            " ",
            "true",
            "FALSE",
            "-1",
            "0",
            "99999999999999999999999",
            "1e309",
            "NaN",
            "x" * 70_000,
            "=" * 5,
            "!!notbase64!!",
            "aGVsbG8",  # Base64 without padding
            "{}",
            "[]",
            '{"a": 1, "a": 2}',
            "[" * 5000 + "]" * 5000,
            '{"a":' * 100_000 + "1" + "}" * 100_000,  # deeper than Python's json can recurse
            '{"name": {"nested": [1, 2, {"deep": null}]}}',
            "../../etc/passwd",
            "/tmp/../etc",
            "mi-00000000000000",
            "t-doesnotexist",
            "c-doesnotexist",
            "RunShellScript",
            "Base64",
            "PlainText",
            "managedinstance",
            "local",
            "cn-hangzhou",
            "0644",
            "9999",
            "root",
            "\ud7ff\ue000\U0001f600",
        ]
    ),
)

LIST_MARK = re.compile(r"\.N(?=\.|$)")

# Tables whose rows are written by every request, refused or not (the audit trail, replay nonces).
PER_REQUEST_TABLES = {("audit", "auditevent"), ("api", "usednonce"), ("api", "clienttokenuse")}


def state() -> dict[str, tuple[int, ...]]:
    """Row counts of every console table, plus the flags that change without adding rows."""
    snapshot: dict[str, tuple[int, ...]] = {}
    for model in apps.get_models():
        meta = model._meta
        if not meta.app_label or (meta.app_label, meta.model_name) in PER_REQUEST_TABLES:
            continue
        if not model.__module__.startswith("console."):
            continue
        rows = model.objects.all()
        extra: tuple[int, ...] = ()
        if meta.model_name == "instance":
            extra = (rows.filter(deregistered_at__isnull=False).count(),)
        elif meta.model_name == "activation":
            extra = (rows.filter(disabled=True).count(),)
        snapshot[meta.label] = (rows.count(), *extra)
    return snapshot


@pytest.fixture
def world(db, region):
    """One tenant with an instance, a command and an activation, and a second tenant with an instance."""
    tenant = make_tenant("fuzz")
    other = make_tenant("fuzz-other")
    ids = {
        "instance": make_instance(tenant, "own"),
        "foreign": make_instance(other, "foreign"),
        "command": command_create(principal=tenant.principal, name="c", command_content="echo").id,
        "activation": activation_create(principal=tenant.principal).activation.id,
    }
    return tenant, ids


def wire_names(name: str) -> list[str]:
    """An OpenAPI parameter as sent: ``Tag.N.Key`` -> ``Tag.1.Key``, ``Tag.2.Key``, ``Tag.51.Key``."""
    if not LIST_MARK.search(name):
        return [name]
    return [LIST_MARK.sub(f".{n}", name) for n in (1, 2, 51)]


def openapi_names(action: str) -> list[str]:
    parameters = document()["paths"][f"/#Action={action}"]["post"]["parameters"]
    return sorted(
        {wire for p in parameters if p["name"] not in ("Action", "Version") for wire in wire_names(p["name"])}
    )


def requests(ids: dict[str, str], action: str):
    value = st.one_of(HOSTILE, st.sampled_from(sorted(ids.values())))
    own = openapi_names(action)
    names = st.one_of(st.sampled_from(own), st.sampled_from(NAMES)) if own else st.sampled_from(NAMES)
    return st.dictionaries(names, value, max_size=8)


def test_the_fuzzed_names_come_from_the_openapi_document() -> None:
    assert {"SettingType", "AgentUpgradeConfig", "ResourceUsageConfig"} <= set(
        openapi_names("ModifyCloudAssistantSettings")
    )
    assert {"TagFilter.1.TagKey", "TagFilter.2.TagValues.2"} <= set(openapi_names("ListTagResources"))
    assert {"EncryptionOptions", "TargetServer", "InstanceId.51"} <= set(
        openapi_names("StartTerminalSession")
    )


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_no_operation_answers_5xx_or_changes_anything_when_it_refuses(rpc, world, action, region) -> None:
    tenant, ids = world

    @settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(params=requests(ids, action), with_region=st.booleans())
    def check(params: dict[str, str], with_region: bool) -> None:
        sent = {"RegionId": region, **params} if with_region else params
        before = state()
        response = rpc.v1(action, {**sent, "Version": VERSIONS[action]})
        assert response.status_code < 500, (action, sent, response.content[:500])
        body = json.loads(response.content)
        assert body.get("RequestId"), body
        if response.status_code >= 400:
            assert body.get("Code") and isinstance(body.get("Message"), str), body
            assert state() == before, (action, sent, body)

    check()
