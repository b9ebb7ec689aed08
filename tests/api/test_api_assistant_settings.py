"""DescribeCloudAssistantSettings / ModifyCloudAssistantSettings, ListPluginStatus and
ModifyInvocationAttribute through signed requests and the official SDK; and AgentUpgradeConfig deciding
when the console offers agents a new version."""

import json
from urllib.parse import urlsplit

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi import exceptions as tea_exceptions
from alibabacloud_tea_openapi.models import Config
from django.conf import settings

from console.fleet.models import AssistantSettings
from console.iam import services as iam
from console.invocations.models import Invocation
from console.releases import selectors as releases
from console.releases import services as release_services
from tests.api.conftest import Rpc, make_instance, make_tenant


def modify(rpc: Rpc, region: str, kind: str, config: dict | str):
    text = config if isinstance(config, str) else json.dumps(config)
    return rpc.v1("ModifyCloudAssistantSettings", {"RegionId": region, "SettingType": kind, kind: text})


def describe(rpc: Rpc, region: str, *kinds: str):
    params = {"RegionId": region, **{f"SettingType.{n}": kind for n, kind in enumerate(kinds, start=1)}}
    return rpc.v1("DescribeCloudAssistantSettings", params)


@pytest.mark.django_db
def test_settings_default_then_change(rpc, region) -> None:
    body = describe(rpc, region, "SessionManagerConfig", "AgentUpgradeConfig").json()
    assert body["SessionManagerConfig"] == {"SessionManagerEnabled": True}
    assert body["AgentUpgradeConfig"] == {
        "AllowedUpgradeWindows": {"AllowedUpgradeWindow": []},
        "BootstrapUpgrade": True,
        "DisableUpgrade": False,
        "Enabled": False,
        "TimeZone": "UTC",
    }
    assert modify(rpc, region, "SessionManagerConfig", {"SessionManagerEnabled": False}).status_code == 200
    upgrade = {"Enabled": True, "AllowedUpgradeWindow": ["02:00-04:00"], "TimeZone": "Asia/Shanghai"}
    assert modify(rpc, region, "AgentUpgradeConfig", upgrade).status_code == 200
    body = describe(rpc, region, "SessionManagerConfig", "AgentUpgradeConfig", "InvocationDelivery").json()
    assert body["SessionManagerConfig"] == {"SessionManagerEnabled": False}
    assert body["AgentUpgradeConfig"]["AllowedUpgradeWindows"] == {"AllowedUpgradeWindow": ["02:00-04:00"]}
    assert body["AgentUpgradeConfig"]["TimeZone"] == "Asia/Shanghai"
    assert body["OssDeliveryConfigs"] == {"OssDeliveryConfig": []}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "config", "code"),
    [
        ("ResourceUsageConfig", {"CpuLimit": 20}, "InvalidParameter.SettingType"),
        ("InvocationDelivery", {"Enabled": True}, "InvalidParameter.SettingType"),
        ("Nonsense", {}, "InvalidParameter.SettingType"),
        ("SessionManagerConfig", "{not json", "InvalidParameter.SessionManagerConfig"),
        ("AgentUpgradeConfig", {"AllowedUpgradeWindow": ["2-3"]}, "InvalidParameter.AgentUpgradeConfig"),
        ("AgentUpgradeConfig", "[" * 5000, "InvalidParameter.AgentUpgradeConfig"),
    ],
)
def test_bad_settings_change_nothing(rpc, region, kind, config, code) -> None:
    answer = modify(rpc, region, kind, config)
    assert answer.status_code == 400, answer.content
    assert answer.json()["Code"] == code
    assert not AssistantSettings.objects.exists()


@pytest.mark.django_db
def test_settings_are_per_account_and_need_permission(client, tenant, region) -> None:
    mine = Rpc(client, tenant)
    modify(mine, region, "SessionManagerConfig", {"SessionManagerEnabled": False})
    other = Rpc(client, make_tenant("globex"))
    assert describe(other, region, "SessionManagerConfig").json()["SessionManagerConfig"] == {
        "SessionManagerEnabled": True
    }
    user = iam.ram_user_create(principal=tenant.principal, name="viewer")
    key = iam.access_key_create(user=user)
    signed = {"access_key_id": key.access_key_id, "secret": key.access_key_secret}
    params = {"RegionId": region, "SettingType": "SessionManagerConfig", "SessionManagerConfig": "{}"}
    assert mine.v1("ModifyCloudAssistantSettings", params, **signed).status_code == 403
    assert AssistantSettings.objects.get().session_manager_enabled is False


@pytest.mark.django_db
def test_list_plugin_status(rpc, tenant, region) -> None:
    first, second = make_instance(tenant, "a"), make_instance(tenant, "b")
    named = rpc.v1(
        "ListPluginStatus",
        {"RegionId": region, "Name": "ecsgo", "InstanceId.1": first, "InstanceId.2": second},
    ).json()
    rows = named["InstancePluginStatusSet"]["InstancePluginStatus"]
    assert sorted(row["InstanceId"] for row in rows) == sorted([first, second])
    assert {row["PluginStatusSet"]["PluginStatus"][0]["PluginStatus"] for row in rows} == {"NotInstalled"}
    everything = rpc.v1("ListPluginStatus", {"RegionId": region, "InstanceId.1": first}).json()
    assert everything["InstancePluginStatusSet"]["InstancePluginStatus"] == [
        {"InstanceId": first, "PluginStatusSet": {"PluginStatus": []}}
    ]
    both = rpc.v1("ListPluginStatus", {"RegionId": region, "InstanceId.1": first, "InstanceId.2": second})
    assert both.status_code == 400 and both.json()["Code"] == "InvalidParameter.InstanceId"
    gone = rpc.v1("ListPluginStatus", {"RegionId": region, "Name": "x", "InstanceId.1": "mi-missing"})
    assert gone.status_code == 404


@pytest.mark.django_db
def test_modify_invocation_attribute_checks_input_then_refuses_once_tasks(rpc, instance_id, region) -> None:
    run = {
        "RegionId": region,
        "Type": "RunShellScript",
        "CommandContent": "echo",
        "InstanceId.1": instance_id,
    }
    invoke_id = rpc.v1("RunCommand", run).json()["InvokeId"]
    cases = [
        ({"InvokeId": "t-missing"}, 404, "InvalidInvokeId.NotFound"),
        ({"InvokeId": invoke_id, "InstanceId.1": "mi-missing"}, 404, "InvalidInstance.NotFound"),
        ({"InvokeId": invoke_id, "CommandContent": "x" * 30_000}, 403, "CmdContent.ExceedLimit"),
        ({"InvokeId": invoke_id, "Frequency": "rate(5m)"}, 400, "InvalidParameter.Frequency"),
        ({"InvokeId": invoke_id, "CommandContent": "echo changed"}, 403, "InvalidOperation.RepeatMode"),
    ]
    for params, status, code in cases:
        answer = rpc.v1("ModifyInvocationAttribute", {"RegionId": region, **params})
        assert (answer.status_code, answer.json()["Code"]) == (status, code), params
    assert Invocation.objects.get().command_content == "echo"


@pytest.mark.django_db
def test_agent_upgrade_config_decides_when_an_offer_is_made(rpc, tenant, region, settings) -> None:
    settings.DATA_DIR = settings.DATA_DIR / "upgrade-config-test"
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    instance = make_instance(tenant)
    release_services.release_publish(data=b"PK\x03\x04 pretend", version="9.9")
    release_services.account_target_set(principal=tenant.principal, version="9.9")
    assert releases.offer_for(instance_id=instance, agent_version="1.0").version == "9.9"
    modify(rpc, region, "AgentUpgradeConfig", {"BootstrapUpgrade": False})
    assert releases.offer_for(instance_id=instance, agent_version="1.0", at_connect=True) is None
    assert releases.offer_for(instance_id=instance, agent_version="1.0").version == "9.9"
    modify(rpc, region, "AgentUpgradeConfig", {"DisableUpgrade": True})
    assert releases.offer_for(instance_id=instance, agent_version="1.0") is None
    never_now = {"Enabled": True, "AllowedUpgradeWindow": ["00:00-01:00"], "TimeZone": "UTC"}
    always = {"Enabled": True, "AllowedUpgradeWindow": ["00:00-23:59"], "TimeZone": "UTC"}
    modify(rpc, region, "AgentUpgradeConfig", always)
    assert releases.offer_for(instance_id=instance, agent_version="1.0").version == "9.9"
    from django.utils import timezone

    hour = timezone.now().hour
    never_now["AllowedUpgradeWindow"] = [f"{(hour + 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00"]
    modify(rpc, region, "AgentUpgradeConfig", never_now)
    assert releases.offer_for(instance_id=instance, agent_version="1.0") is None


def test_settings_plugins_and_modify_through_the_official_sdk(live_server, transactional_db) -> None:
    region = settings.ASSIST_REGION
    tenant = make_tenant("sdk-settings")
    instance = make_instance(tenant, "sdk-box")
    endpoint = urlsplit(live_server.url).netloc.replace("localhost", "127.0.0.1")
    sdk = Client(
        Config(
            access_key_id=tenant.access_key_id,
            access_key_secret=tenant.access_key_secret,
            endpoint=endpoint,
            protocol="http",
        )
    )
    sdk.modify_cloud_assistant_settings(
        ecs.ModifyCloudAssistantSettingsRequest(
            region_id=region,
            setting_type="AgentUpgradeConfig",
            agent_upgrade_config=ecs.ModifyCloudAssistantSettingsRequestAgentUpgradeConfig(
                enabled=True, allowed_upgrade_window=["02:00-03:00"], time_zone="UTC"
            ),
        )
    )
    described = sdk.describe_cloud_assistant_settings(
        ecs.DescribeCloudAssistantSettingsRequest(region_id=region, setting_type=["AgentUpgradeConfig"])
    ).body
    assert described.agent_upgrade_config.enabled is True
    assert described.agent_upgrade_config.allowed_upgrade_windows.allowed_upgrade_window == ["02:00-03:00"]
    plugins = sdk.list_plugin_status(
        ecs.ListPluginStatusRequest(region_id=region, instance_id=[instance], name="ecsgo")
    ).body
    [row] = plugins.instance_plugin_status_set.instance_plugin_status
    assert row.instance_id == instance
    assert row.plugin_status_set.plugin_status[0].plugin_status == "NotInstalled"
    ran = sdk.run_command(
        ecs.RunCommandRequest(
            region_id=region, type="RunShellScript", command_content="id", instance_id=[instance]
        )
    )
    with pytest.raises(tea_exceptions.ClientException) as refused:
        sdk.modify_invocation_attribute(
            ecs.ModifyInvocationAttributeRequest(
                region_id=region, invoke_id=ran.body.invoke_id, command_content="echo changed"
            )
        )
    assert refused.value.code == "InvalidOperation.RepeatMode"
