"""Tags through the official SDK (alibabacloud-ecs20140526), unchanged, against the console served over
HTTP: TagResources, ListTagResources and UntagResources parse, Tags come back on
DescribeManagedInstances, RunCommand picks instances by ResourceTag, and a RAM user allowed only on
instances tagged env=test runs there and is refused elsewhere."""

from urllib.parse import urlsplit

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi import exceptions as tea_exceptions
from alibabacloud_tea_openapi.models import Config
from django.conf import settings

from console.invocations.models import InvocationResult
from tests.api.conftest import make_instance, make_tenant
from tests.tags.test_api_tags import ram_user_allowed_on_env_test


def client_for(live_server, key_id: str, secret: str) -> Client:
    endpoint = urlsplit(live_server.url).netloc.replace("localhost", "127.0.0.1")
    return Client(Config(access_key_id=key_id, access_key_secret=secret, endpoint=endpoint, protocol="http"))


def test_tags_and_a_tag_scoped_ram_user_through_the_sdk(live_server, transactional_db) -> None:
    region = settings.ASSIST_REGION
    tenant = make_tenant("sdk-tags")
    test_box, prod_box = make_instance(tenant, "test-box"), make_instance(tenant, "prod-box")
    admin = client_for(live_server, tenant.access_key_id, tenant.access_key_secret)

    for instance_id, env in ((test_box, "test"), (prod_box, "prod")):
        admin.tag_resources(
            ecs.TagResourcesRequest(
                region_id=region,
                resource_type="managedinstance",
                resource_id=[instance_id],
                tag=[ecs.TagResourcesRequestTag(key="env", value=env)],
            )
        )
    listed = admin.list_tag_resources(
        ecs.ListTagResourcesRequest(
            region_id=region,
            resource_type="managedinstance",
            tag=[ecs.ListTagResourcesRequestTag(key="env", value="test")],
        )
    )
    assert listed.body is not None
    rows = listed.body.tag_resources.tag_resource
    assert [(r.resource_id, r.tag_key, r.tag_value) for r in rows] == [(test_box, "env", "test")]
    fuzzy = admin.list_tag_resources(
        ecs.ListTagResourcesRequest(
            region_id=region,
            resource_type="managedinstance",
            tag_filter=[ecs.ListTagResourcesRequestTagFilter(tag_key="EN", tag_values=["ro", "nothing"])],
        )
    )
    assert [(r.resource_id, r.tag_value) for r in fuzzy.body.tag_resources.tag_resource] == [
        (prod_box, "prod")
    ]

    described = admin.describe_managed_instances(
        ecs.DescribeManagedInstancesRequest(
            region_id=region, tag=[ecs.DescribeManagedInstancesRequestTag(key="env", value="prod")]
        )
    )
    assert [i.instance_id for i in described.body.instances] == [prod_box]
    assert [(t.tag_key, t.tag_value) for t in described.body.instances[0].tags] == [("env", "prod")]

    by_tag = admin.run_command(
        ecs.RunCommandRequest(
            region_id=region,
            type="RunShellScript",
            command_content="hostname",
            resource_tag=[ecs.RunCommandRequestResourceTag(key="env", value="test")],
            tag=[ecs.RunCommandRequestTag(key="change", value="CHG-1")],
        )
    )
    targets = InvocationResult.objects.filter(invocation_id=by_tag.body.invoke_id)
    assert list(targets.values_list("instance_id", flat=True)) == [test_box]
    invocations = admin.describe_invocations(
        ecs.DescribeInvocationsRequest(
            region_id=region, tag=[ecs.DescribeInvocationsRequestTag(key="change")]
        )
    )
    [invocation] = invocations.body.invocations.invocation
    assert invocation.invoke_id == by_tag.body.invoke_id
    assert [(t.tag_key, t.tag_value) for t in invocation.tags.tag] == [("change", "CHG-1")]

    _, key_id, secret = ram_user_allowed_on_env_test(tenant)
    tester = client_for(live_server, key_id, secret)

    def run_on(instance_id: str):
        return tester.run_command(
            ecs.RunCommandRequest(
                region_id=region, type="RunShellScript", command_content="id", instance_id=[instance_id]
            )
        )

    assert run_on(test_box).body.invoke_id.startswith("t-")
    with pytest.raises(tea_exceptions.ClientException) as refused:
        run_on(prod_box)
    assert refused.value.code == "Forbidden.RAM"
    assert refused.value.status_code == 403


def test_untag_resources_through_the_sdk(live_server, transactional_db) -> None:
    """UntagResources by key and with All=true, through the SDK's typed request (TagKey list, bool All)."""
    region = settings.ASSIST_REGION
    tenant = make_tenant("sdk-untag")
    box = make_instance(tenant, "box")
    admin = client_for(live_server, tenant.access_key_id, tenant.access_key_secret)
    admin.tag_resources(
        ecs.TagResourcesRequest(
            region_id=region,
            resource_type="managedinstance",
            resource_id=[box],
            tag=[ecs.TagResourcesRequestTag(key=k, value="v") for k in ("env", "team", "owner")],
        )
    )

    def keys() -> list[str]:
        listed = admin.list_tag_resources(
            ecs.ListTagResourcesRequest(region_id=region, resource_type="managedinstance", resource_id=[box])
        )
        assert listed.body is not None
        return sorted(row.tag_key for row in listed.body.tag_resources.tag_resource)

    removed = admin.untag_resources(
        ecs.UntagResourcesRequest(
            region_id=region, resource_type="managedinstance", resource_id=[box], tag_key=["env", "team"]
        )
    )
    assert removed.body is not None and removed.body.request_id
    assert keys() == ["owner"]
    admin.untag_resources(
        ecs.UntagResourcesRequest(
            region_id=region, resource_type="managedinstance", resource_id=[box], all=True
        )
    )
    assert keys() == []
    with pytest.raises(tea_exceptions.ClientException) as refused:
        admin.untag_resources(
            ecs.UntagResourcesRequest(
                region_id=region, resource_type="managedinstance", resource_id=["mi-nobody"], tag_key=["env"]
            )
        )
    assert (refused.value.code, refused.value.status_code) == ("InvalidResourceId.NotFound", 404)
