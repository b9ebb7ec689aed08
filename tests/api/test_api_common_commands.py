"""Common (public) commands through the RPC API and the services: DescribeCommands with Provider, Latest
and the public-only fields; ModifyCommand/DeleteCommand refused; InvokeCommand by id or by name, with
the documented defaults and checks; RAM names a public command by its name."""

import base64

import pytest

from console.commands.common import public_command, public_commands
from console.commands.models import Command
from console.commands.services import command_clone
from console.errors import ServiceError
from console.iam.models import User
from console.iam.services import access_key_create
from console.invocations import services as inv_services
from console.invocations.delivery import task_run_frame
from console.invocations.models import InvocationResult
from tests.api.conftest import Rpc, Tenant
from tests.iam.conftest import ram_principal

HEALTH = "ACS-ECS-InstanceHealthCheck-for-linux.sh"
INSTALL = "ACS-ECS-InstallPackage-for-linux.sh"
SERVICE_NAME = "ACS-ECS-ManageService-for-linux.sh"


def describe(rpc, region, **params):
    response = rpc.v3("DescribeCommands", {"RegionId": region, **params})
    assert response.status_code == 200, response.content
    return response.json()


def rows(rpc, region, **params):
    return describe(rpc, region, PageSize="50", **params)["Commands"]["Command"]


def create_own(rpc, region, name="mine") -> str:
    response = rpc.v3(
        "CreateCommand",
        {"RegionId": region, "Name": name, "Type": "RunShellScript", "CommandContent": "ZWNobyBoaQ=="},
    )
    assert response.status_code == 200, response.content
    return response.json()["CommandId"]


def test_provider_alibabacloud_lists_every_public_command_with_the_public_fields(rpc, region):
    create_own(rpc, region)
    listed = rows(rpc, region, Provider="AlibabaCloud")
    assert {r["CommandId"] for r in listed} == {c.id for c in public_commands()}
    assert "mine" not in {r["Name"] for r in listed}
    [v2] = [r for r in listed if r["CommandId"] == "c-acs-healthcheck-linux-v2"]
    command = public_command("c-acs-healthcheck-linux-v2")
    assert v2["Name"] == HEALTH
    assert (v2["Version"], v2["Latest"], v2["Category"]) == (2, True, "Diagnose")
    assert v2["Provider"] == "AlibabaCloud.ECS.GuestOSDiagnose"
    assert base64.b64decode(v2["CommandContent"]).decode() == command.content
    assert v2["EnableParameter"] is True
    assert v2["ParameterNames"]["ParameterName"] == ["disk_threshold"]
    assert v2["ParameterDefinitions"]["ParameterDefinition"] == [
        {
            "DefaultValue": "90",
            "Description": command.parameters[0].description,
            "ParameterName": "disk_threshold",
            "PatternRegex": "([1-9]|[1-9][0-9]|100)",
            "PossibleValues": {"PossibleValue": []},
            "Required": False,
        }
    ]
    assert v2["CreationTime"] == "2026-12-01T00:00:00Z"
    [v1] = [r for r in listed if r["CommandId"] == "c-acs-healthcheck-linux-v1"]
    assert (v1["Version"], v1["Latest"]) == (1, False)


def test_own_commands_carry_no_public_fields_and_no_public_command_is_listed_without_provider(rpc, region):
    create_own(rpc, region)
    [own] = rows(rpc, region)
    assert own["Name"] == "mine"
    assert not {"Version", "Latest", "Category"} & set(own)
    assert rows(rpc, region, Name="*ACS-ECS*") == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"Provider": "AlibabaCloud.ECS.GuestOSDiagnose"},
            {c.id for c in public_commands() if c.provider == "AlibabaCloud.ECS.GuestOSDiagnose"},
        ),
        (
            {"Provider": "AlibabaCloud.ECS.GuestOS"},
            {c.id for c in public_commands() if c.provider == "AlibabaCloud.ECS.GuestOS"},
        ),
        ({"Provider": "AlibabaCloud.Unknown"}, set()),
        ({"Provider": "AlibabaCloud", "Latest": "true"}, {c.id for c in public_commands() if c.latest}),
        (
            {"Provider": "AlibabaCloud", "Name": "healthcheck-for-linux"},
            {"c-acs-healthcheck-linux-v1", "c-acs-healthcheck-linux-v2"},
        ),
        (
            {"Provider": "AlibabaCloud", "Name": "healthcheck-for-linux", "Latest": "true"},
            {"c-acs-healthcheck-linux-v2"},
        ),
        (
            {"Provider": "AlibabaCloud", "Type": "RunPowerShellScript"},
            {"c-acs-healthcheck-windows-v1", "c-acs-manageservice-windows-v1"},
        ),
        (
            {"Provider": "AlibabaCloud", "CommandId": "c-acs-installpackage-linux-v1"},
            {"c-acs-installpackage-linux-v1"},
        ),
        ({"Provider": "AlibabaCloud", "CommandId": INSTALL}, {"c-acs-installpackage-linux-v1"}),
        ({"Provider": "AlibabaCloud", "Tag.1.Key": "team"}, set()),  # public commands carry no tags
    ],
)
def test_describe_public_commands_filters(rpc, region, params, expected):
    assert {r["CommandId"] for r in rows(rpc, region, **params)} == expected


def test_public_commands_page_in_both_styles(rpc, region):
    everything = [r["CommandId"] for r in rows(rpc, region, Provider="AlibabaCloud")]
    page2 = describe(rpc, region, Provider="AlibabaCloud", PageNumber="2", PageSize="5")
    assert [r["CommandId"] for r in page2["Commands"]["Command"]] == everything[5:10]
    assert page2["TotalCount"] == len(everything)
    seen, token = [], None
    while True:
        params = {"Provider": "AlibabaCloud", "MaxResults": "4", **({"NextToken": token} if token else {})}
        page = describe(rpc, region, **params)
        seen += [r["CommandId"] for r in page["Commands"]["Command"]]
        token = page["NextToken"]
        if not token:
            break
    assert seen == everything
    bad = rpc.v3("DescribeCommands", {"RegionId": region, "Provider": "AlibabaCloud", "NextToken": "zzz"})
    assert (bad.status_code, bad.json()["Code"]) == (400, "InvalidParameter.NextToken")


@pytest.mark.parametrize("command_id", ["c-acs-installpackage-linux-v1", INSTALL])
@pytest.mark.parametrize(
    ("action", "extra"),
    [("ModifyCommand", {"Name": "renamed"}), ("ModifyCommand", {}), ("DeleteCommand", {})],
)
def test_public_commands_cannot_be_modified_or_deleted(rpc, region, command_id, action, extra):
    response = rpc.v3(action, {"RegionId": region, "CommandId": command_id, **extra})
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["Code"] == "InvalidOperation.PublicCommand"
    assert INSTALL in body["Message"] and "Clone it" in body["Message"]
    assert public_command(command_id).name == INSTALL  # still there, unchanged


def test_a_public_command_can_be_cloned_into_an_own_command(tenant, region):
    copy = command_clone(principal=tenant.principal, command_id=HEALTH, region=region, name="my-health")
    assert (copy.name, copy.version, copy.family_id) == ("my-health", 1, copy.id)
    assert copy.content == public_command(HEALTH).content
    assert Command.objects.filter(account_id=tenant.account_id).count() == 1


def contents(invocation):
    return [task_run_frame(r).content for r in InvocationResult.objects.filter(invocation=invocation)]


@pytest.mark.parametrize(
    ("command_id", "ran"),
    [(HEALTH, "c-acs-healthcheck-linux-v2"), ("c-acs-healthcheck-linux-v1", "c-acs-healthcheck-linux-v1")],
)
def test_invoke_command_runs_a_public_command_by_name_or_id(
    rpc, tenant, region, instance_id, command_id, ran
):
    response = rpc.v3(
        "InvokeCommand", {"RegionId": region, "CommandId": command_id, "InstanceId.1": instance_id}
    )
    assert response.status_code == 200, response.content
    invoke_id = response.json()["InvokeId"]
    described = rpc.v3("DescribeInvocations", {"RegionId": region, "InvokeId": invoke_id}).json()
    [invocation] = described["Invocations"]["Invocation"]
    assert (invocation["CommandId"], invocation["CommandName"]) == (ran, HEALTH)
    assert invocation["Timeout"] == public_command(ran).timeout
    listed = rows(rpc, region, Provider="AlibabaCloud", CommandId=ran)
    assert listed[0]["InvokeTimes"] == 1


def test_invoke_fills_defaults_and_checks_values(tenant, region, instance_id):
    invocation = inv_services.invocation_invoke_command(
        principal=tenant.principal,
        command_id=INSTALL,
        instance_ids=[instance_id],
        region=region,
        parameters={"packages": "curl"},
    )
    [script] = contents(invocation)
    assert "packages='curl'\ndry_run='false'\n" in script
    assert invocation.parameters == {"packages": "curl"}
    for passed, code in [
        ({}, "MissingParameter.Parameters"),
        ({"packages": "curl'; reboot; '"}, "InvalidParameter.Parameters"),
        ({"packages": "curl", "dry_run": "maybe"}, "InvalidParameter.Parameters"),
        ({"packages": "curl", "nope": "1"}, "Parameter.NotMatched"),
    ]:
        with pytest.raises(ServiceError) as raised:
            inv_services.invocation_invoke_command(
                principal=tenant.principal,
                command_id=INSTALL,
                instance_ids=[instance_id],
                region=region,
                parameters=passed,
            )
        assert raised.value.code == code, passed


def test_invoke_command_error_for_a_missing_required_value_over_the_api(rpc, region, instance_id):
    response = rpc.v3(
        "InvokeCommand", {"RegionId": region, "CommandId": INSTALL, "InstanceId.1": instance_id}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["Code"] == "MissingParameter.Parameters"
    assert "'packages'" in body["Message"]


def test_ram_names_a_public_command_by_its_name(tenant, region, instance_id):
    def policy(command_resource):
        return {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["ecs:InvokeCommand", "ecs:DescribeCommands"],
                    "Resource": ["acs:ecs:*:*:instance/*", f"acs:ecs:*:*:command/{command_resource}"],
                }
            ],
        }

    health_only = ram_principal(tenant.principal, "health", documents=(policy(HEALTH),))
    invocation = inv_services.invocation_invoke_command(
        principal=health_only,
        command_id="c-acs-healthcheck-linux-v1",
        instance_ids=[instance_id],
        region=region,
    )
    assert invocation.command_name == HEALTH
    with pytest.raises(ServiceError) as raised:
        inv_services.invocation_invoke_command(
            principal=health_only,
            command_id=INSTALL,
            instance_ids=[instance_id],
            region=region,
            parameters={"packages": "curl"},
        )
    assert raised.value.status == 403


def test_modify_invocation_keeps_a_public_commands_content_and_defaults(tenant, region, instance_id):
    task = inv_services.invocation_invoke_command(
        principal=tenant.principal,
        command_id=INSTALL,
        instance_ids=[instance_id],
        region=region,
        parameters={"packages": "curl", "dry_run": "true"},
        frequency="rate(30m)",
    )
    with pytest.raises(ServiceError) as raised:
        inv_services.invocation_modify(
            principal=tenant.principal, invocation_id=task.id, region=region, command_content="echo other"
        )
    assert (raised.value.status, raised.value.code) == (403, "InvalidOperation.PublicCommand")

    inv_services.invocation_modify(
        principal=tenant.principal, invocation_id=task.id, region=region, parameters={"packages": "wget"}
    )
    [script] = contents(task)
    assert "packages='wget'\ndry_run='false'\n" in script  # re-rendered, with the default filled again
    with pytest.raises(ServiceError) as raised:
        inv_services.invocation_modify(
            principal=tenant.principal, invocation_id=task.id, region=region, parameters={"dry_run": "true"}
        )
    assert raised.value.code == "MissingParameter.Parameters"


def test_describe_public_commands_as_a_ram_user(client, tenant, region):
    """RAM names public commands by name: a policy on one name allows DescribeCommands with that name as
    CommandId; the whole list needs ``command/*`` (as for the account's own commands) and leaves out
    the commands a Deny names."""

    def rpc_as(name, statements):
        document = {"Version": "1", "Statement": statements}
        principal = ram_principal(tenant.principal, name, documents=(document,))
        user = User.objects.get(pk=principal.user_id)
        key = access_key_create(user=user)
        return Rpc(
            client,
            Tenant(user=user, access_key_id=key.access_key_id, access_key_secret=key.access_key_secret),
        )

    def statement(effect, resource):
        return {"Effect": effect, "Action": "ecs:DescribeCommands", "Resource": resource}

    one = rpc_as("one", [statement("Allow", f"acs:ecs:*:*:command/{INSTALL}")])
    listed = rows(one, region, Provider="AlibabaCloud", CommandId=INSTALL)
    assert [r["CommandId"] for r in listed] == ["c-acs-installpackage-linux-v1"]
    refused = one.v3("DescribeCommands", {"RegionId": region, "Provider": "AlibabaCloud"})
    assert (refused.status_code, refused.json()["Code"]) == (403, "Forbidden.RAM")

    most = rpc_as(
        "most",
        [
            statement("Allow", "acs:ecs:*:*:command/*"),
            statement("Deny", "acs:ecs:*:*:command/ACS-ECS-ResetUserPassword-for-linux.sh"),
        ],
    )
    names = {r["Name"] for r in rows(most, region, Provider="AlibabaCloud")}
    assert names == {c.name for c in public_commands()} - {"ACS-ECS-ResetUserPassword-for-linux.sh"}


def test_rerun_on_failed_runs_a_common_command_with_the_same_effective_values(tenant, region, instance_id):
    from console.invocations import status as st
    from console.web.rerun import invocation_rerun_failed

    first = inv_services.invocation_invoke_command(
        principal=tenant.principal,
        command_id=SERVICE_NAME,
        instance_ids=[instance_id],
        region=region,
        parameters={"service": "cron"},
    )
    InvocationResult.objects.filter(invocation=first).update(status=st.FAILED)
    again = invocation_rerun_failed(principal=tenant.principal, invocation=first)
    [script] = contents(again)
    assert "service_name='cron'\naction='status'\ndry_run='false'\n" in script
    assert again.parameters == {"service": "cron", "action": "status", "dry_run": "false"}
