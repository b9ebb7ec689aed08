"""The agent gateway and self-update, in-process: the offer after welcome, the push when the target
changes, update.status reports, and update.check after a rollback."""

import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from assist_agent import protocol
from channels.testing import WebsocketCommunicator

from console.fleet import services as fleet_services
from console.gateway.consumers import AgentConsumer
from console.releases import selectors, services

pytestmark = pytest.mark.django_db(transaction=True)

PYZ = b"PK\x03\x04 pretend zipapp"


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def _hello(instance_id: str, secret: str, version: str) -> str:
    return protocol.encode(
        protocol.Hello(
            instance_id=instance_id, secret=secret, agent_version=version, os_type="Linux", os_name="test",
            hostname="h", ips=(), boot_id="b", held_tasks=(),
        )
    )  # fmt: skip


async def _receive(communicator) -> protocol.Frame:
    return protocol.decode(await communicator.receive_from(timeout=5), sender="console")


def test_offers_on_welcome_on_target_change_and_not_after_a_rollback(root_principal):
    issued = fleet_services.activation_create(principal=root_principal, instance_count=1)
    registration = fleet_services.instance_register(
        activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1", hostname="h"
    )
    instance, secret = registration.instance, registration.secret
    services.release_publish(data=PYZ + b"1", version="1.1")
    services.release_publish(data=PYZ + b"2", version="1.2")
    services.account_target_set(principal=root_principal, version="1.1")

    async def scenario():
        communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_to(_hello(instance.id, secret, "1.0"))
        assert isinstance(await _receive(communicator), protocol.Welcome)
        offer = await _receive(communicator)  # the target differs from what the hello says it runs
        assert isinstance(offer, protocol.UpdateOffer) and offer.version == "1.1"

        # The administrator moves the target: pushed at once.
        await sync_to_async(services.account_target_set)(principal=root_principal, version="1.2")
        offer = await _receive(communicator)
        assert isinstance(offer, protocol.UpdateOffer) and offer.version == "1.2"

        # The agent reports; a rolled-back version is not offered again, even when asked.
        status = protocol.UpdateStatus(state="rolled_back", version="1.2", detail="did not come online")
        await communicator.send_to(protocol.encode(status))
        await communicator.send_to(protocol.encode(protocol.UpdateCheck()))
        assert await communicator.receive_nothing(timeout=0.5)
        # A bad status is refused with an error frame; the connection stays.
        await communicator.send_to(
            json.dumps({"type": "update.status", "state": "x", "version": "1", "detail": ""})
        )
        error = await _receive(communicator)
        assert isinstance(error, protocol.Error) and error.code == "InvalidField"
        await communicator.disconnect()

    async_to_sync(scenario)()
    row = selectors.update_states([instance.id])[instance.id]
    assert (row.state, row.version, row.rejected_versions) == ("rolled_back", "1.2", ["1.2"])


def test_no_offer_when_the_agent_runs_its_target(root_principal):
    issued = fleet_services.activation_create(principal=root_principal, instance_count=1)
    registration = fleet_services.instance_register(
        activation_id=issued.activation.id, activation_code=issued.code, source_ip="127.0.0.1", hostname="h"
    )
    services.release_publish(data=PYZ, version="1.1")
    services.account_target_set(principal=root_principal, version="1.1")

    async def scenario():
        communicator = WebsocketCommunicator(AgentConsumer.as_asgi(), "/ws/agent/")
        await communicator.connect()
        await communicator.send_to(_hello(registration.instance.id, registration.secret, "1.1"))
        assert isinstance(await _receive(communicator), protocol.Welcome)
        await communicator.send_to(protocol.encode(protocol.UpdateCheck()))
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    async_to_sync(scenario)()
