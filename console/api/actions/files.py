"""Sending files: SendFile and DescribeSendFileResults (reference section 3.3, Appendix A)."""

import base64
from typing import Any

from console.api import paging
from console.api.actions.invocations import iso_time
from console.api.actions.registry import action
from console.api.actions.tags import tag_filter, tags_to_attach
from console.api.params import Params
from console.files import services, storage
from console.files import status as st
from console.files import validation as v
from console.files.models import FileTransfer, FileTransferResult
from console.files.selectors import READ_ACTION, results_visible, transfers_visible, with_overall_status
from console.iam.authz import authorize
from console.iam.principal import Principal, arn
from console.tags.selectors import filter_by_tags, tag_list, tags_of

# Tags of a file transfer are stored as the original keeps them: on the task, resource type "invocation".
TAG_TYPE = "invocation"

# Larger files (console uploads) are not echoed back in Content.
ECHO_LIMIT = services.ECHO_LIMIT


@action("SendFile")
def send_file(principal: Principal, params: Params) -> dict[str, Any]:
    """Send a file of at most 32 KB (after Base64) to 1-50 instances. Accepted and ignored: ResourceGroupId
    (ClientToken is honoured by the API layer for every operation)."""
    region = params.text("RegionId", required=True)
    tags = tags_to_attach(params)
    content_type = v.check_content_type(params.text("ContentType"))
    name = params.text("Name", required=True)
    target_dir = params.text("TargetDir", required=True)
    if "Content" not in params:
        params.text("Content", required=True)
    data = v.api_content_bytes(params.text("Content"), content_type)
    transfer = services.file_send(
        principal=principal,
        region=region,
        instance_ids=params.values("InstanceId"),
        name=name,
        target_dir=target_dir,
        data=data,
        content_type=content_type,
        owner=params.text("FileOwner"),
        group=params.text("FileGroup"),
        mode=params.text("FileMode"),
        overwrite=params.boolean("Overwrite"),
        description=params.text("Description"),
        timeout=params.text("Timeout") or None,
        tags=tags,
    )
    return {"InvokeId": transfer.id}


def _content(transfer: FileTransfer) -> str:
    if transfer.size > ECHO_LIMIT or not storage.exists(transfer.sha256):
        return ""
    data = storage.read_chunk(transfer.sha256, 0, transfer.size)
    if transfer.content_type == "PlainText":
        return data.decode("utf-8", errors="replace")
    return base64.b64encode(data).decode("ascii")


def _instance_row(result: FileTransferResult) -> dict[str, Any]:
    return {
        "CreationTime": iso_time(result.created_at),
        "ErrorCode": result.error_code,
        "ErrorInfo": result.error_info,
        "FinishTime": iso_time(result.finished_at),
        "InstanceId": result.instance_id,
        "InvocationStatus": result.status,
        "StartTime": iso_time(result.started_at),
        "UpdateTime": iso_time(result.updated_at),
    }


def _transfer_row(
    transfer: FileTransfer, instances: list[dict[str, Any]], tags: dict[str, str]
) -> dict[str, Any]:
    return {
        "Content": _content(transfer),
        "ContentType": transfer.content_type,
        "CreationTime": iso_time(transfer.created_at),
        "Description": transfer.description,
        "FileGroup": transfer.group,
        "FileMode": transfer.mode,
        "FileOwner": transfer.owner,
        "InvocationStatus": transfer.overall,  # type: ignore[attr-defined]
        "InvokeId": transfer.id,
        "InvokeInstances": {"InvokeInstance": instances},
        "Name": transfer.name,
        "Overwrite": "true" if transfer.overwrite else "false",
        "Tags": {"Tag": tag_list(tags)},
        "TargetDir": transfer.target_dir,
        "VmCount": transfer.vm_count,  # type: ignore[attr-defined]
    }


@action("DescribeSendFileResults")
def describe_send_file_results(principal: Principal, params: Params) -> dict[str, Any]:
    """File transfers, newest first, each with its instances. Accepted and ignored: ResourceGroupId."""
    region = params.text("RegionId", required=True)
    invoke_id = params.text("InvokeId")
    instance_id = params.text("InstanceId")
    name = params.text("Name")
    status = params.choice("InvocationStatus", st.OVERALL_STATUSES, default="")
    wanted_tags = tag_filter(params)
    page = paging.page_request(params)
    authorize(principal, READ_ACTION, [arn(principal.account_id, region, "invocation", invoke_id or "*")])
    transfers = transfers_visible(principal).filter(region=region)
    if invoke_id:
        transfers = transfers.filter(pk=invoke_id)
    if name:
        transfers = transfers.filter(name=name)
    if instance_id:
        # A subquery, not a join: the overall status must still count every instance.
        transfers = transfers.filter(
            pk__in=FileTransferResult.objects.filter(instance_id=instance_id).values("transfer_id")
        )
    if wanted_tags:
        transfers = filter_by_tags(
            transfers, account_id=principal.account_id, resource_type=TAG_TYPE, wanted=wanted_tags
        )
    transfers = with_overall_status(transfers)
    if status:
        transfers = transfers.filter(overall=status)
    rows: list[FileTransfer]
    rows, page_fields = paging.paginate(transfers, page)
    results = results_visible(principal, [row.id for row in rows])
    if instance_id:
        results = results.filter(instance_id=instance_id)
    by_transfer: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    for result in results.order_by("transfer_id", "instance_id"):
        by_transfer[result.transfer_id].append(_instance_row(result))
    tags = tags_of(principal.account_id, TAG_TYPE, [row.id for row in rows])
    records = [_transfer_row(row, by_transfer[row.id], tags.get(row.id, {})) for row in rows]
    return {"Invocations": {"Invocation": records}, **page_fields}
