"""SendFile and DescribeSendFileResults through the RPC endpoint (signed as the official SDK signs), and the
service rules no agent is needed for: permissions, the agent's reports, and the tick's repairs."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from console.files import services
from console.files import status as st
from console.files.models import FileTransfer, FileTransferResult
from console.fleet.models import Instance
from console.iam import services as iam_services
from tests.api.conftest import Rpc, Tenant, make_instance
from tests.iam.samples import allow, doc

pytestmark = pytest.mark.django_db
REGION = "local"


def send(rpc: Rpc, instance_ids: list[str], **extra: str):
    params = {
        "RegionId": REGION,
        "Name": "app.conf",
        "TargetDir": "/etc/app",
        "Content": base64.b64encode(b"key=value\n").decode(),
        "ContentType": "Base64",
        **{f"InstanceId.{n}": i for n, i in enumerate(instance_ids, 1)},
        **extra,
    }
    return rpc.v1("SendFile", params)


def describe(rpc: Rpc, **params: str) -> dict:
    answer = rpc.v1("DescribeSendFileResults", {"RegionId": REGION, **params})
    assert answer.status_code == 200, answer.content
    return json.loads(answer.content)


def ram_tenant(root: Tenant, name: str, document: dict) -> Tenant:
    user = iam_services.ram_user_create(principal=root.principal, name=name)
    policy = iam_services.policy_create(principal=root.principal, name=f"{name}-policy", document=document)
    iam_services.policy_attach(principal=root.principal, policy=policy, to_user=user)
    key = iam_services.access_key_create(user=user)
    return Tenant(user=user, access_key_id=key.access_key_id, access_key_secret=key.access_key_secret)


def test_send_file_creates_one_pending_result_per_instance_and_describes_it(rpc, tenant):
    first, second = make_instance(tenant, "a"), make_instance(tenant, "b")
    answer = send(rpc, [first, second, first], FileMode="755", Overwrite="true", Description="d", Timeout="5")
    assert answer.status_code == 200, answer.content
    invoke_id = json.loads(answer.content)["InvokeId"]
    assert invoke_id.startswith("f-")
    transfer = FileTransfer.objects.get(pk=invoke_id)
    assert (transfer.mode, transfer.overwrite, transfer.timeout, transfer.size) == ("0755", True, 10, 10)
    body = describe(rpc, InvokeId=invoke_id)
    [row] = body["Invocations"]["Invocation"]
    assert row["InvocationStatus"] == "Pending" and row["VmCount"] == 2
    assert row["Overwrite"] == "true" and row["FileMode"] == "0755" and row["Content"] == "a2V5PXZhbHVlCg=="
    instances = row["InvokeInstances"]["InvokeInstance"]
    assert sorted(i["InstanceId"] for i in instances) == sorted([first, second])
    assert all(i["StartTime"] == "" and i["FinishTime"] == "" and i["ErrorCode"] == "" for i in instances)
    assert body["TotalCount"] == 1 and body["PageNumber"] == 1


def test_describe_filters_and_both_paging_styles(rpc, tenant):
    instance = make_instance(tenant)
    ids = [json.loads(send(rpc, [instance], Name=f"f{n}").content)["InvokeId"] for n in range(3)]
    FileTransferResult.objects.filter(transfer_id=ids[0]).update(status=st.SUCCESS)
    FileTransferResult.objects.filter(transfer_id=ids[1]).update(status=st.FAILED)
    assert [
        r["InvokeId"] for r in describe(rpc, InvocationStatus="Success")["Invocations"]["Invocation"]
    ] == [ids[0]]
    assert [r["InvokeId"] for r in describe(rpc, InvocationStatus="failed")["Invocations"]["Invocation"]] == [
        ids[1]
    ]
    assert [r["Name"] for r in describe(rpc, Name="f2")["Invocations"]["Invocation"]] == ["f2"]
    assert describe(rpc, InstanceId=instance)["TotalCount"] == 3
    assert describe(rpc, InstanceId="mi-other")["TotalCount"] == 0
    page = describe(rpc, PageNumber="2", PageSize="2")
    assert [r["InvokeId"] for r in page["Invocations"]["Invocation"]] == [ids[0]]
    first = describe(rpc, MaxResults="2")
    assert [r["InvokeId"] for r in first["Invocations"]["Invocation"]] == [ids[2], ids[1]]
    rest = describe(rpc, MaxResults="2", NextToken=first["NextToken"])
    assert [r["InvokeId"] for r in rest["Invocations"]["Invocation"]] == [ids[0]] and rest["NextToken"] == ""
    bad = rpc.v1("DescribeSendFileResults", {"RegionId": REGION, "InvocationStatus": "Stopped"})
    assert bad.status_code == 400


def test_missing_parameters_are_named(rpc, tenant):
    instance = make_instance(tenant)
    for name in ("Name", "TargetDir", "Content"):
        params = {
            "RegionId": REGION,
            "Name": "a",
            "TargetDir": "/a",
            "Content": "x",
            "InstanceId.1": instance,
        }
        del params[name]
        answer = rpc.v1("SendFile", params)
        assert json.loads(answer.content)["Code"] == f"MissingParameter.{name}"


def test_an_instance_the_user_may_not_send_to_answers_like_a_missing_one(rpc, tenant, client):
    allowed, forbidden = make_instance(tenant, "allowed"), make_instance(tenant, "forbidden")
    resource = f"acs:ecs:{REGION}:{tenant.account_id}:instance/{allowed}"
    invocations = f"acs:ecs:{REGION}:{tenant.account_id}:invocation/*"
    describe_allowed = allow("ecs:DescribeSendFileResults", [resource, invocations])
    ram = ram_tenant(tenant, "dev", doc(allow("ecs:SendFile", resource), describe_allowed))
    ram_rpc = Rpc(client, ram)
    assert send(ram_rpc, [allowed]).status_code == 200
    refused = send(ram_rpc, [forbidden])
    missing = send(ram_rpc, ["mi-doesnotexist"])
    foreign = send(ram_rpc, [make_instance(tenant_of_other_account(), "x")])
    answers = [(a.status_code, json.loads(a.content)) for a in (refused, missing, foreign)]
    assert {(status, body["Code"]) for status, body in answers} == {(404, "InvalidInstance.NotFound")}
    messages = [
        body["Message"].replace(i, "<id>")
        for (_, body), i in zip(answers[:2], [forbidden, "mi-doesnotexist"], strict=True)
    ]
    assert messages[0] == messages[1]
    assert FileTransfer.objects.count() == 1  # nothing was created for the refusals
    # The user sees only transfers on instances it may describe: the root's transfer to `forbidden` is hidden.
    assert send(rpc, [forbidden]).status_code == 200
    assert describe(ram_rpc)["TotalCount"] == 1


def tenant_of_other_account() -> Tenant:
    from tests.api.conftest import make_tenant

    return make_tenant("globex")


def test_a_user_without_policy_is_refused(rpc, tenant, client):
    instance = make_instance(tenant)
    ram = ram_tenant(tenant, "nobody", doc(allow("ecs:DescribeSendFileResults")))
    answer = send(Rpc(client, ram), [instance])
    assert (answer.status_code, json.loads(answer.content)["Code"]) == (404, "InvalidInstance.NotFound")


# --- the agent's reports and the tick -----------------------------------------------------------


@pytest.fixture
def transfer(tenant):
    instance = make_instance(tenant)
    return services.file_send(
        principal=tenant.principal, instance_ids=[instance], name="a", target_dir="/srv", data=b"abc"
    )


def test_the_first_read_marks_running_and_only_the_instance_may_read(transfer, tenant):
    result = transfer.results.get()
    with pytest.raises(services.ServiceError):
        services.transfer_read_open(instance_id="mi-someone-else", task_id=result.id)
    content = services.transfer_read_open(instance_id=result.instance_id, task_id=result.id)
    assert (content.sha256, content.size) == (transfer.sha256, 3)
    result.refresh_from_db()
    assert result.status == st.RUNNING and result.started_at is not None
    services.result_store(
        instance_id=result.instance_id, task_id=result.id, status="Success", error_code="", error_info="",
        started_at=None, finished_at=timezone.now().timestamp(),
    )  # fmt: skip
    with pytest.raises(services.ServiceError) as ended:
        services.transfer_read_open(instance_id=result.instance_id, task_id=result.id)
    assert ended.value.code == "FileTransfer.Ended"


def report(result, status, code=""):
    return services.result_store(
        instance_id=result.instance_id, task_id=result.id, status=status, error_code=code, error_info="",
        started_at=None, finished_at=timezone.now().timestamp(),
    )  # fmt: skip


def test_a_final_result_is_not_changed_by_a_second_report(transfer):
    result = transfer.results.get()
    assert report(result, "Success")
    assert report(result, "Failed", "FileAlreadyExists")  # acked, but ignored
    result.refresh_from_db()
    assert (result.status, result.error_code) == ("Success", "")
    assert not services.result_store(
        instance_id="mi-x", task_id=result.id, status="Failed", error_code="", error_info="",
        started_at=None, finished_at=0.0,
    )  # fmt: skip


def test_pending_too_long_is_aborted_client_not_running_when_offline(transfer, settings):
    result = transfer.results.get()
    services.results_tick(now=timezone.now() + timedelta(seconds=settings.ASSIST_DELIVERY_TIMEOUT + 1))
    result.refresh_from_db()
    assert (result.status, result.error_code) == (st.ABORTED, "ClientNotRunning")
    assert report(result, "Success")  # the agent was reached after all: what it did wins
    result.refresh_from_db()
    assert result.status == st.SUCCESS


def test_pending_too_long_on_an_online_instance_is_a_delivery_timeout(transfer, settings):
    result = transfer.results.get()
    later = timezone.now() + timedelta(seconds=settings.ASSIST_DELIVERY_TIMEOUT + 1)
    Instance.objects.filter(pk=result.instance_id).update(last_heartbeat_at=later)
    services.results_tick(now=later)
    result.refresh_from_db()
    assert (result.status, result.error_code) == (st.ABORTED, "DeliveryTimeout")


def test_a_deregistered_instance_ends_its_transfers(transfer):
    result = transfer.results.get()
    Instance.objects.filter(pk=result.instance_id).update(deregistered_at=timezone.now())
    services.results_tick()
    result.refresh_from_db()
    assert (result.status, result.error_code) == (st.ABORTED, "InstanceReleased")


def test_running_without_news_long_after_its_timeout_ends(transfer):
    result = transfer.results.get()
    services.transfer_read_open(instance_id=result.instance_id, task_id=result.id)
    services.results_tick(now=timezone.now() + timedelta(seconds=transfer.timeout + 10))
    result.refresh_from_db()
    assert result.status == st.RUNNING
    grace = services.RUNNING_GRACE_SECONDS
    services.results_tick(now=timezone.now() + timedelta(seconds=transfer.timeout + grace + 10))
    result.refresh_from_db()
    assert (result.status, result.error_code) == (st.TIMEOUT, "ClientNotResponse")


def test_pending_frames_are_those_of_pending_results_only(transfer):
    result = transfer.results.get()
    frames = services.pending_send_frames(result.instance_id)
    assert len(frames) == 1 and json.loads(frames[0])["task_id"] == result.id
    assert json.loads(frames[0])["sha256"] == transfer.sha256
    services.transfer_read_open(instance_id=result.instance_id, task_id=result.id)
    assert services.pending_send_frames(result.instance_id) == []


def test_content_is_stored_once(tenant):
    instances = [make_instance(tenant, f"h{n}") for n in range(3)]
    for _ in range(2):
        services.file_send(
            principal=tenant.principal, instance_ids=instances, name="a", target_dir="/srv", data=b"same"
        )
    from console.files import storage

    stored = [p for p in (storage.files_dir() / "content").rglob("*") if p.is_file()]
    assert len([p for p in stored if p.read_bytes() == b"same"]) == 1


def test_old_leftovers_in_incoming_are_swept():
    import os
    import time

    from console.files import storage

    old, fresh = storage.incoming_dir() / "upload-old", storage.incoming_dir() / "upload-fresh"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    assert storage.sweep_incoming() == 1
    assert not old.exists() and fresh.exists()


def test_an_agent_that_takes_a_transfer_aborted_as_undelivered_runs_it(transfer, settings):
    result = transfer.results.get()
    services.results_tick(now=timezone.now() + timedelta(seconds=settings.ASSIST_DELIVERY_TIMEOUT + 1))
    services.transfer_read_open(instance_id=result.instance_id, task_id=result.id)
    result.refresh_from_db()
    assert (result.status, result.error_code, result.finished_at) == (st.RUNNING, "", None)


def test_tags_on_send_file_are_listed_and_filter_the_describe(rpc, tenant):
    instance = make_instance(tenant)
    tagged = json.loads(send(rpc, [instance], **{"Tag.1.Key": "env", "Tag.1.Value": "prod"}).content)
    plain = json.loads(send(rpc, [instance]).content)
    [row] = describe(rpc, **{"Tag.1.Key": "env"})["Invocations"]["Invocation"]
    assert row["InvokeId"] == tagged["InvokeId"]
    assert row["Tags"]["Tag"] == [{"TagKey": "env", "TagValue": "prod"}]
    assert describe(rpc, **{"Tag.1.Key": "env", "Tag.1.Value": "dev"})["TotalCount"] == 0
    by_id = describe(rpc, InvokeId=plain["InvokeId"])["Invocations"]["Invocation"][0]
    assert by_id["Tags"]["Tag"] == []
    refused = send(rpc, [instance], **{"Tag.1.Key": "aliyun-x", "Tag.1.Value": "1"})
    assert json.loads(refused.content)["Code"] == "InvalidTagKey.Malformed"


def test_large_contents_are_pruned_after_retention_unless_still_used(tenant, settings):
    import os
    import time

    from console.files import storage

    instance = make_instance(tenant)
    big, small = os.urandom(100_000), b"small"
    old = services.file_send(
        principal=tenant.principal, instance_ids=[instance], name="a", target_dir="/s", data=big
    )
    tiny = services.file_send(
        principal=tenant.principal, instance_ids=[instance], name="b", target_dir="/s", data=small
    )
    FileTransferResult.objects.update(status=st.SUCCESS)
    later = timezone.now() + timedelta(days=settings.ASSIST_FILE_RETENTION_DAYS + 1)
    FileTransfer.objects.update(created_at=later - timedelta(days=settings.ASSIST_FILE_RETENTION_DAYS + 0.5))
    for path in (storage.content_path(old.sha256), storage.content_path(tiny.sha256)):
        os.utime(path, (time.time() - 30 * 86400,) * 2)
    live = services.file_send(
        principal=tenant.principal, instance_ids=[instance], name="c", target_dir="/s", data=big
    )
    FileTransfer.objects.filter(pk=live.pk).update(created_at=later - timedelta(days=30))
    os.utime(storage.content_path(old.sha256), (time.time() - 30 * 86400,) * 2)
    assert services.contents_prune(now=later) == 0  # the same content is still Pending elsewhere
    FileTransferResult.objects.update(status=st.SUCCESS)
    assert services.contents_prune(now=later) == 1
    assert not storage.exists(old.sha256) and storage.exists(tiny.sha256)
