"""The gateway and agents of protocol 2 (before Launcher and DryRun): a task with a launcher or a dry run
is never sent to them (it would run with the default shell, or for real); it ends at once, Aborted /
ClientNeedUpgrade, saying what needs the upgrade. A current agent gets both fields."""

import pytest
from assist_agent import protocol

from console.invocations import status as st
from console.invocations.models import InvocationResult
from tests.unit.test_gateway_older_agents import _register, _run, _task_runs_received

pytestmark = pytest.mark.django_db(transaction=True)

PY = "python3 -u {{ACS::ScriptFileName|Ext(.py)}}"


def test_a_protocol_2_agent_never_runs_a_launcher_or_dry_run_task(root_principal):
    instance, secret = _register(root_principal)
    plain = _run(root_principal, instance, termination_mode="Process")
    launched = _run(root_principal, instance, launcher=PY)
    dry = _run(root_principal, instance, repeat_mode="DryRun")

    received = _task_runs_received(instance, secret, peer_protocol=2)

    assert set(received) == {plain}
    assert received[plain]["termination_mode"] == "Process"  # protocol 2 knows this one
    for task_id, feature in ((launched, "a command with a Launcher"), (dry, "a dry run (RepeatMode=DryRun)")):
        result = InvocationResult.objects.get(pk=task_id)
        assert (result.status, result.error_code) == (st.ABORTED, "ClientNeedUpgrade")
        assert f"cannot run {feature}" in result.error_info


def test_a_current_agent_gets_the_launcher_and_the_dry_run_flag(root_principal):
    instance, secret = _register(root_principal)
    launched = _run(root_principal, instance, launcher=PY)
    dry = _run(root_principal, instance, repeat_mode="DryRun")

    received = _task_runs_received(instance, secret, peer_protocol=protocol.PROTOCOL_VERSION)

    assert received[launched]["launcher"] == PY and "dry_run" not in received[launched]
    assert received[dry]["dry_run"] is True
    assert InvocationResult.objects.get(pk=dry).status == st.PENDING
