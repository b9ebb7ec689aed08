"""RunCommand through signed HTTP requests: what it creates, and every refusal creating nothing."""

import base64

import pytest

from console.commands.models import Command
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult
from tests.api.conftest import make_instance


def params_for(instance_ids: list[str], region: str, **extra: str) -> dict[str, str]:
    params = {"RegionId": region, "Type": "RunShellScript", "CommandContent": "echo hello"}
    params.update({f"InstanceId.{n}": instance_id for n, instance_id in enumerate(instance_ids, start=1)})
    params.update(extra)
    return params


def assert_nothing_created() -> None:
    assert Invocation.objects.count() == 0
    assert InvocationResult.objects.count() == 0
    assert Command.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["v1", "v3"])
def test_run_command_creates_an_invocation(rpc, tenant, region, style) -> None:
    first, second = make_instance(tenant, "a"), make_instance(tenant, "b")
    response = getattr(rpc, style)(
        "RunCommand",
        params_for(
            [first, second],
            region,
            CommandContent="echo 中文 *~+&=",
            Timeout="120",
            WorkingDir="/tmp",
            Username="deploy",
            Name="greet",
            Description="says hello",
        ),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["InvokeId"].startswith("t-")
    assert body["CommandId"].startswith("c-")
    invocation = Invocation.objects.get(pk=body["InvokeId"])
    assert invocation.account_id == tenant.account_id
    assert invocation.command_id == body["CommandId"]
    assert invocation.command_content == "echo 中文 *~+&="
    assert invocation.command_type == "RunShellScript"
    assert (invocation.timeout, invocation.working_dir, invocation.username) == (120, "/tmp", "deploy")
    assert (invocation.command_name, invocation.command_description) == ("greet", "says hello")
    assert invocation.created_by_id == tenant.user.pk
    results = InvocationResult.objects.filter(invocation=invocation)
    assert sorted(results.values_list("instance_id", flat=True)) == sorted([first, second])
    assert set(results.values_list("status", flat=True)) == {st.PENDING}
    assert not Command.objects.exists()


@pytest.mark.django_db
def test_base64_content_and_keep_command(rpc, instance_id, region) -> None:
    content = base64.b64encode(b"echo 'ok'\n").decode()
    response = rpc.v3(
        "RunCommand",
        params_for(
            [instance_id], region, CommandContent=content, ContentEncoding="base64", KeepCommand="TRUE"
        ),
    )
    assert response.status_code == 200, response.content
    assert Invocation.objects.get().command_content == "echo 'ok'\n"
    assert Command.objects.get(pk=response.json()["CommandId"]).content == "echo 'ok'\n"


@pytest.mark.django_db
def test_unknown_content_encoding_is_plain_text(rpc, instance_id, region) -> None:
    response = rpc.v1("RunCommand", params_for([instance_id], region, ContentEncoding="rot13"))
    assert response.status_code == 200, response.content
    assert Invocation.objects.get().command_content == "echo hello"


@pytest.mark.django_db
def test_default_timeout(rpc, instance_id, region) -> None:
    assert rpc.v1("RunCommand", params_for([instance_id], region)).status_code == 200
    assert Invocation.objects.get().timeout == 60


@pytest.mark.django_db
def test_accepted_and_ignored_options(rpc, instance_id, region) -> None:
    response = rpc.v3(
        "RunCommand",
        params_for(
            [instance_id],
            region,
            RepeatMode="Once",
            ClientToken="abc",
            ResourceGroupId="rg-1",
            Timed="False",
            TerminationMode="ProcessTree",
            EnableParameter="False",
            Parameters="{}",
        ),
    )
    assert response.status_code == 200, response.content


# Each case differs only in the parameters; every one must leave the database untouched.
REFUSALS = [
    pytest.param({"RegionId": None}, 400, "MissingParameter.RegionId", id="no-region"),
    pytest.param({"CommandContent": None}, 400, "MissingParameter.CommandContent", id="no-content"),
    pytest.param({"CommandContent": ""}, 400, "MissingParameter.CommandContent", id="empty-content"),
    pytest.param({"CommandContent": " \n "}, 400, "MissingParameter.CommandContent", id="blank-content"),
    pytest.param({"Type": None}, 400, "MissingParameter.Type", id="no-type"),
    pytest.param({"Type": "RunPythonScript"}, 403, "InvalidCmdType.NotFound", id="bad-type"),
    pytest.param({"CommandContent": "a" * 18433}, 403, "CmdContent.ExceedLimit", id="content-over-24k"),
    pytest.param(
        {"CommandContent": "!!", "ContentEncoding": "Base64"},
        400,
        "InvalidParameter.CommandContent",
        id="bad-b64",
    ),
    pytest.param({"Timeout": "0"}, 400, "InvalidParameter.Timeout", id="timeout-zero"),
    pytest.param({"Timeout": "-5"}, 400, "InvalidParameter.Timeout", id="timeout-negative"),
    pytest.param({"Timeout": "1.5"}, 400, "InvalidParameter.Timeout", id="timeout-fraction"),
    pytest.param({"Timeout": "abc"}, 400, "InvalidParameter.Timeout", id="timeout-text"),
    pytest.param({"InstanceId.1": None}, 400, "MissingParameter.InstanceId", id="no-instance"),
    pytest.param({"InstanceId.1": "mi-doesnotexist"}, 404, "InvalidInstance.NotFound", id="unknown-instance"),
    pytest.param({"RegionId": "cn-hangzhou"}, 404, "InvalidInstance.NotFound", id="other-region"),
    pytest.param(
        {"ResourceTag.1.Key": "env"}, 400, "InvalidParameter.ResourceTag", id="resource-tag-and-ids"
    ),
    pytest.param({"RepeatMode": "Period"}, 403, "MissingParam.Frequency", id="period-without-frequency"),
    pytest.param({"Launcher": "x" * 1025}, 400, "InvalidParameter.Launcher", id="launcher-over-1kb"),
    pytest.param({"RepeatMode": "Sometimes"}, 400, "InvalidParameter.RepeatMode", id="unknown-mode"),
    pytest.param({"Frequency": "0 */5 * * *"}, 403, "InvalidParam.Frequency", id="five-field-cron"),
    pytest.param({"Frequency": "rate(30s)"}, 403, "InvalidParam.Frequency", id="rate-too-short"),
    pytest.param(
        {"EnableParameter": "true", "Parameters": '{"other":"x"}'},
        403,
        "Parameter.NotMatched",
        id="parameter-not-in-content",
    ),
    pytest.param({"Parameters": '{"name":"x"}'}, 404, "Parameter.Disabled", id="parameters-disabled"),
    pytest.param({"Parameters": "{'name': 'x'}"}, 400, "InvalidParameter.Parameters", id="parameters-repr"),
    pytest.param({"ContainerId": "docker://abc"}, 400, "InvalidParameter.ContainerId", id="container"),
    pytest.param(
        {"WindowsPasswordName": "axtadmin"}, 400, "InvalidParameter.WindowsPasswordName", id="winpw"
    ),
    pytest.param({"Tag.1.Key": "acs:env"}, 400, "InvalidTagKey.Malformed", id="reserved-tag-key"),
    pytest.param({"Tag.1.Value": "v"}, 400, "InvalidParameter.TagValue", id="tag-value-without-key"),
    pytest.param({"KeepCommand": "maybe"}, 400, "InvalidParameter.KeepCommand", id="bad-bool"),
    pytest.param({"TerminationMode": "Kill"}, 400, "InvalidParameter.TerminationMode", id="termination"),
    pytest.param({"Name": "n" * 129}, 403, "CmdName.ExceedLimit", id="long-name"),
    pytest.param({"Username": "u" * 256}, 403, "Username.ExceedLimit", id="long-username"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["v1", "v3"])
@pytest.mark.parametrize(("change", "status", "code"), REFUSALS)
def test_run_command_refusals(rpc, instance_id, region, style, change, status, code) -> None:
    params = params_for([instance_id], region)
    for name, value in change.items():
        if value is None:
            params.pop(name)
        else:
            params[name] = value
    response = getattr(rpc, style)("RunCommand", params)
    assert response.status_code == status, response.content
    body = response.json()
    assert body["Code"] == code
    assert body["Message"]
    assert_nothing_created()


@pytest.mark.django_db
def test_content_at_the_limit_is_accepted(rpc, instance_id, region) -> None:
    response = rpc.v1("RunCommand", params_for([instance_id], region, CommandContent="a" * 18432))
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_another_accounts_instance_is_not_found(rpc, other_tenant, instance_id, region) -> None:
    foreign = make_instance(other_tenant)
    response = rpc.v3("RunCommand", params_for([instance_id, foreign], region))
    assert response.status_code == 404
    assert response.json()["Code"] == "InvalidInstance.NotFound"
    assert foreign in response.json()["Message"]
    assert_nothing_created()


@pytest.mark.django_db
def test_more_than_100_instances(rpc, instance_id, region) -> None:
    ids = [instance_id] + [f"mi-fake{n:04d}" for n in range(100)]
    response = rpc.v1("RunCommand", params_for(ids, region))
    assert response.status_code == 403
    assert response.json()["Code"] == "InstanceIds.ExceedLimit"
    assert_nothing_created()


@pytest.mark.django_db
def test_ram_user_is_denied(rpc, tenant, instance_id, region) -> None:
    from console.iam.models import User
    from console.iam.services import access_key_create

    ram_user = User.objects.create(
        account_id=tenant.account_id, name="dev", login_name="dev@acme", is_root=False
    )
    key = access_key_create(user=ram_user)
    response = rpc.v1(
        "RunCommand",
        params_for([instance_id], region),
        access_key_id=key.access_key_id,
        secret=key.access_key_secret,
    )
    assert response.status_code == 403
    assert response.json()["Code"] == "Forbidden.RAM"
    assert_nothing_created()
