"""The agent gateway and agents of an older protocol: each task goes out as such an agent can run it, and a
task it cannot run (in a container) ends at once with ClientNeedUpgrade instead of a delivery timeout."""

import json

import pytest
from asgiref.sync import async_to_sync
from assist_agent import protocol
from channels.testing import WebsocketCommunicator

from console.fleet import services as fleet_services
from console.gateway.consumers import AgentConsumer
from console.invocations import services
from console.invocations import status as st
from console.invocations.models import InvocationResult

pytestmark = pytest.mark.django_db(transaction=True)

CONTAINER = "docker://" + "ab" * 32


def _register(principal):
    issued = fleet_services.activation_create(principal=principal, instance_count=1)
    registration = fleet_services.instance_register(
        activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1", hostname="h"
    )
    return registration.instance, registration.secret


def _hello(instance_id: str, secret: str, peer_protocol: int) -> str:
    return protocol.encode(
        protocol.Hello(
            instance_id=instance_id, secret=secret, agent_version="0.1.0", os_type="Linux", os_name="test",
            hostname="h", ips=(), boot_id="b", held_tasks=(), protocol=peer_protocol,
        )
    )  # fmt: skip


def _task_runs_received(instance, secret, peer_protocol: int) -> dict[str, dict]:
    """Connect as an agent of ``peer_protocol``; the raw task.run objects it is sent, by task id."""

    async def scenario():
        communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_to(_hello(instance.id, secret, peer_protocol))
        received = {}
        while not await communicator.receive_nothing(timeout=1.5):
            text = await communicator.receive_from(timeout=5)
            frame = json.loads(text)
            if frame["type"] == protocol.TASK_RUN:
                protocol.decode(text, sender="console")  # valid for this console's protocol too
                received[frame["task_id"]] = frame
        await communicator.disconnect()
        return received

    return async_to_sync(scenario)()


def _run(principal, instance, **options):
    invocation = services.invocation_run_command(
        principal=principal, instance_ids=[instance.id], command_content="echo hi", **options
    )
    return invocation.results.get().id


def test_an_older_agent_gets_what_it_can_run_and_a_container_task_ends_at_once(root_principal):
    instance, secret = _register(root_principal)
    tree = _run(root_principal, instance)
    process = _run(root_principal, instance, termination_mode="Process")
    contained = _run(root_principal, instance, container_id=CONTAINER)

    received = _task_runs_received(instance, secret, peer_protocol=1)

    # Protocol 1 knows none of the run options: the fields are left out (it kills the tree, as it always did).
    assert set(received) == {tree, process}
    for frame in received.values():
        assert not {"termination_mode", "container_id", "container_name"} & set(frame)
    refused = InvocationResult.objects.get(pk=contained)
    assert (refused.status, refused.error_code) == (st.ABORTED, "ClientNeedUpgrade")
    assert "upgrade the agent" in refused.error_info
    assert InvocationResult.objects.get(pk=tree).status == st.PENDING  # sent, not ended


def test_a_current_agent_gets_every_option(root_principal):
    instance, secret = _register(root_principal)
    process = _run(root_principal, instance, termination_mode="Process")
    contained = _run(root_principal, instance, container_id=CONTAINER)

    received = _task_runs_received(instance, secret, peer_protocol=protocol.PROTOCOL_VERSION)

    assert received[process]["termination_mode"] == "Process"
    assert received[contained]["container_id"] == CONTAINER
    assert InvocationResult.objects.get(pk=contained).status == st.PENDING
