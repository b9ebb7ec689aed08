"""The official SDK (alibabacloud-ecs20140526), unchanged, against the console served over HTTP: the
command lifecycle CreateCommand -> DescribeCommands -> InvokeCommand -> DescribeInvocations ->
StopInvocation -> ModifyCommand -> DeleteCommand, in V3 and V1. The SDK silently returns ``body=None``
when a response wrapper is wrong, so every call checks the parsed body."""

import base64

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_tea_openapi import exceptions as tea_exceptions
from django.conf import settings

from console.commands.models import Command
from console.invocations.delivery import task_run_frame
from console.invocations.models import InvocationResult
from tests.api.conftest import make_instance, make_tenant
from tests.api.test_api_official_sdk import sdk_client


@pytest.fixture
def sdk_tenant(transactional_db):
    tenant = make_tenant("sdk")
    return tenant, make_instance(tenant, "sdk-host")


@pytest.mark.parametrize("algorithm", [None, "v2"], ids=["v3", "v1"])
def test_command_lifecycle_through_the_official_sdk(live_server, sdk_tenant, algorithm) -> None:
    tenant, instance_id = sdk_tenant
    client = sdk_client(live_server, tenant.access_key_id, tenant.access_key_secret, algorithm)
    region = settings.ASSIST_REGION
    script = "echo {{greeting}} from {{ACS::InstanceId}} *~+&= 中文"

    created = client.create_command(
        ecs.CreateCommandRequest(
            region_id=region,
            name="greet",
            type="RunShellScript",
            command_content=base64.b64encode(script.encode()).decode(),
            enable_parameter=True,
            timeout=30,
            description="says hello",
        )
    )
    assert created.body is not None and created.body.command_id.startswith("c-")
    command_id = created.body.command_id

    listed = client.describe_commands(ecs.DescribeCommandsRequest(region_id=region, name="gr*"))
    assert listed.body is not None and listed.body.total_count == 1
    [command] = listed.body.commands.command
    assert (command.command_id, command.name, command.timeout, command.enable_parameter) == (
        command_id, "greet", 30, True)  # fmt: skip
    assert base64.b64decode(command.command_content).decode() == script
    assert command.parameter_names.parameter_name == ["greeting"]

    invoked = client.invoke_command(
        ecs.InvokeCommandRequest(
            region_id=region, command_id=command_id, instance_id=[instance_id], parameters={"greeting": "hi"}
        )
    )
    assert invoked.body is not None and invoked.body.invoke_id.startswith("t-")
    invoke_id = invoked.body.invoke_id
    result = InvocationResult.objects.get(invocation_id=invoke_id)
    assert task_run_frame(result).content == f"echo hi from {instance_id} *~+&= 中文"

    described = client.describe_invocations(
        ecs.DescribeInvocationsRequest(region_id=region, invoke_id=invoke_id, content_encoding="PlainText")
    )
    assert described.body is not None and described.body.total_count == 1
    [invocation] = described.body.invocations.invocation
    assert (invocation.invoke_id, invocation.command_id, invocation.invocation_status) == (
        invoke_id, command_id, "Pending")  # fmt: skip
    assert invocation.command_content == script and invocation.parameters == '{"greeting":"hi"}'
    [instance] = invocation.invoke_instances.invoke_instance
    assert (instance.instance_id, instance.invocation_status, instance.finish_time) == (
        instance_id,
        "Pending",
        "",
    )

    stopped = client.stop_invocation(ecs.StopInvocationRequest(region_id=region, invoke_id=invoke_id))
    assert stopped.body is not None and stopped.body.request_id
    after = client.describe_invocations(ecs.DescribeInvocationsRequest(region_id=region, max_results=5))
    [invocation] = after.body.invocations.invocation
    assert invocation.invocation_status == "Stopped"
    assert invocation.invoke_instances.invoke_instance[0].invocation_status == "Cancelled"
    assert after.body.next_token == ""

    modified = client.modify_command(
        ecs.ModifyCommandRequest(region_id=region, command_id=command_id, name="hi")
    )
    assert modified.body is not None and Command.objects.get(pk=command_id).name == "hi"
    deleted = client.delete_command(ecs.DeleteCommandRequest(region_id=region, command_id=command_id))
    assert deleted.body is not None and not Command.objects.exists()

    with pytest.raises(tea_exceptions.ClientException) as raised:
        client.invoke_command(
            ecs.InvokeCommandRequest(region_id=region, command_id=command_id, instance_id=[instance_id])
        )
    assert (raised.value.code, raised.value.status_code) == ("InvalidCmdId.NotFound", 404)
