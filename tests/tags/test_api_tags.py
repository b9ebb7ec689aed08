"""Tags through signed API calls: TagResources / UntagResources / ListTagResources, Tag.N on what the
create and run operations make, Tag.N filters and Tags.Tag[] of the Describe operations, ResourceTag.N
targeting, and policies conditioned on instance tags."""

import pytest

from console.iam import services as iam
from console.iam.models import User
from console.invocations.models import Invocation, InvocationResult
from console.tags.models import Tag
from tests.api.conftest import Rpc, make_instance, make_tenant


def tag_params(resource_type: str, ids: list[str], tags: dict[str, str], region: str) -> dict[str, str]:
    params = {"RegionId": region, "ResourceType": resource_type}
    params.update({f"ResourceId.{n}": value for n, value in enumerate(ids, start=1)})
    for n, (key, value) in enumerate(tags.items(), start=1):
        params[f"Tag.{n}.Key"] = key
        params[f"Tag.{n}.Value"] = value
    return params


def listed(rpc: Rpc, region: str, resource_type: str, **extra: str) -> set[tuple[str, str, str]]:
    response = rpc.v1("ListTagResources", {"RegionId": region, "ResourceType": resource_type, **extra})
    assert response.status_code == 200, response.content
    rows = response.json()["TagResources"]["TagResource"]
    assert all(row["ResourceType"] == resource_type for row in rows)
    return {(row["ResourceId"], row["TagKey"], row["TagValue"]) for row in rows}


@pytest.mark.django_db
def test_tag_list_and_untag_instances(rpc, tenant, region) -> None:
    first, second = make_instance(tenant, "a"), make_instance(tenant, "b")
    response = rpc.v1("TagResources", tag_params("managedinstance", [first, second], {"env": "test"}, region))
    assert response.status_code == 200, response.content
    rpc.v3("TagResources", tag_params("ManagedInstance", [first], {"team": "ops", "env": "prod"}, region))
    assert listed(rpc, region, "managedinstance", **{"ResourceId.1": first, "ResourceId.2": second}) == {
        (first, "env", "prod"),
        (first, "team", "ops"),
        (second, "env", "test"),
    }
    assert listed(rpc, region, "managedinstance", **{"Tag.1.Key": "env", "Tag.1.Value": "test"}) == {
        (second, "env", "test")
    }
    assert {row[0] for row in listed(rpc, region, "managedinstance", **{"Tag.1.Key": "env"})} == {
        first,
        second,
    }
    untag = {"RegionId": region, "ResourceType": "managedinstance", "ResourceId.1": first, "TagKey.1": "env"}
    assert rpc.v1("UntagResources", untag).status_code == 200
    assert listed(rpc, region, "managedinstance", **{"ResourceId.1": first}) == {(first, "team", "ops")}
    everything = {"RegionId": region, "ResourceType": "managedinstance", "ResourceId.1": first, "All": "true"}
    assert rpc.v1("UntagResources", everything).status_code == 200
    assert not Tag.objects.filter(resource_id=first).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"ResourceType": "disk"}, 400, "InvalidResourceType.NotSupported"),
        ({"ResourceId.1": "mi-missing"}, 404, "InvalidResourceId.NotFound"),
        ({"Tag.1.Key": "acs:x", "Tag.1.Value": ""}, 400, "InvalidTagKey.Malformed"),
        ({"Tag.1.Key": "k" * 129, "Tag.1.Value": ""}, 400, "InvalidTagKey.Malformed"),
        ({"Tag.1.Key": "k", "Tag.1.Value": "v" * 129}, 400, "InvalidTagValue.Malformed"),
        ({"Tag.1.Key": None, "Tag.1.Value": None}, 400, "MissingParameter.Tags"),
        ({"ResourceId.1": None}, 400, "MissingParameter.ResourceId"),
        ({"RegionId": "cn-elsewhere"}, 404, "InvalidResourceId.NotFound"),
    ],
)
def test_tag_refusals_change_nothing(rpc, tenant, region, params, status, code) -> None:
    instance = make_instance(tenant)
    sent = {**tag_params("managedinstance", [instance], {"env": "test"}, region), **params}
    response = rpc.v1("TagResources", {k: v for k, v in sent.items() if v is not None})
    assert response.status_code == status, response.content
    assert response.json()["Code"] == code
    assert not Tag.objects.exists()


@pytest.mark.django_db
def test_at_most_twenty_tags_per_resource(rpc, tenant, region) -> None:
    instance = make_instance(tenant)
    tags = {f"k{n}": "" for n in range(20)}
    assert rpc.v1("TagResources", tag_params("managedinstance", [instance], tags, region)).status_code == 200
    refused = rpc.v1("TagResources", tag_params("managedinstance", [instance], {"one-more": ""}, region))
    assert refused.status_code == 403
    assert refused.json()["Code"] == "InvalidTagCount"
    assert Tag.objects.count() == 20


@pytest.mark.django_db
def test_another_accounts_resources_are_not_found(client, tenant, region) -> None:
    victim = make_instance(tenant)
    Rpc(client, tenant).v1("TagResources", tag_params("managedinstance", [victim], {"env": "test"}, region))
    intruder = Rpc(client, make_tenant("globex"))
    tagging = intruder.v1("TagResources", tag_params("managedinstance", [victim], {"env": "owned"}, region))
    assert tagging.status_code == 404
    assert tagging.json()["Code"] == "InvalidResourceId.NotFound"
    untag = {"RegionId": region, "ResourceType": "managedinstance", "ResourceId.1": victim, "All": "true"}
    assert intruder.v1("UntagResources", untag).status_code == 404
    assert listed(intruder, region, "managedinstance", **{"Tag.1.Key": "env"}) == set()
    assert Tag.objects.get(resource_id=victim).value == "test"


@pytest.mark.django_db
def test_run_command_tags_its_invocation_and_describe_filters_by_them(
    rpc, tenant, instance_id, region
) -> None:
    base = {
        "RegionId": region,
        "Type": "RunShellScript",
        "CommandContent": "echo",
        "InstanceId.1": instance_id,
    }
    tagged = rpc.v1("RunCommand", {**base, "Tag.1.Key": "release", "Tag.1.Value": "42"}).json()["InvokeId"]
    untagged = rpc.v1("RunCommand", base).json()["InvokeId"]
    described = rpc.v1("DescribeInvocations", {"RegionId": region, "Tag.1.Key": "release"}).json()
    rows = described["Invocations"]["Invocation"]
    assert [row["InvokeId"] for row in rows] == [tagged]
    assert rows[0]["Tags"]["Tag"] == [{"TagKey": "release", "TagValue": "42"}]
    results = rpc.v1(
        "DescribeInvocationResults", {"RegionId": region, "Tag.1.Key": "release", "Tag.1.Value": "42"}
    )
    records = results.json()["Invocation"]["InvocationResults"]["InvocationResult"]
    assert [r["InvokeId"] for r in records] == [tagged]
    assert records[0]["Tags"]["Tag"] == [{"TagKey": "release", "TagValue": "42"}]
    none = rpc.v1("DescribeInvocations", {"RegionId": region, "Tag.1.Key": "release", "Tag.1.Value": "43"})
    assert none.json()["Invocations"]["Invocation"] == []
    assert untagged != tagged


@pytest.mark.django_db
def test_create_command_tags_and_describe_commands_filters(rpc, region) -> None:
    create = {"RegionId": region, "Type": "RunShellScript", "CommandContent": "ZWNobw=="}
    kept = rpc.v1("CreateCommand", {**create, "Name": "a", "Tag.1.Key": "team", "Tag.1.Value": "ops"})
    rpc.v1("CreateCommand", {**create, "Name": "b"})
    commands = rpc.v1("DescribeCommands", {"RegionId": region, "Tag.1.Key": "team"}).json()["Commands"][
        "Command"
    ]
    assert [c["CommandId"] for c in commands] == [kept.json()["CommandId"]]
    assert commands[0]["Tags"]["Tag"] == [{"TagKey": "team", "TagValue": "ops"}]
    deleted = rpc.v1("DeleteCommand", {"RegionId": region, "CommandId": kept.json()["CommandId"]})
    assert deleted.status_code == 200
    assert not Tag.objects.filter(resource_type="command").exists()


@pytest.mark.django_db
def test_an_activations_tags_go_to_the_instances_it_registers(rpc, region) -> None:
    from console.fleet.services import instance_register

    created = rpc.v1(
        "CreateActivation", {"RegionId": region, "Tag.1.Key": "env", "Tag.1.Value": "test"}
    ).json()
    activations = rpc.v1("DescribeActivations", {"RegionId": region, "Tag.1.Key": "env"}).json()[
        "ActivationList"
    ]
    assert [a["ActivationId"] for a in activations] == [created["ActivationId"]]
    assert activations[0]["Tags"] == [{"TagKey": "env", "TagValue": "test"}]
    registered = instance_register(
        activation_id=created["ActivationId"],
        activation_code=created["ActivationCode"],
        source_ip="127.0.0.1",
    ).instance
    instances = rpc.v1(
        "DescribeManagedInstances", {"RegionId": region, "Tag.1.Key": "env", "Tag.1.Value": "test"}
    )
    rows = instances.json()["Instances"]
    assert [row["InstanceId"] for row in rows] == [registered.id]
    assert rows[0]["Tags"] == [{"TagKey": "env", "TagValue": "test"}]


@pytest.mark.django_db
def test_resource_tags_choose_the_instances_to_run_on(rpc, tenant, region) -> None:
    test_a, test_b, prod = make_instance(tenant, "a"), make_instance(tenant, "b"), make_instance(tenant, "c")
    rpc.v1("TagResources", tag_params("managedinstance", [test_a, test_b], {"env": "test"}, region))
    rpc.v1("TagResources", tag_params("managedinstance", [prod], {"env": "prod"}, region))
    run = {"RegionId": region, "Type": "RunShellScript", "CommandContent": "echo"}
    response = rpc.v1("RunCommand", {**run, "ResourceTag.1.Key": "env", "ResourceTag.1.Value": "test"})
    assert response.status_code == 200, response.content
    targets = InvocationResult.objects.filter(invocation_id=response.json()["InvokeId"])
    assert set(targets.values_list("instance_id", flat=True)) == {test_a, test_b}
    every = rpc.v1("RunCommand", {**run, "ResourceTag.1.Key": "env"}).json()["InvokeId"]
    assert InvocationResult.objects.filter(invocation_id=every).count() == 3
    nothing = rpc.v1("RunCommand", {**run, "ResourceTag.1.Key": "env", "ResourceTag.1.Value": "dev"})
    assert nothing.status_code == 404
    assert nothing.json()["Code"] == "InvalidInstance.NotFound"
    assert Invocation.objects.count() == 2


TEST_ONLY_POLICY = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ecs:RunCommand", "ecs:DescribeInvocation*"],
            "Resource": ["acs:ecs:*:*:instance/*"],
            "Condition": {"StringEquals": {"acs:ResourceTag/env": "test"}},
        },
        {
            "Effect": "Allow",
            "Action": ["ecs:RunCommand", "ecs:DescribeInvocation*"],
            "Resource": ["acs:ecs:*:*:command/*", "acs:ecs:*:*:invocation/*"],
        },
    ],
}


def ram_user_allowed_on_env_test(tenant) -> tuple[User, str, str]:
    user = iam.ram_user_create(principal=tenant.principal, name="tester")
    policy = iam.policy_create(principal=tenant.principal, name="RunOnTest", document=TEST_ONLY_POLICY)
    iam.policy_attach(principal=tenant.principal, policy=policy, to_user=user)
    key = iam.access_key_create(user=user)
    return user, key.access_key_id, key.access_key_secret


@pytest.mark.django_db
def test_a_policy_on_instance_tags_allows_tagged_instances_only(rpc, tenant, region) -> None:
    test_box, prod_box = make_instance(tenant, "t"), make_instance(tenant, "p")
    rpc.v1("TagResources", tag_params("managedinstance", [test_box], {"env": "test"}, region))
    rpc.v1("TagResources", tag_params("managedinstance", [prod_box], {"env": "prod"}, region))
    _, key_id, secret = ram_user_allowed_on_env_test(tenant)
    run = {"RegionId": region, "Type": "RunShellScript", "CommandContent": "id"}
    allowed = rpc.v1("RunCommand", {**run, "InstanceId.1": test_box}, access_key_id=key_id, secret=secret)
    assert allowed.status_code == 200, allowed.content
    refused = rpc.v1("RunCommand", {**run, "InstanceId.1": prod_box}, access_key_id=key_id, secret=secret)
    assert refused.status_code == 403
    assert refused.json()["Code"] == "Forbidden.RAM"
    both = {**run, "InstanceId.1": test_box, "InstanceId.2": prod_box}
    assert rpc.v1("RunCommand", both, access_key_id=key_id, secret=secret).status_code == 403
    assert Invocation.objects.count() == 1
    # Retagging the production box moves it inside the policy at once.
    rpc.v1("TagResources", tag_params("managedinstance", [prod_box], {"env": "test"}, region))
    again = rpc.v1("RunCommand", {**run, "InstanceId.1": prod_box}, access_key_id=key_id, secret=secret)
    assert again.status_code == 200, again.content


@pytest.mark.django_db
def test_file_sends_are_tagged_as_invocations(rpc, tenant, region, settings, tmp_path) -> None:
    from console.files.services import file_send

    settings.DATA_DIR = tmp_path
    instance = make_instance(tenant)
    transfer = file_send(
        principal=tenant.principal, instance_ids=[instance], name="a.conf", target_dir="/etc/app", data=b"x"
    )
    answer = rpc.v1("TagResources", tag_params("invocation", [transfer.id], {"change": "CHG-7"}, region))
    assert answer.status_code == 200, answer.content
    assert listed(rpc, region, "invocation", **{"Tag.1.Key": "change"}) == {(transfer.id, "change", "CHG-7")}
    sent = rpc.v1(
        "DescribeSendFileResults", {"RegionId": region, "Tag.1.Key": "change", "Tag.1.Value": "CHG-7"}
    )
    assert [row["InvokeId"] for row in sent.json()["Invocations"]["Invocation"]] == [transfer.id]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tag_filter", "expected"),
    [
        ({"TagFilter.1.TagKey": "env"}, {"a", "b", "c"}),  # the key alone: any value
        ({"TagFilter.1.TagKey": "ENV"}, {"a", "b", "c"}),  # ignoring case
        ({"TagFilter.1.TagKey": "nv"}, {"a", "b", "c"}),  # part of the key
        ({"TagFilter.1.TagKey": "env", "TagFilter.1.TagValues.1": "prod"}, {"a", "b"}),  # part of a value
        ({"TagFilter.1.TagKey": "env", "TagFilter.1.TagValues.1": "PROD-EU"}, {"b"}),
        (
            {"TagFilter.1.TagKey": "env", "TagFilter.1.TagValues.1": "eu", "TagFilter.1.TagValues.2": "test"},
            {"b", "c"},
        ),  # any of the values
        (
            {"TagFilter.1.TagKey": "env", "TagFilter.1.TagValues.1": "prod", "TagFilter.2.TagKey": "team"},
            {"a"},
        ),  # every filter
        ({"TagFilter.1.TagKey": "owner"}, set()),
    ],
)
def test_tag_filter_selects_by_fuzzy_match(rpc, tenant, region, tag_filter, expected) -> None:
    instances = {name: make_instance(tenant, name) for name in "abcd"}
    for name, tags in {
        "a": {"env": "prod", "team": "ops"},
        "b": {"Environment": "prod-eu"},
        "c": {"env": "test"},
        "d": {"role": "db"},
    }.items():
        response = rpc.v1("TagResources", tag_params("managedinstance", [instances[name]], tags, region))
        assert response.status_code == 200, response.content
    by_id = {instance: name for name, instance in instances.items()}
    rows = listed(rpc, region, "managedinstance", **tag_filter)
    assert {by_id[resource_id] for resource_id, _, _ in rows} == expected
    # Every tag of a selected resource is listed, not only the matching one.
    if "a" in expected:
        assert (instances["a"], "team", "ops") in rows


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"TagFilter.1.TagKey": "env", "Tag.1.Key": "env"}, "InvalidParameter.TagFilter"),
        ({"TagFilter.1.TagValues.1": "prod"}, "MissingParameter.TagFilter.1.TagKey"),
        ({"TagFilter.1.TagKey": "env", "TagFilter.1.Value": "x"}, "InvalidParameter.TagFilter.1.Value"),
        ({"TagFilter.1.TagKey": "k" * 129}, "InvalidParameter.TagFilter.1.TagKey"),
        (
            {"TagFilter.1.TagKey": "k", "TagFilter.1.TagValues.1": "v" * 129},
            "InvalidParameter.TagFilter.1.TagValues",
        ),
        ({f"TagFilter.{n}.TagKey": "k" for n in range(1, 22)}, "InvalidParameter.TagFilter"),
    ],
)
def test_tag_filter_refusals(rpc, tenant, region, params, code) -> None:
    response = rpc.v1("ListTagResources", {"RegionId": region, "ResourceType": "managedinstance", **params})
    assert response.status_code in (400, 403), response.content
    assert response.json()["Code"] == code
