"""What an agent's hello changes, in one call: at a node restart thousands of agents say hello at once,
and each separate database call would be a hop to the database thread and a commit of its own."""

import logging

from assist_agent import protocol
from django.db import transaction

from console.fleet import services as fleet_services
from console.fleet.models import Instance
from console.invocations.services import results_end_not_held, results_unsent_at_hello
from console.terminals.services import sessions_of_instance_end

logger = logging.getLogger(__name__)

CONNECTED, DISCONNECTED = "connected", "disconnected"  # InstanceConnectionEvent kinds


def agent_admit(hello: protocol.Hello) -> Instance | None:
    """The instance whose agent said ``hello``, its state brought up to date; None if the agent is unknown,
    deregistered or holds the wrong secret (nothing is changed then)."""
    instance = fleet_services.instance_authenticate(instance_id=hello.instance_id, secret=hello.secret)
    if instance is None:
        return None
    with transaction.atomic():
        fleet_services.instance_hello(
            instance=instance,
            agent_version=hello.agent_version,
            os_type=hello.os_type,
            os_name=hello.os_name,
            hostname=hello.hostname,
            ips=list(hello.ips),
            boot_id=hello.boot_id,
            time_zone=hello.time_zone,
        )
        # A Running result the agent does not hold any more (state dir lost) will never be reported.
        results_end_not_held(instance_id=instance.id, held_tasks=hello.held_tasks)
        # A Pending task sent earlier that the agent does not hold never reached it.
        results_unsent_at_hello(instance_id=instance.id, held_tasks=hello.held_tasks)
        # A new connection means the agent ended the shells of its previous one (console or network gone).
        sessions_of_instance_end(instance_id=instance.id)
    connection_record(instance.id, CONNECTED, hello.agent_version, hello.boot_id)
    return instance


def connection_record(instance_id: str, kind: str, agent_version: str, boot_id: str = "") -> None:
    """The instance page's connection history; best effort: a failure to record never drops the agent."""
    try:
        fleet_services.instance_connection_record(
            instance_id=instance_id, kind=kind, agent_version=agent_version, boot_id=boot_id
        )
    except Exception:  # noqa: BLE001
        logger.exception("agent %s: could not record %s", instance_id, kind)
