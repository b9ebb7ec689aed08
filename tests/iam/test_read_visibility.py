"""Reads are narrowed by policy too: a RAM user sees only the instances, invocations and results its
policies allow, in pages, the stream consumer and the API selectors."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from console.fleet import selectors as fleet_selectors
from console.iam import services as iam_services
from console.iam.principal import Principal
from console.invocations import selectors as inv_selectors
from console.invocations import services as inv_services
from console.web.consumers import InvocationStreamConsumer
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db(transaction=True)


def _reader_of(root: Principal, instance_id: str | None):
    user = iam_services.ram_user_create(principal=root, name="reader", password="long-enough-pw")
    if instance_id is not None:
        document = {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["ecs:DescribeManagedInstances", "ecs:DescribeInvocation*"],
                    "Resource": f"acs:ecs:*:{root.account_id}:instance/{instance_id}",
                }
            ],
        }
        policy = iam_services.policy_create(principal=root, name="one-instance", document=document)
        iam_services.policy_attach(principal=root, policy=policy, to_user=user)
    return user, Principal.for_user(user)


@pytest.fixture
def fleet(root_principal):
    mine, other = make_instance(root_principal, "mine"), make_instance(root_principal, "other")
    both = inv_services.invocation_run_command(
        principal=root_principal, instance_ids=[mine.id, other.id], command_content="id"
    )
    only_other = inv_services.invocation_run_command(
        principal=root_principal, instance_ids=[other.id], command_content="id"
    )
    return mine, other, both, only_other


def test_a_ram_user_without_policies_sees_nothing(root_principal, fleet, client):
    user, reader = _reader_of(root_principal, None)
    assert list(fleet_selectors.instances_visible(reader)) == []
    assert list(inv_selectors.invocations_visible(reader)) == []
    assert list(inv_selectors.results_visible(reader)) == []
    client.force_login(user)
    assert b"mine" not in client.get(reverse("instances")).content
    assert client.get(reverse("invocation", args=[fleet[2].id])).status_code == 404


def test_a_ram_user_sees_only_what_its_policy_names(root_principal, fleet, client):
    mine, other, both, only_other = fleet
    user, reader = _reader_of(root_principal, mine.id)
    assert [i.id for i in fleet_selectors.instances_visible(reader)] == [mine.id]
    assert [i.id for i in inv_selectors.invocations_visible(reader)] == [both.id]
    assert {r.instance_id for r in inv_selectors.results_visible(reader)} == {mine.id}
    client.force_login(user)
    page = client.get(reverse("invocation", args=[both.id]))
    assert (
        page.status_code == 200 and mine.id.encode() in page.content and other.id.encode() not in page.content
    )
    assert client.get(reverse("invocation", args=[only_other.id])).status_code == 404

    async def subscribe(invocation_id):
        communicator = WebsocketCommunicator(
            InvocationStreamConsumer.as_asgi(), f"/ws/invocations/{invocation_id}/"
        )
        communicator.scope["user"] = user
        communicator.scope["url_route"] = {"kwargs": {"invocation_id": invocation_id}}
        connected, code = await communicator.connect()
        if not connected:
            return code, []
        await communicator.send_json_to({"type": "resume", "cursors": {}})
        messages = [await communicator.receive_json_from() for _ in range(2)]
        await communicator.disconnect()
        return None, messages

    code, messages = async_to_sync(subscribe)(both.id)
    assert code is None
    assert [m["type"] for m in messages] == ["result", "overall"] and messages[1]["total"] == 1
    code, _ = async_to_sync(subscribe)(only_other.id)
    assert code == 4404
