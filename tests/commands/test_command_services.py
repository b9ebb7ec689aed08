"""Command services: create, modify, clone, delete, the quota and permissions. Refusals leave nothing."""

import base64

import pytest

from console.commands import selectors, services
from console.commands.models import Command
from console.errors import ServiceError
from console.invocations import services as inv_services
from console.invocations.models import Invocation
from tests.conftest import make_instance
from tests.iam.conftest import ram_principal

pytestmark = pytest.mark.django_db


def create(principal, **overrides):
    arguments = {"principal": principal, "name": "greet", "command_content": "echo hi", **overrides}
    return services.command_create(**arguments)


def test_create_stores_every_attribute(root_principal):
    command = create(
        root_principal,
        name="中文 name",
        description="says hi",
        command_type="RunPowerShellScript",
        working_dir="/srv",
        timeout="120",
        enable_parameter=True,
        command_content="Write-Output {{who}}",
    )
    stored = Command.objects.get(pk=command.id)
    assert stored.id.startswith("c-") and stored.account_id == root_principal.account_id
    assert (stored.name, stored.description, stored.type) == ("中文 name", "says hi", "RunPowerShellScript")
    assert (stored.content, stored.working_dir, stored.timeout) == ("Write-Output {{who}}", "/srv", 120)
    assert stored.enable_parameter and stored.region == "local"
    assert (stored.family_id, stored.version) == (stored.id, 1)


def test_create_decodes_base64(root_principal):
    content = base64.b64encode("echo 'ü'\n".encode()).decode()
    assert create(root_principal, command_content=content, content_encoding="base64").content == "echo 'ü'\n"


CREATE_REFUSED = [
    ({"name": ""}, "MissingParameter.Name"),
    ({"name": "   "}, "MissingParameter.Name"),
    ({"name": "n" * 129}, "CmdName.ExceedLimit"),
    ({"description": "d" * 513}, "CmdDesc.ExceedLimit"),
    ({"command_type": "RunPythonScript"}, "InvalidCmdType.NotFound"),
    ({"command_content": ""}, "MissingParameter.CommandContent"),
    ({"command_content": "x" * 18433}, "CmdContent.ExceedLimit"),
    ({"command_content": "!!", "content_encoding": "Base64"}, "InvalidParameter.CommandContent"),
    (
        {
            "command_content": "!!",
            "content_encoding": "Base64",
            "decode_error_code": "CmdContent.DecodeError",
        },
        "CmdContent.DecodeError",
    ),
    ({"working_dir": "w" * 201}, "InvalidParameter.WorkingDir"),
    ({"timeout": 0}, "InvalidParameter.Timeout"),
    ({"timeout": "1.5"}, "InvalidParameter.Timeout"),
    ({"enable_parameter": True, "command_content": "echo {{}}"}, "CmdParam.EmptyKey"),
    ({"enable_parameter": True, "command_content": "echo {{a b}}"}, "CmdParam.InvalidParamName"),
    ({"enable_parameter": True, "command_content": "{{" + "a" * 65 + "}}"}, "CmdParamName.ExceedLimit"),
]


@pytest.mark.parametrize(("override", "code"), CREATE_REFUSED)
def test_create_refused(root_principal, override, code):
    with pytest.raises(ServiceError) as refused:
        create(root_principal, **override)
    assert refused.value.code == code and refused.value.message
    assert not Command.objects.exists()


def test_limits_are_inclusive(root_principal):
    create(root_principal, name="n" * 128, description="d" * 512, working_dir="w" * 200,
           command_content="x" * 18432)  # fmt: skip
    assert Command.objects.count() == 1


def test_quota_per_account_and_region(root_principal, other_principal, settings):
    settings.ASSIST_MAX_COMMANDS_PER_REGION = 2
    create(root_principal)
    create(root_principal)
    with pytest.raises(ServiceError) as refused:
        create(root_principal)
    assert (refused.value.status, refused.value.code) == (403, "CmdCount.ExceedQuota")
    assert "quota is 2" in refused.value.message
    create(root_principal, region="elsewhere")  # another region has its own quota
    create(other_principal)  # another account too
    first = Command.objects.filter(account_id=root_principal.account_id, region="local").first()
    services.command_delete(principal=root_principal, command_id=first.id)  # deleting frees quota
    create(root_principal)
    assert Command.objects.filter(account_id=root_principal.account_id, region="local").count() == 2


def test_keep_command_counts_toward_the_quota(root_principal, settings):
    settings.ASSIST_MAX_COMMANDS_PER_REGION = 1
    instance = make_instance(root_principal)
    run = {"principal": root_principal, "instance_ids": [instance.id], "command_content": "id"}
    inv_services.invocation_run_command(**run, keep_command=True)
    with pytest.raises(ServiceError) as refused:
        inv_services.invocation_run_command(**run, keep_command=True)
    assert refused.value.code == "CmdCount.ExceedQuota"
    with pytest.raises(ServiceError):
        create(root_principal)
    inv_services.invocation_run_command(**run)  # not kept: no quota needed
    assert Command.objects.count() == 1
    assert Invocation.objects.count() == 2  # the refused run left nothing


def test_modify_changes_only_what_is_given(root_principal):
    command = create(root_principal, description="old", working_dir="/old", timeout=30)
    services.command_modify(principal=root_principal, command_id=command.id, name="renamed", timeout="90")
    stored = Command.objects.get(pk=command.id)
    assert (stored.name, stored.description, stored.working_dir, stored.timeout) == (
        "renamed",
        "old",
        "/old",
        90,
    )
    services.command_modify(principal=root_principal, command_id=command.id, description="", working_dir="")
    stored = Command.objects.get(pk=command.id)
    assert (stored.description, stored.working_dir, stored.content) == ("", "", "echo hi")


MODIFY_REFUSED = [
    ({"name": ""}, "MissingParameter.Name"),
    ({"name": "n" * 129}, "CmdName.ExceedLimit"),
    ({"description": "d" * 513}, "CmdDesc.ExceedLimit"),
    ({"working_dir": "w" * 201}, "InvalidParameter.WorkingDir"),
    ({"timeout": "-1"}, "InvalidParameter.Timeout"),
    ({"command_id": "c-doesnotexist"}, "InvalidCmdId.NotFound"),
    ({"region": "elsewhere"}, "InvalidCmdId.NotFound"),
]


@pytest.mark.parametrize(("override", "code"), MODIFY_REFUSED)
def test_modify_refused(root_principal, override, code):
    command = create(root_principal)
    with pytest.raises(ServiceError) as refused:
        services.command_modify(**{"principal": root_principal, "command_id": command.id, **override})
    assert refused.value.code == code
    stored = Command.objects.get(pk=command.id)
    assert (stored.name, stored.timeout) == ("greet", 60)


def test_clone_makes_the_next_version_with_changes(root_principal):
    source = create(root_principal, description="v1", working_dir="/a", timeout=30)
    clone = services.command_clone(principal=root_principal, command_id=source.id, command_content="echo v2",
                                   command_type="RunBatScript")  # fmt: skip
    assert clone.id != source.id
    assert (clone.name, clone.description, clone.working_dir, clone.timeout) == ("greet", "v1", "/a", 30)
    assert (clone.content, clone.type) == ("echo v2", "RunBatScript")
    assert (clone.family_id, clone.version) == (source.id, 2)
    third = services.command_clone(principal=root_principal, command_id=source.id, name="again",
                                   enable_parameter=True, command_content="ZWNobyB7e3h9fQ==",
                                   content_encoding="Base64")  # fmt: skip
    assert (third.version, third.name, third.content, third.enable_parameter) == (
        3,
        "again",
        "echo {{x}}",
        True,
    )
    versions = selectors.command_versions(root_principal, Command.objects.get(pk=clone.id))
    assert [c.version for c in versions] == [1, 2, 3]
    assert Command.objects.get(pk=source.id).content == "echo hi"  # the source is untouched


def test_clone_is_checked_like_a_new_command(root_principal, settings):
    source = create(root_principal)
    with pytest.raises(ServiceError) as refused:
        services.command_clone(principal=root_principal, command_id=source.id, enable_parameter=True,
                               command_content="{{.x}}")  # fmt: skip
    assert refused.value.code == "CmdParam.InvalidParamName"
    settings.ASSIST_MAX_COMMANDS_PER_REGION = 1
    with pytest.raises(ServiceError) as refused:
        services.command_clone(principal=root_principal, command_id=source.id)
    assert refused.value.code == "CmdCount.ExceedQuota"
    assert Command.objects.count() == 1


def test_delete(root_principal):
    command = create(root_principal)
    services.command_delete(principal=root_principal, command_id=command.id)
    assert not Command.objects.exists()
    with pytest.raises(ServiceError) as refused:
        services.command_delete(principal=root_principal, command_id=command.id)
    assert (refused.value.status, refused.value.code) == (404, "InvalidCmdId.NotFound")


def test_another_accounts_command_does_not_exist(root_principal, other_principal):
    theirs = create(other_principal)
    for call in (
        lambda: services.command_modify(principal=root_principal, command_id=theirs.id, name="x"),
        lambda: services.command_delete(principal=root_principal, command_id=theirs.id),
        lambda: services.command_clone(principal=root_principal, command_id=theirs.id),
        lambda: selectors.command_get(root_principal, theirs.id),
    ):
        with pytest.raises(ServiceError) as refused:
            call()
        assert refused.value.code == "InvalidCmdId.NotFound"
    assert Command.objects.get(pk=theirs.id).name == "greet"


def _allow(actions, resource="acs:ecs:*:*:command/*"):
    return {"Version": "1", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}


def test_each_service_checks_its_ram_action(root_principal):
    command = create(root_principal)
    nobody = ram_principal(root_principal, "nobody")
    calls = {
        "ecs:CreateCommand": lambda p: create(p),
        "ecs:ModifyCommand": lambda p: services.command_modify(principal=p, command_id=command.id, name="x"),
        "ecs:DeleteCommand": lambda p: services.command_delete(principal=p, command_id=command.id),
    }
    for action, call in calls.items():
        with pytest.raises(ServiceError) as refused:
            call(nobody)
        assert refused.value.code == "Forbidden.RAM" and action in refused.value.message
    assert Command.objects.count() == 1
    delegate = ram_principal(root_principal, "delegate", documents=(
        _allow(["ecs:ModifyCommand", "ecs:DeleteCommand"], f"acs:ecs:*:*:command/{command.id}"),
        _allow(["ecs:CreateCommand"]),
    ))  # fmt: skip
    for call in calls.values():
        call(delegate)
    assert Command.objects.count() == 1  # one created, the original deleted


def test_clone_needs_read_on_the_source_and_create(root_principal):
    command = create(root_principal)
    create_only = ram_principal(root_principal, "creator", documents=(_allow(["ecs:CreateCommand"]),))
    with pytest.raises(ServiceError) as refused:
        services.command_clone(principal=create_only, command_id=command.id)
    assert "ecs:DescribeCommands" in refused.value.message
    both = ram_principal(root_principal, "cloner", system=("AliyunECSAssistantFullAccess",))
    assert services.command_clone(principal=both, command_id=command.id).version == 2


def test_visibility_is_narrowed_by_policy(root_principal):
    mine = create(root_principal, name="visible")
    hidden = create(root_principal, name="hidden")
    reader = ram_principal(root_principal, "reader", documents=(
        _allow(["ecs:DescribeCommands"], f"acs:ecs:*:*:command/{mine.id}"),
    ))  # fmt: skip
    assert list(selectors.commands_visible(reader).values_list("id", flat=True)) == [mine.id]
    with pytest.raises(ServiceError):
        selectors.command_get(reader, hidden.id)
    assert selectors.commands_visible(root_principal).count() == 2
