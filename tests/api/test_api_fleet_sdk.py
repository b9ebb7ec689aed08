"""Activations, managed instances and agent status through the official SDK (alibabacloud-ecs20140526),
unchanged, against the console served over HTTP, in V3 and V1 modes. The SDK silently parses a wrong
wrapper as None, so every parsed model is checked, not just the status."""

import json

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_tea_openapi import exceptions as tea_exceptions
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkecs.request.v20140526 import (
    CreateActivationRequest,
    DescribeActivationsRequest,
    DescribeCloudAssistantStatusRequest,
    DescribeManagedInstancesRequest,
    InstallCloudAssistantRequest,
)
from django.conf import settings

from console.fleet import services as fleet_services
from console.fleet.models import Activation, Instance
from tests.api.conftest import make_tenant
from tests.api.test_api_legacy_sdk import legacy_client
from tests.api.test_api_official_sdk import sdk_client


@pytest.fixture
def sdk_tenant(transactional_db):
    return make_tenant("sdk-fleet")


@pytest.mark.parametrize("algorithm", [None, "v2"], ids=["v3", "v1"])
def test_official_sdk_fleet_lifecycle(live_server, sdk_tenant, algorithm) -> None:
    tenant = sdk_tenant
    client = sdk_client(live_server, tenant.access_key_id, tenant.access_key_secret, algorithm)
    region = settings.ASSIST_REGION

    created = client.create_activation(
        ecs.CreateActivationRequest(
            region_id=region, instance_count=5, instance_name="sdk", time_to_live_in_hours=2, description="d"
        )
    )
    assert created.body is not None
    assert created.body.activation_id and created.body.activation_code.startswith("a-")
    activation_id = created.body.activation_id

    # The agent side: register with the code and say hello (what `assist-agent register` does).
    registration = fleet_services.instance_register(
        activation_id=activation_id,
        activation_code=created.body.activation_code,
        source_ip="127.0.0.1",
        hostname="sdk-host",
    )
    fleet_services.instance_hello(
        instance=registration.instance,
        agent_version="2.0.0",
        os_type="linux",
        os_name="Debian",
        hostname="sdk-host",
        ips=["10.1.2.3"],
        boot_id="b",
    )
    instance_id = registration.instance.id

    activations = client.describe_activations(
        ecs.DescribeActivationsRequest(region_id=region, activation_id=activation_id)
    )
    assert activations.body is not None and activations.body.activation_list is not None
    [activation] = activations.body.activation_list
    assert (activation.activation_id, activation.registered_count, activation.deregistered_count) == (
        activation_id,
        1,
        0,
    )
    assert activation.instance_count == 5 and activation.time_to_live_in_hours == 2
    assert activation.disabled is False and activation.creation_time.endswith("Z")
    assert activation.tags == []
    assert activations.body.total_count == 1 and activations.body.page_number == 1

    paged = client.describe_activations(ecs.DescribeActivationsRequest(region_id=region, max_results=1))
    assert paged.body is not None and paged.body.next_token == "" and len(paged.body.activation_list) == 1

    managed = client.describe_managed_instances(
        ecs.DescribeManagedInstancesRequest(region_id=region, instance_id=[instance_id], connected="true")
    )
    assert managed.body is not None and managed.body.instances is not None
    [instance] = managed.body.instances
    assert (instance.instance_id, instance.instance_name, instance.activation_id) == (
        instance_id,
        "sdk-1",
        activation_id,
    )
    assert instance.connected is True and instance.intranet_ip == "10.1.2.3"
    assert instance.invocation_count == 0 and instance.last_invoked_time == ""
    assert instance.registration_time.endswith("Z") and instance.tags == []

    renamed = client.modify_managed_instance(
        ecs.ModifyManagedInstanceRequest(region_id=region, instance_id=instance_id, instance_name="renamed")
    )
    assert renamed.body is not None and renamed.body.instance is not None
    assert (renamed.body.instance.instance_id, renamed.body.instance.instance_name) == (
        instance_id,
        "renamed",
    )

    status = client.describe_cloud_assistant_status(
        ecs.DescribeCloudAssistantStatusRequest(region_id=region, instance_id=[instance_id])
    )
    assert status.body is not None and status.body.instance_cloud_assistant_status_set is not None
    [agent] = status.body.instance_cloud_assistant_status_set.instance_cloud_assistant_status
    assert (agent.instance_id, agent.cloud_assistant_status, agent.cloud_assistant_version) == (
        instance_id,
        "true",
        "2.0.0",
    )
    assert agent.ostype == "Linux" and agent.support_session_manager is True
    assert agent.active_task_count == 0 and agent.last_heartbeat_time.endswith("Z")

    installed = client.install_cloud_assistant(
        ecs.InstallCloudAssistantRequest(region_id=region, instance_id=[instance_id])
    )
    assert installed.status_code == 200 and installed.body is not None and installed.body.request_id
    with pytest.raises(tea_exceptions.ClientException) as raised:
        client.install_cloud_assistant(
            ecs.InstallCloudAssistantRequest(region_id=region, instance_id=["mi-unknown"])
        )
    assert raised.value.code == "InvalidInstance.NotFound"

    with pytest.raises(tea_exceptions.ClientException) as raised:
        client.delete_activation(ecs.DeleteActivationRequest(region_id=region, activation_id=activation_id))
    assert raised.value.code == "InvalidActivation.InUse"

    deregistered = client.deregister_managed_instance(
        ecs.DeregisterManagedInstanceRequest(region_id=region, instance_id=instance_id)
    )
    assert deregistered.body is not None and deregistered.body.instance is not None
    assert deregistered.body.instance.instance_id == instance_id
    assert deregistered.body.instance.instance_name == "renamed"
    assert Instance.objects.get(pk=instance_id).deregistered_at is not None
    assert fleet_services.instance_authenticate(instance_id=instance_id, secret=registration.secret) is None

    disabled = client.disable_activation(
        ecs.DisableActivationRequest(region_id=region, activation_id=activation_id)
    )
    assert disabled.body is not None and disabled.body.activation is not None
    assert disabled.body.activation.disabled is True
    assert disabled.body.activation.deregistered_count == 1

    unused = client.create_activation(ecs.CreateActivationRequest(region_id=region))
    assert unused.body is not None
    deleted = client.delete_activation(
        ecs.DeleteActivationRequest(region_id=region, activation_id=unused.body.activation_id)
    )
    assert deleted.body is not None and deleted.body.activation is not None
    assert deleted.body.activation.activation_id == unused.body.activation_id
    assert not Activation.objects.filter(pk=unused.body.activation_id).exists()

    with pytest.raises(tea_exceptions.ClientException) as raised:
        client.create_activation(ecs.CreateActivationRequest(region_id=region, time_to_live_in_hours=5))
    assert raised.value.code == "InvalidParameter.TimeToLiveInHours"


def test_legacy_sdk_fleet_calls(live_server, sdk_tenant) -> None:
    """The legacy SDK (V1, raw JSON back) on the same operations."""
    tenant = sdk_tenant
    client, endpoint = legacy_client(live_server, tenant.access_key_id, tenant.access_key_secret)

    def call(request):
        request.set_endpoint(endpoint)
        request.set_protocol_type("http")
        return json.loads(client.do_action_with_exception(request))

    create = CreateActivationRequest.CreateActivationRequest()
    create.set_InstanceCount(2)
    create.set_InstanceName("legacy")
    created = call(create)
    registration = fleet_services.instance_register(
        activation_id=created["ActivationId"],
        activation_code=created["ActivationCode"],
        source_ip="127.0.0.1",
        hostname="legacy-host",
    )
    instance_id = registration.instance.id

    listed = call(DescribeActivationsRequest.DescribeActivationsRequest())
    assert [a["ActivationId"] for a in listed["ActivationList"]] == [created["ActivationId"]]
    assert listed["ActivationList"][0]["RegisteredCount"] == 1

    describe = DescribeManagedInstancesRequest.DescribeManagedInstancesRequest()
    describe.set_InstanceIds([instance_id])
    describe.set_Connected("false")
    [row] = call(describe)["Instances"]
    assert (row["InstanceId"], row["InstanceName"], row["Connected"]) == (instance_id, "legacy-1", False)

    status = DescribeCloudAssistantStatusRequest.DescribeCloudAssistantStatusRequest()
    status.set_InstanceIds([instance_id])
    [agent] = call(status)["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"]
    assert (agent["InstanceId"], agent["CloudAssistantStatus"]) == (instance_id, "false")

    install = InstallCloudAssistantRequest.InstallCloudAssistantRequest()
    install.set_InstanceIds(["mi-unknown"])
    with pytest.raises(ServerException) as raised:
        call(install)
    assert (raised.value.get_error_code(), raised.value.get_http_status()) == (
        "InvalidInstance.NotFound",
        404,
    )
