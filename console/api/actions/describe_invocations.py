"""DescribeInvocations: tasks and their per-instance state (reference section 3.2, Appendix A)."""

import base64
import json
from typing import Any

from django.db.models import Q, QuerySet

from console.api import paging
from console.api.actions.invocations import (
    CONTENT_ENCODINGS,
    IsoTimeText,
    default_username,
    iso_time,
    output_field,
)
from console.api.actions.registry import action
from console.api.actions.tags import tag_filter
from console.api.params import Params, invalid
from console.fleet.selectors import instance_ids_allowed
from console.iam.authz import authorize
from console.iam.principal import Principal, arn
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult
from console.invocations.run_options import ONE_SHOT_MODES
from console.invocations.selectors import (
    invocation_ids_on_instance,
    invocations_visible,
    outputs_for,
    overall_of,
    with_overall_status,
)
from console.tags.selectors import filter_by_tags, tag_list, tags_of

# InvokeStatus filter values (section 4.5) -> the overall statuses they select. "Finished" is what the
# legacy InvokeStatus field reports for an invocation that succeeded everywhere (status.legacy_invoke_status).
INVOKE_STATUS_FILTER = {
    "Pending": [st.PENDING],
    "Scheduled": [st.SCHEDULED],
    "Running": [st.RUNNING],
    "Stopping": [st.STOPPING],
    "Stopped": ["Stopped"],
    "Success": [st.SUCCESS],
    "Finished": [st.SUCCESS],
    "Failed": [st.FAILED],
    "PartialFailed": ["PartialFailed"],
}
REPEAT_MODES = ("Once", "Period", "NextRebootOnly", "EveryReboot", "DryRun")
LIVE_OVERALL = [st.PENDING, st.RUNNING, st.STOPPING, st.SCHEDULED]


def _content(text: str, encoding: str) -> str:
    return text if encoding == "PlainText" else base64.b64encode(text.encode("utf-8")).decode("ascii")


def _schedule_mode(repeat_mode: str) -> str:
    """A dry run reports its status as a one-time run does (it is not a schedule)."""
    return "Once" if repeat_mode in ONE_SHOT_MODES else repeat_mode


# The result columns an instance entry shows, read as tuples: model instances for the 2,500 entries of a
# page (50 invocations of 50 instances) cost more than its queries (docs/performance.md, section 4). The
# times come formatted by the database (IsoTimeText), after the plain columns.
INSTANCE_COLUMNS = (
    "id", "invocation_id", "instance_id", "status", "exit_code", "error_code", "error_info", "output_dropped",
    "repeats",
)  # fmt: skip
INSTANCE_TIMES = ("created_at", "started_at", "finished_at", "stopped_at", "updated_at")


def _instance_row(
    result: tuple[Any, ...], output: bytes | None, encoding: str, periodic: bool
) -> dict[str, Any]:
    """The InvokeInstance entry of one result row (``INSTANCE_COLUMNS``, then ``INSTANCE_TIMES`` as text)."""
    (
        _, _, instance_id, status, exit_code, error_code, error_info, output_dropped, repeats,
        created_at, started_at, finished_at, stopped_at, updated_at,
    ) = result  # fmt: skip
    text, dropped = ("", 0) if output is None else output_field(output, encoding)
    return {
        "CreationTime": created_at,
        # Cut from the API's Output, plus what the output cap (ASSIST_MAX_OUTPUT_BYTES) never stored.
        "Dropped": dropped + output_dropped,
        "ErrorCode": error_code,
        "ErrorInfo": error_info,
        "ExitCode": 0 if exit_code is None else exit_code,
        "FinishTime": finished_at,
        "InstanceId": instance_id,
        "InstanceInvokeStatus": st.record_status(status),
        "InvocationStatus": status,
        "OssOutputErrorCode": "",
        "OssOutputErrorInfo": "",
        "OssOutputStatus": "",
        "OssOutputUri": "",
        "Output": text,
        "Repeats": repeats,
        "StartTime": started_at,
        "StopTime": stopped_at,
        "Timed": periodic and status in LIVE_OVERALL,
        "UpdateTime": updated_at,
    }


def _invocation_row(
    invocation: Invocation,
    instances: list[dict[str, Any]],
    encoding: str,
    tags: dict[str, str],
) -> dict[str, Any]:
    overall: str = invocation.overall  # type: ignore[attr-defined]
    return {
        "CommandContent": _content(invocation.command_content, encoding),
        "CommandDescription": invocation.command_description,
        "CommandId": invocation.command_id,
        "CommandName": invocation.command_name,
        "CommandType": invocation.command_type,
        "ContainerId": invocation.container_id,
        "ContainerName": invocation.container_name,
        "CreationTime": iso_time(invocation.created_at),
        "Frequency": invocation.frequency,
        "InvocationStatus": overall,
        "InvokeId": invocation.id,
        "InvokeInstances": {"InvokeInstance": instances},
        "InvokeStatus": st.legacy_invoke_status(overall, _schedule_mode(invocation.repeat_mode)),
        "Launcher": invocation.launcher,
        # Rate control, this server's extra fields (docs/api.md): "" is no limit.
        "MaxConcurrency": invocation.max_concurrency,
        "MaxErrors": invocation.max_errors,
        "OssOutputDelivery": "",
        "Parameters": json.dumps(invocation.parameters, ensure_ascii=False, separators=(",", ":")),
        "RepeatMode": invocation.repeat_mode,
        "Tags": {"Tag": tag_list(tags)},
        "TerminationMode": invocation.termination_mode,
        "Timed": invocation.repeat_mode not in ONE_SHOT_MODES and overall in LIVE_OVERALL,
        "Timeout": invocation.timeout,
        "Username": invocation.username or default_username(invocation.command_type),
        "WorkingDir": invocation.working_dir,
    }


def _overall_of_page(rows: list[Invocation], result_rows: list[tuple[Any, ...]]) -> dict[str, str]:
    """The overall status of each invocation of the page from the statuses of all its instances' latest
    results, read for the page anyway: the rule ``overall_of`` has the database apply
    (tests/commands/test_overall_status_sql.py; the pages: tests/api/test_describe_paging_speed.py), without
    its query (5 ms of a page of 50 invocations of 50 instances, docs/performance.md)."""
    statuses: dict[str, set[str]] = {row.id: set() for row in rows}
    for result in result_rows:
        statuses[result[1]].add(result[3])  # INSTANCE_COLUMNS: invocation_id, status
    return {invocation_id: st.overall_status(present) for invocation_id, present in statuses.items()}


def _filtered_by_overall(
    invocations: QuerySet[Invocation], invoke_status: str, by_status: bool, timed: bool | None
) -> QuerySet[Invocation]:
    """The invocations annotated with ``overall`` and narrowed by it (InvokeStatus, Timed): the status of
    every candidate is needed before paging."""
    invocations = with_overall_status(invocations)
    if by_status:
        invocations = invocations.filter(overall__in=INVOKE_STATUS_FILTER[invoke_status])
    # Timed: true lists the scheduled and boot tasks still live, false everything else.
    live_schedule = ~Q(repeat_mode__in=ONE_SHOT_MODES) & Q(overall__in=LIVE_OVERALL)
    if timed is True:
        invocations = invocations.filter(live_schedule)
    elif timed is False:
        invocations = invocations.exclude(live_schedule)
    return invocations


@action("DescribeInvocations")
def describe_invocations(principal: Principal, params: Params) -> dict[str, Any]:
    """Invocations, newest first, each with its instances. Accepted and ignored: ResourceGroupId."""
    region = params.text("RegionId", required=True)
    invoke_id = params.text("InvokeId")
    instance_id = params.text("InstanceId")
    command_id = params.text("CommandId")
    command_name = params.text("CommandName")
    command_type = params.text("CommandType")
    invoke_status = params.choice("InvokeStatus", INVOKE_STATUS_FILTER, default="")
    repeat_mode = params.choice("RepeatMode", REPEAT_MODES, default="")
    timed = params.boolean("Timed") if params.text("Timed") else None
    include_output = params.boolean("IncludeOutput")
    encoding = params.choice("ContentEncoding", CONTENT_ENCODINGS, default="Base64", strict=False)
    if include_output and not (invoke_id or instance_id):
        raise invalid("IncludeOutput", "IncludeOutput=true needs InvokeId or InstanceId.")
    wanted_tags = tag_filter(params)
    page = paging.page_request(params)
    authorize(
        principal,
        "ecs:DescribeInvocations",
        [arn(principal.account_id, region, "invocation", invoke_id or "*")],
    )
    invocations = invocations_visible(principal).filter(region=region)
    if invoke_id:
        invocations = invocations.filter(pk=invoke_id)
    if command_id:
        invocations = invocations.filter(command_id=command_id)
    if command_type:
        invocations = invocations.filter(command_type=command_type)
    if instance_id:
        # Not a join: the overall status must still count every instance.
        invocations = invocations.filter(pk__in=invocation_ids_on_instance(instance_id))
    else:  # the reference: these are ignored when InstanceId is given
        if command_name:
            invocations = invocations.filter(command_name=command_name)
        if repeat_mode:
            invocations = invocations.filter(repeat_mode=repeat_mode)
    if wanted_tags:
        invocations = filter_by_tags(
            invocations, account_id=principal.account_id, resource_type="invocation", wanted=wanted_tags
        )
    by_status = bool(invoke_status) and not (instance_id and invoke_status == "PartialFailed")
    rows: list[Invocation]
    filtered_by_overall = by_status or timed is not None
    if filtered_by_overall:
        rows, page_fields = paging.paginate(
            _filtered_by_overall(invocations, invoke_status, by_status, timed), page
        )
    else:
        # No filter on the overall status: page the invocation rows themselves (an index walk on
        # created_at, a count of plain rows) and compute the status of the page's invocations only.
        rows, page_fields = paging.paginate(invocations, page)

    page_ids = [row.id for row in rows]
    results = InvocationResult.objects.filter(invocation_id__in=page_ids, latest=True)
    allowed = instance_ids_allowed(principal, "ecs:DescribeInvocations")
    if allowed is not None:
        results = results.filter(instance_id__in=allowed)
    if instance_id:
        results = results.filter(instance_id=instance_id)
    times = [IsoTimeText(column) for column in INSTANCE_TIMES]
    result_rows = list(
        results.order_by("invocation_id", "instance_id").values_list(*INSTANCE_COLUMNS, *times)
    )
    if not filtered_by_overall:
        every_instance = allowed is None and not instance_id
        overall = _overall_of_page(rows, result_rows) if every_instance else overall_of(page_ids)
        for row in rows:
            row.overall = overall[row.id]  # type: ignore[attr-defined]
    outputs = outputs_for([r[0] for r in result_rows]) if include_output else {}
    by_invocation: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    periodic = {row.id for row in rows if row.repeat_mode not in ONE_SHOT_MODES}
    for result in result_rows:
        result_id, invocation_id = result[0], result[1]
        output = outputs.get(result_id, b"") if include_output else None
        by_invocation[invocation_id].append(
            _instance_row(result, output, encoding, invocation_id in periodic)
        )
    tags = tags_of(principal.account_id, "invocation", by_invocation)
    records = [_invocation_row(row, by_invocation[row.id], encoding, tags.get(row.id, {})) for row in rows]
    return {"Invocations": {"Invocation": records}, **page_fields}
