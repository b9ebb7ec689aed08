"""CreateCommand, DescribeCommands, ModifyCommand and DeleteCommand through signed HTTP requests."""

import base64

import pytest

from console.commands.models import Command
from console.invocations.services import invocation_invoke_command

pytestmark = pytest.mark.django_db


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def create_params(region: str, **extra: str) -> dict[str, str]:
    return {"RegionId": region, "Name": "greet", "Type": "RunShellScript", "CommandContent": b64("echo hi"),
            **extra}  # fmt: skip


def create(rpc, region, **extra) -> str:
    response = rpc.v3("CreateCommand", create_params(region, **extra))
    assert response.status_code == 200, response.content
    return response.json()["CommandId"]


@pytest.mark.parametrize("style", ["v1", "v3"])
def test_create_command(rpc, tenant, region, style):
    response = getattr(rpc, style)(
        "CreateCommand",
        create_params(region, Name="中文 *~", Description="says hi", WorkingDir="/srv", Timeout="120",
                      EnableParameter="True", CommandContent=b64("echo {{who}}"), ClientToken="t",
                      ResourceGroupId="rg-1"),
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"RequestId", "CommandId"} and body["CommandId"].startswith("c-")
    command = Command.objects.get(pk=body["CommandId"])
    assert (command.account_id, command.region, command.name) == (tenant.account_id, region, "中文 *~")
    assert (command.content, command.description, command.working_dir) == ("echo {{who}}", "says hi", "/srv")
    assert (command.timeout, command.enable_parameter, command.type) == (120, True, "RunShellScript")


@pytest.mark.parametrize(("encoding", "content"), [("PlainText", "echo plain"), ("plaintext", "echo plain")])
def test_create_command_plain_text(rpc, region, encoding, content):
    command_id = create(rpc, region, ContentEncoding=encoding, CommandContent=content)
    assert Command.objects.get(pk=command_id).content == content


CREATE_REFUSALS = [
    pytest.param({"RegionId": None}, 400, "MissingParameter.RegionId", id="no-region"),
    pytest.param({"Name": None}, 400, "MissingParameter.Name", id="no-name"),
    pytest.param({"Type": None}, 400, "MissingParameter.Type", id="no-type"),
    pytest.param({"CommandContent": None}, 400, "MissingParameter.CommandContent", id="no-content"),
    pytest.param({"Name": "n" * 129}, 403, "CmdName.ExceedLimit", id="long-name"),
    pytest.param({"Description": "d" * 513}, 403, "CmdDesc.ExceedLimit", id="long-description"),
    pytest.param({"Type": "RunPythonScript"}, 403, "InvalidCmdType.NotFound", id="bad-type"),
    pytest.param({"CommandContent": b64("a" * 18433)}, 403, "CmdContent.ExceedLimit", id="content-over-24k"),
    pytest.param({"CommandContent": "echo hi"}, 400, "CmdContent.DecodeError", id="plain-text-as-base64"),
    pytest.param(
        {"CommandContent": "echo hi", "ContentEncoding": "rot13"},
        400,
        "CmdContent.DecodeError",
        id="unknown-encoding-is-base64",
    ),  # fmt: skip
    pytest.param({"WorkingDir": "w" * 201}, 400, "InvalidParameter.WorkingDir", id="long-working-dir"),
    pytest.param({"Timeout": "0"}, 400, "InvalidParameter.Timeout", id="timeout-zero"),
    pytest.param({"Timeout": "x"}, 400, "InvalidParameter.Timeout", id="timeout-text"),
    pytest.param({"EnableParameter": "yes"}, 400, "InvalidParameter.EnableParameter", id="bad-bool"),
    pytest.param(
        {"EnableParameter": "true", "CommandContent": b64("{{ }}")},
        403,
        "CmdParam.EmptyKey",
        id="empty-parameter-name",
    ),  # fmt: skip
    pytest.param(
        {"EnableParameter": "true", "CommandContent": b64("{{a.b}}")},
        403,
        "CmdParam.InvalidParamName",
        id="bad-parameter-name",
    ),  # fmt: skip
    pytest.param(
        {"EnableParameter": "true", "CommandContent": b64("{{" + "x" * 65 + "}}")},
        403,
        "CmdParamName.ExceedLimit",
        id="long-parameter-name",
    ),  # fmt: skip
    pytest.param(
        {"Launcher": "python3 {{ACS::ScriptFileName|Lower(.py)}}"},
        400,
        "InvalidParameter.Launcher",
        id="launcher",
    ),  # fmt: skip
    pytest.param(
        {"Tag.1.Key": "env", "Tag.2.Key": "env"}, 400, "InvalidTagKey.Duplicate", id="duplicate-tag"
    ),
]


@pytest.mark.parametrize(("change", "status", "code"), CREATE_REFUSALS)
def test_create_command_refusals(rpc, region, change, status, code):
    params = create_params(region)
    for name, value in change.items():
        if value is None:
            params.pop(name)
        else:
            params[name] = value
    response = rpc.v1("CreateCommand", params)
    assert response.status_code == status, response.content
    assert response.json()["Code"] == code and response.json()["Message"]
    assert not Command.objects.exists()


def test_create_command_quota(rpc, region, settings):
    settings.ASSIST_MAX_COMMANDS_PER_REGION = 1
    create(rpc, region)
    response = rpc.v3("CreateCommand", create_params(region))
    assert (response.status_code, response.json()["Code"]) == (403, "CmdCount.ExceedQuota")
    assert Command.objects.count() == 1


COMMAND_KEYS = {
    "CommandContent", "CommandId", "CreationTime", "Description", "EnableParameter", "InvokeTimes",
    "Launcher", "Name", "ParameterDefinitions", "ParameterNames", "Provider", "ResourceGroupId", "Tags",
    "Timeout", "Type", "WorkingDir",
}  # fmt: skip


def describe(rpc, region, **params):
    response = rpc.v3("DescribeCommands", {"RegionId": region, **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_describe_commands_shape(rpc, tenant, region, instance_id):
    command_id = create(rpc, region, Description="d", WorkingDir="/w", Timeout="30", EnableParameter="true",
                        CommandContent=b64("echo {{Who}} {{ACS::InstanceId}} {{who}} {{n-2}}"))  # fmt: skip
    invocation_invoke_command(principal=tenant.principal, command_id=command_id, instance_ids=[instance_id])
    body = describe(rpc, region)
    assert set(body) == {"RequestId", "Commands", "PageNumber", "PageSize", "TotalCount"}
    assert (body["PageNumber"], body["PageSize"], body["TotalCount"]) == (1, 10, 1)
    [row] = body["Commands"]["Command"]
    assert set(row) == COMMAND_KEYS
    assert base64.b64decode(row["CommandContent"]) == b"echo {{Who}} {{ACS::InstanceId}} {{who}} {{n-2}}"
    assert row["ParameterNames"] == {"ParameterName": ["Who", "n-2"]}
    assert row["ParameterDefinitions"] == {"ParameterDefinition": []} and row["Tags"] == {"Tag": []}
    assert (row["CommandId"], row["Name"], row["Description"], row["Type"]) == (command_id, "greet", "d",
                                                                                "RunShellScript")  # fmt: skip
    assert (row["WorkingDir"], row["Timeout"], row["EnableParameter"], row["InvokeTimes"]) == (
        "/w",
        30,
        True,
        1,
    )
    assert row["CreationTime"].endswith("Z") and len(row["CreationTime"]) == 20
    plain = describe(rpc, region, ContentEncoding="PlainText")["Commands"]["Command"][0]
    assert plain["CommandContent"] == "echo {{Who}} {{ACS::InstanceId}} {{who}} {{n-2}}"


def test_parameter_names_are_empty_when_disabled(rpc, region):
    create(rpc, region, CommandContent=b64("echo {{x}}"))
    [row] = describe(rpc, region)["Commands"]["Command"]
    assert (row["EnableParameter"], row["ParameterNames"]) == (False, {"ParameterName": []})


def test_describe_commands_filters(rpc, region):
    ids = {
        name: create(rpc, region, Name=name, Type=kind, Description=desc)
        for name, kind, desc in [
            ("deploy-web", "RunShellScript", "rolls out web"),
            ("deploy-db", "RunShellScript", "rolls out db"),
            ("Restart IIS", "RunPowerShellScript", "windows"),
        ]
    }

    def names(**params):
        return sorted(c["Name"] for c in describe(rpc, region, **params)["Commands"]["Command"])

    assert names() == ["Restart IIS", "deploy-db", "deploy-web"]
    assert names(Name="deploy-web") == ["deploy-web"]
    assert names(Name="deploy") == []
    assert names(Name="deploy*") == ["deploy-db", "deploy-web"]
    assert names(Name="*WEB") == ["deploy-web"]
    assert names(Name="*i*s*") == ["Restart IIS"]
    assert names(Type="RunPowerShellScript") == ["Restart IIS"]
    assert names(Type="runshellscript") == ["deploy-db", "deploy-web"]
    assert names(CommandId=ids["deploy-db"]) == ["deploy-db"]
    assert names(Description="*out*") == ["deploy-db", "deploy-web"]
    assert not {"Restart IIS", "deploy-db", "deploy-web"} & set(names(Provider="AlibabaCloud"))
    assert names(Latest="true") == ["Restart IIS", "deploy-db", "deploy-web"]


def test_describe_commands_paging(rpc, region):
    for n in range(5):
        create(rpc, region, Name=f"c{n}")
    page = describe(rpc, region, PageNumber="2", PageSize="2")
    assert [c["Name"] for c in page["Commands"]["Command"]] == ["c2", "c1"]
    assert (page["PageNumber"], page["PageSize"], page["TotalCount"]) == (2, 2, 5)
    seen, token = [], None
    while True:
        params = {"MaxResults": "2"} | ({"NextToken": token} if token else {})
        page = describe(rpc, region, **params)
        seen += [c["Name"] for c in page["Commands"]["Command"]]
        token = page["NextToken"]
        if not token:
            break
    assert seen == ["c4", "c3", "c2", "c1", "c0"]
    bad = rpc.v3("DescribeCommands", {"RegionId": region, "PageSize": "51"})
    assert (bad.status_code, bad.json()["Code"]) == (403, "InvalidParam.PageSize")


def test_describe_commands_isolation(rpc, region, other_tenant):
    from console.commands.services import command_create

    command_create(principal=other_tenant.principal, name="theirs", command_content="id")
    create(rpc, region, Name="mine")
    command_create(principal=rpc.tenant.principal, name="elsewhere", command_content="id", region="other")
    assert [c["Name"] for c in describe(rpc, region)["Commands"]["Command"]] == ["mine"]


def test_modify_command(rpc, region):
    command_id = create(rpc, region, Description="old", WorkingDir="/old", Timeout="30")
    response = rpc.v3("ModifyCommand", {"RegionId": region, "CommandId": command_id, "Name": "renamed",
                                        "Timeout": "90", "CommandContent": b64("rm -rf /")})  # fmt: skip
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"RequestId"}
    command = Command.objects.get(pk=command_id)
    assert (command.name, command.timeout, command.description, command.working_dir) == ("renamed", 90, "old",
                                                                                         "/old")  # fmt: skip
    assert command.content == "echo hi"  # CommandContent is accepted and ignored
    rpc.v1("ModifyCommand", {"RegionId": region, "CommandId": command_id, "Description": "", "Name": ""})
    command = Command.objects.get(pk=command_id)
    assert (command.name, command.description) == ("renamed", "")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"CommandId": "c-nope"}, 404, "InvalidCmdId.NotFound"),
        ({"RegionId": "elsewhere"}, 404, "InvalidCmdId.NotFound"),
        ({"CommandId": None}, 400, "MissingParameter.CommandId"),
        ({"Name": "n" * 129}, 403, "CmdName.ExceedLimit"),
        ({"Description": "d" * 513}, 403, "CmdDesc.ExceedLimit"),
        ({"WorkingDir": "w" * 201}, 400, "InvalidParameter.WorkingDir"),
        ({"Timeout": "-1"}, 400, "InvalidParameter.Timeout"),
        ({"Launcher": "x" * 1025}, 400, "InvalidParameter.Launcher"),
    ],
)
def test_modify_command_refusals(rpc, region, change, status, code):
    command_id = create(rpc, region)
    params = {
        "RegionId": region,
        "CommandId": command_id,
        **{k: v for k, v in change.items() if v is not None},
    }
    params = {k: v for k, v in params.items() if change.get(k, "") is not None}
    response = rpc.v3("ModifyCommand", params)
    assert (response.status_code, response.json()["Code"]) == (status, code)
    assert Command.objects.get(pk=command_id).name == "greet"


def test_delete_command(rpc, region, other_tenant):
    from console.commands.services import command_create

    command_id = create(rpc, region)
    theirs = command_create(principal=other_tenant.principal, name="theirs", command_content="id")
    response = rpc.v1("DeleteCommand", {"RegionId": region, "CommandId": command_id})
    assert response.status_code == 200 and set(response.json()) == {"RequestId"}
    assert not Command.objects.filter(pk=command_id).exists()
    for missing in (command_id, theirs.id):
        again = rpc.v3("DeleteCommand", {"RegionId": region, "CommandId": missing})
        assert (again.status_code, again.json()["Code"]) == (404, "InvalidCmdId.NotFound")
    assert Command.objects.filter(pk=theirs.id).exists()
