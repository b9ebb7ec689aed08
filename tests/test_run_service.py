"""The run service: every bad input is refused with the original's code and leaves nothing behind."""

import pytest

from console.errors import ServiceError
from console.invocations import reports, services
from console.invocations.models import Invocation, InvocationResult, OutputChunk
from tests.conftest import make_instance

pytestmark = pytest.mark.django_db


def test_run_creates_one_pending_result_per_instance(root_principal):
    a, b = make_instance(root_principal, "a"), make_instance(root_principal, "b")
    invocation = services.invocation_run_command(
        principal=root_principal, instance_ids=[a.id, b.id, a.id], command_content="echo hi"
    )
    results = InvocationResult.objects.filter(invocation=invocation)
    assert sorted(r.instance_id for r in results) == sorted([a.id, b.id])
    assert {r.status for r in results} == {"Pending"}
    assert invocation.command_id.startswith("c-") and invocation.id.startswith("t-")


BAD_INPUTS = [
    ({"command_content": ""}, "MissingParameter.CommandContent"),
    ({"command_content": "   \n"}, "MissingParameter.CommandContent"),
    ({"command_content": "x" * 18433}, "CmdContent.ExceedLimit"),  # 18433 bytes -> 24580 after Base64
    ({"timeout": 0}, "InvalidParameter.Timeout"),
    ({"timeout": -5}, "InvalidParameter.Timeout"),
    ({"timeout": "1.5"}, "InvalidParameter.Timeout"),
    ({"timeout": "ten"}, "InvalidParameter.Timeout"),
    ({"command_type": "RunPythonScript"}, "InvalidCmdType.NotFound"),
    ({"instance_ids": []}, "MissingParameter.InstanceId"),
    ({"instance_ids": ["mi-doesnotexist"]}, "InvalidInstance.NotFound"),
    ({"region": "elsewhere"}, "InvalidInstance.NotFound"),
    ({"content_encoding": "Base64", "command_content": "not base64!"}, "InvalidParameter.CommandContent"),
]


@pytest.mark.parametrize(("override", "code"), BAD_INPUTS)
def test_bad_input_is_refused_and_nothing_is_created(root_principal, override, code):
    instance = make_instance(root_principal)
    arguments = {
        "principal": root_principal,
        "instance_ids": [instance.id],
        "command_content": "echo hi",
        **override,
    }
    with pytest.raises(ServiceError) as refused:
        services.invocation_run_command(**arguments)
    assert refused.value.code == code
    assert refused.value.message
    assert Invocation.objects.count() == 0 and InvocationResult.objects.count() == 0


def test_content_at_the_limit_is_accepted(root_principal):
    instance = make_instance(root_principal)
    services.invocation_run_command(
        principal=root_principal, instance_ids=[instance.id], command_content="x" * 18432
    )
    assert Invocation.objects.count() == 1


def test_another_accounts_instance_is_not_found(root_principal, other_principal):
    foreign = make_instance(other_principal)
    with pytest.raises(ServiceError) as refused:
        services.invocation_run_command(
            principal=root_principal, instance_ids=[foreign.id], command_content="id"
        )
    assert refused.value.code == "InvalidInstance.NotFound"
    assert Invocation.objects.count() == 0


def test_more_than_100_instances_are_refused(root_principal):
    ids = [make_instance(root_principal, f"h{n}").id for n in range(101)]
    with pytest.raises(ServiceError) as refused:
        services.invocation_run_command(principal=root_principal, instance_ids=ids, command_content="id")
    assert refused.value.code == "InstanceIds.ExceedLimit"


def _running_result(principal):
    instance = make_instance(principal)
    invocation = services.invocation_run_command(
        principal=principal, instance_ids=[instance.id], command_content="id"
    )
    return InvocationResult.objects.get(invocation=invocation)


def test_duplicate_chunks_are_ignored_and_missing_ones_requested(root_principal):
    result = _running_result(root_principal)
    record = {"instance_id": result.instance_id, "task_id": result.id}
    assert reports.result_record_output(**record, seq=1, data=b"a") is True
    assert reports.result_record_output(**record, seq=1, data=b"a") is False
    assert reports.result_record_output(**record, seq=3, data=b"c") is True
    final = {"status": "Success", "exit_code": 0, "error_code": "", "error_info": "", "started_at": 1.0,
             "finished_at": 2.0, "last_seq": 3}  # fmt: skip
    assert reports.result_record_final(**record, **final) == [2]
    assert InvocationResult.objects.get(pk=result.id).status == "Pending"
    reports.result_record_output(**record, seq=2, data=b"b")
    assert reports.result_record_final(**record, **final) == []
    stored = InvocationResult.objects.get(pk=result.id)
    assert (stored.status, stored.exit_code, stored.output_size) == ("Success", 0, 3)
    assert b"".join(bytes(c.data) for c in OutputChunk.objects.filter(result=result)) == b"abc"


def test_an_agent_cannot_report_on_another_instances_task(root_principal):
    result = _running_result(root_principal)
    intruder = make_instance(root_principal, "intruder")
    with pytest.raises(ServiceError) as refused:
        reports.result_record_output(instance_id=intruder.id, task_id=result.id, seq=1, data=b"x")
    assert refused.value.code == "InvalidTask.NotFound"
    assert OutputChunk.objects.count() == 0


def test_undelivered_results_are_aborted_after_the_delivery_timeout(root_principal, settings):
    from datetime import timedelta

    from django.utils import timezone

    result = _running_result(root_principal)
    settings.ASSIST_DELIVERY_TIMEOUT = 60
    assert services.results_abort_undelivered(now=timezone.now()) == 0
    assert services.results_abort_undelivered(now=timezone.now() + timedelta(seconds=61)) == 1
    stored = InvocationResult.objects.get(pk=result.id)
    assert (stored.status, stored.error_code) == ("Aborted", "DeliveryTimeout")


def test_deregistering_an_instance_ends_its_live_results(root_principal):
    from console.fleet import services as fleet_services

    pending = _running_result(root_principal)
    instance_id = pending.instance_id
    running = services.invocation_run_command(
        principal=root_principal, instance_ids=[instance_id], command_content="sleep 9"
    ).results.get()
    reports.result_record_started(instance_id=instance_id, task_id=running.id, started_at=1.0)
    fleet_services.instance_deregister(principal=root_principal, instance_id=instance_id, region="local")
    statuses = {r.id: (r.status, r.error_code) for r in InvocationResult.objects.all()}
    assert statuses[pending.id] == ("Aborted", "InstanceReleased")
    assert statuses[running.id] == ("Error", "InstanceReleased")
