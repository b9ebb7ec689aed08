"""Reboot tasks (RepeatMode NextRebootOnly and EveryReboot): they run when the instance has booted again.

The agent's hello carries the instance's boot id (a new one at every boot). A reboot task's result waits
Scheduled, armed with the boot id the instance was in when the row was made; a hello from another boot
turns it Pending (dispatched like any run, right after the hello) and records that boot on the row, so
a second hello from the same boot finds nothing to start: one run per boot, however many hellos race.
NextRebootOnly then ends with that run; EveryReboot rolls over to a new Scheduled row armed with the boot
it ran in (services.executions_roll_over), as a periodic task's executions do."""

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from console.fleet.models import Instance
from console.invocations import events, run_options
from console.invocations import status as st
from console.invocations.models import InvocationResult

logger = logging.getLogger(__name__)


def reboot_executions_start(*, instance_id: str, boot_id: str, now: datetime | None = None) -> int:
    """The instance said hello from ``boot_id``: start its reboot tasks armed with another boot. A row
    armed before the instance ever reported a boot id is armed now, without running (this boot is not a
    reboot since the task was made). Returns the number of executions started. The caller delivers them
    (the gateway's hello sends every Pending task of the instance next)."""
    if not boot_id:
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        # Locked, and re-checked by PostgreSQL after a concurrent hello's commit: a row that hello
        # started is no longer Scheduled and is skipped.
        waiting = list(
            InvocationResult.objects.select_for_update(of=("self",))
            .filter(
                instance_id=instance_id,
                latest=True,
                status__in=st.sources(st.DUE),
                invocation__repeat_mode__in=run_options.REBOOT_MODES,
            )
            .exclude(boot_id=boot_id)
            .values_list("pk", "invocation_id", "boot_id")
        )
        unarmed = [pk for pk, _, armed in waiting if not armed]
        due = [(pk, invocation_id) for pk, invocation_id, armed in waiting if armed]
        if unarmed:
            InvocationResult.objects.filter(pk__in=unarmed).update(boot_id=boot_id, updated_at=now)
        if due:
            InvocationResult.objects.filter(
                pk__in=[pk for pk, _ in due], status__in=st.sources(st.DUE)
            ).update(
                status=st.transition(st.SCHEDULED, st.DUE),
                boot_id=boot_id,
                repeats=F("repeats") + 1,
                created_at=now,
                updated_at=now,
            )
            for pk, invocation_id in due:
                events.ring_browsers_on_commit(invocation_id, pk)
    if due:
        logger.info("%s booted (%s): started %d reboot task(s)", instance_id, boot_id, len(due))
    return len(due)


def reboot_executions_catch_up(result_ids: Sequence[str]) -> int:
    """EveryReboot rows just rolled over, armed with the boot their run started in: an instance that has
    booted again meanwhile (its hello came while the run was still under way, e.g. the run was cut by the
    reboot) starts the next run now rather than at the boot after. Runs inside the caller's transaction."""
    if not result_ids:
        return 0
    rows = list(
        InvocationResult.objects.filter(
            pk__in=list(result_ids), status=st.SCHEDULED, invocation__repeat_mode=run_options.EVERY_REBOOT
        ).values_list("instance_id", "boot_id")
    )
    if not rows:
        return 0
    current = dict(
        Instance.objects.filter(pk__in={instance_id for instance_id, _ in rows}).values_list("pk", "boot_id")
    )
    started = 0
    for instance_id in sorted({i for i, armed in rows if current.get(i) and current[i] != armed}):
        started += reboot_executions_start(instance_id=instance_id, boot_id=current[instance_id])
    if started:  # the agents are connected (they just reported): ring them to take the new runs
        transaction.on_commit(lambda: events.ring_agents(sorted({i for i, _ in rows})))
    return started
