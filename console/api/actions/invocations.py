"""Running commands: RunCommand, InvokeCommand, StopInvocation and DescribeInvocationResults (reference
section 3.2, Appendix A). DescribeInvocations is in ``describe_invocations.py``."""

import base64
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import CharField, Func

from console.api import paging
from console.api.actions.registry import action
from console.api.actions.tags import tag_filter, tags_to_attach
from console.api.params import Params, invalid, unsupported
from console.commands import parameters as cmd_params
from console.iam.authz import authorize
from console.iam.principal import Principal, arn
from console.invocations import status as st
from console.invocations.models import Invocation, InvocationResult
from console.invocations.selectors import outputs_for, results_visible, results_visible_count
from console.invocations.services import (
    invocation_invoke_command,
    invocation_modify,
    invocation_run_command,
    invocation_stop,
)
from console.tags.selectors import filter_by_tags, tag_list, tags_of

CONTENT_ENCODINGS = ("PlainText", "Base64")
# Options that change where or how a command runs: ignoring them would run it differently than asked.
UNSUPPORTED_RUN_OPTIONS = (
    "OssOutputDelivery",
    "WindowsPasswordName",
)
# InvokeRecordStatus filter values (section 4.5) -> the per-instance statuses that report them.
RECORD_STATUSES = ("Running", "Finished", "Success", "Failed", "PartialFailed", "Stopped", "Stopping")
STATUSES_OF_RECORD = {
    record: [status for status in st.INSTANCE_STATUSES if st.record_status(status) == record]
    for record in RECORD_STATUSES
}


def iso_time(value: datetime | None) -> str:
    """ISO 8601 UTC with seconds and ``Z``; "" when unset, as the original does."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class IsoTimeText(Func):
    """``iso_time`` of a datetime column, computed by the database: a page of DescribeInvocations shows
    12,500 times, and loading them as datetimes (Django's pure-Python timestamp loader) then formatting
    them was most of its rendering (docs/performance.md, section 4). "" when NULL, as ``iso_time``."""

    arity = 1
    output_field = CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # to_char truncates the microseconds as strftime does; the literal letters are double-quoted.
        template = (
            "COALESCE(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
        )
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores a datetime as UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]": cut, not strftime, which
        # works in milliseconds (its %f of 58.9996 s is 59.000), so the text cut is the one sure to match.
        template = "COALESCE(replace(substr(%(expressions)s, 1, 19), ' ', 'T') || 'Z', '')"
        return self.as_sql(compiler, connection, template=template, **extra)


def refuse_unsupported_run_options(params: Params) -> None:
    """Options of RunCommand and InvokeCommand this server cannot honour yet: refused, never ignored."""
    for name in UNSUPPORTED_RUN_OPTIONS:
        if params.text(name):
            raise unsupported(name)


def run_options_of(params: Params) -> dict[str, Any]:
    """The run options shared by RunCommand and InvokeCommand, as the services' keyword arguments; the
    services check them (console/invocations/run_options.py). ``MaxConcurrency`` and ``MaxErrors`` are
    this server's extra optional parameters (docs/api.md)."""
    return {
        "frequency": params.text("Frequency"),
        "repeat_mode": params.text("RepeatMode"),
        "termination_mode": params.text("TerminationMode"),
        "container_id": params.text("ContainerId"),
        "container_name": params.text("ContainerName"),
        "max_concurrency": params.text("MaxConcurrency"),
        "max_errors": params.text("MaxErrors"),
    }


def resource_tag_targets(params: Params, maximum: int) -> dict[str, str | None]:
    """``ResourceTag.N.Key``/``.Value``: run on every instance carrying all these tags (a tag without a
    value: the key with any value)."""
    pairs = params.given_structs("ResourceTag", ("Key", "Value"))
    if len(pairs) > maximum:
        raise invalid("ResourceTag", f"at most {maximum} tags can select the instances.")
    for pair in pairs:
        if not pair.get("Key"):
            raise invalid("ResourceTag.N.Key", "every ResourceTag.N needs a non-empty Key.")
    return {pair["Key"]: pair.get("Value") for pair in pairs}


def parameter_values(params: Params) -> dict[str, object]:
    """``Parameters``: one JSON object (duplicate keys refused); absent or empty means none."""
    return cmd_params.parse_values_json(params.text("Parameters"))


@action("RunCommand")
def run_command(principal: Principal, params: Params) -> dict[str, Any]:
    """Create and run a command (once, periodic or at reboot). Accepted and ignored: ResourceGroupId,
    Timed."""
    region = params.text("RegionId", required=True)
    command_type = params.text("Type", required=True)
    content = params.text("CommandContent", required=True)
    encoding = params.choice("ContentEncoding", CONTENT_ENCODINGS, default="PlainText", strict=False)
    refuse_unsupported_run_options(params)
    enable_parameter = params.boolean("EnableParameter")
    values = parameter_values(params)
    invocation = invocation_run_command(
        principal=principal,
        instance_ids=params.values("InstanceId"),
        command_content=content,
        region=region,
        command_type=command_type,
        content_encoding=encoding,
        timeout=params.text("Timeout") or 60,
        working_dir=params.text("WorkingDir"),
        username=params.text("Username"),
        name=params.text("Name"),
        description=params.text("Description"),
        keep_command=params.boolean("KeepCommand"),
        enable_parameter=enable_parameter,
        parameters=values,
        resource_tags=resource_tag_targets(params, maximum=20),
        tags=tags_to_attach(params),
        launcher=params.text("Launcher"),
        **run_options_of(params),
    )
    return {"CommandId": invocation.command_id, "InvokeId": invocation.id}


@action("InvokeCommand")
def invoke_command(principal: Principal, params: Params) -> dict[str, Any]:
    """Run a saved command. Timeout, WorkingDir and Launcher override the command's for this run. Accepted
    and ignored: ResourceGroupId, Timed."""
    region = params.text("RegionId", required=True)
    command_id = params.text("CommandId", required=True)
    refuse_unsupported_run_options(params)
    values = parameter_values(params)
    invocation = invocation_invoke_command(
        principal=principal,
        command_id=command_id,
        instance_ids=params.values("InstanceId"),
        region=region,
        timeout=params.text("Timeout") or None,
        working_dir=params.text("WorkingDir") if "WorkingDir" in params else None,
        username=params.text("Username"),
        parameters=values,
        resource_tags=resource_tag_targets(params, maximum=10),
        tags=tags_to_attach(params),
        launcher=params.text("Launcher"),
        **run_options_of(params),
    )
    return {"InvokeId": invocation.id}


@action("ModifyInvocationAttribute")
def modify_invocation_attribute(principal: Principal, params: Params) -> dict[str, Any]:
    """Change a live periodic task's content, parameters or frequency, or add instances; answers the
    task's CommandId (a new one when the content changed). A Once task is refused (403
    ``InvalidOperation.RepeatMode``)."""
    region = params.text("RegionId", required=True)
    invoke_id = params.text("InvokeId", required=True)
    encoding = params.choice("ContentEncoding", CONTENT_ENCODINGS, default="PlainText", strict=False)
    invocation = invocation_modify(
        principal=principal,
        invocation_id=invoke_id,
        region=region,
        command_content=params.text("CommandContent") if "CommandContent" in params else None,
        content_encoding=encoding,
        enable_parameter=params.boolean("EnableParameter") if params.text("EnableParameter") else None,
        parameters=parameter_values(params) if "Parameters" in params else None,
        frequency=params.text("Frequency"),
        instance_ids=params.values("InstanceId"),
    )
    return {"CommandId": invocation.command_id}


@action("StopInvocation")
def stop_invocation(principal: Principal, params: Params) -> dict[str, Any]:
    """Stop an invocation on all its instances, or on the ``InstanceId.N`` given (at most 50)."""
    region = params.text("RegionId", required=True)
    invoke_id = params.text("InvokeId", required=True)
    invocation_stop(
        principal=principal,
        invocation_id=invoke_id,
        instance_ids=params.values("InstanceId") or None,
        region=region,
    )
    return {}


def default_username(command_type: str) -> str:
    return "root" if command_type == "RunShellScript" else "System"


def output_field(output: bytes, encoding: str) -> tuple[str, int]:
    """The last ASSIST_API_OUTPUT_LIMIT bytes, encoded, and the number of bytes cut from the start."""
    limit = settings.ASSIST_API_OUTPUT_LIMIT
    tail = output[-limit:] if len(output) > limit else output
    dropped = len(output) - len(tail)
    if encoding == "PlainText":
        return tail.decode("utf-8", errors="replace"), dropped
    return base64.b64encode(tail).decode("ascii"), dropped


# The columns a record shows (and created_at, which pages): loading whole rows read each invocation's
# script, parameters and every timestamp of both tables through Django's pure-Python timestamp loader.
RESULT_COLUMNS = (
    "id", "invocation_id", "instance_id", "status", "error_code", "error_info", "exit_code", "repeats",
    "output_dropped", "created_at",
    "invocation__command_id", "invocation__command_type", "invocation__container_id",
    "invocation__container_name", "invocation__launcher", "invocation__termination_mode",
    "invocation__username",
)  # fmt: skip


def _result_row(
    result: InvocationResult, output: bytes, encoding: str, tags: dict[str, str]
) -> dict[str, Any]:
    """The record of one result of ``RESULT_COLUMNS``, its times annotated as text (``IsoTimeText``)."""
    invocation = result.invocation
    text, dropped = output_field(output, encoding)
    return {
        "CommandId": invocation.command_id,
        "ContainerId": invocation.container_id,
        "ContainerName": invocation.container_name,
        "Dropped": dropped + result.output_dropped,
        "ErrorCode": result.error_code,
        "ErrorInfo": result.error_info,
        "ExitCode": 0 if result.exit_code is None else result.exit_code,
        "FinishedTime": result.finished_text,  # type: ignore[attr-defined]
        "InstanceId": result.instance_id,
        "InvocationStatus": result.status,
        "InvokeId": invocation.id,
        "InvokeRecordStatus": st.record_status(result.status),
        "Launcher": invocation.launcher,
        "OssOutputDelivery": "",
        "OssOutputErrorCode": "",
        "OssOutputErrorInfo": "",
        "OssOutputStatus": "",
        "OssOutputUri": "",
        "Output": text,
        "Repeats": result.repeats,
        "StartTime": result.started_text,  # type: ignore[attr-defined]
        "StopTime": result.stopped_text,  # type: ignore[attr-defined]
        "Tags": {"Tag": tag_list(tags)},
        "TerminationMode": invocation.termination_mode,
        "Username": invocation.username or default_username(invocation.command_type),
    }


@action("DescribeInvocationResults")
def describe_invocation_results(principal: Principal, params: Params) -> dict[str, Any]:
    """Per-instance records: each instance's latest execution, or with ``IncludeHistory=true`` (InvokeId of
    a periodic task required) one record per run; newest first. Accepted and ignored: ResourceGroupId."""
    region = params.text("RegionId", required=True)
    invoke_id = params.text("InvokeId")
    instance_id = params.text("InstanceId")
    command_id = params.text("CommandId")
    record_status = params.choice("InvokeRecordStatus", RECORD_STATUSES, default="")
    encoding = params.choice("ContentEncoding", CONTENT_ENCODINGS, default="Base64", strict=False)
    include_history = params.boolean("IncludeHistory")
    wanted_tags = tag_filter(params)
    page = paging.page_request(params)
    authorize(
        principal,
        "ecs:DescribeInvocationResults",
        [arn(principal.account_id, region, "invocation", invoke_id or "*")],
    )
    if include_history:
        _check_history_task(principal, invoke_id, region)
    results = (
        results_visible(principal, history=include_history)
        .filter(invocation__region=region)
        .select_related("invocation")
        .only(*RESULT_COLUMNS)
        .annotate(
            started_text=IsoTimeText("started_at"),
            finished_text=IsoTimeText("finished_at"),
            stopped_text=IsoTimeText("stopped_at"),
        )
    )
    # The same filters on the invocations alone: without a filter on the results themselves, the total
    # adds up these invocations' instance counts instead of counting their results.
    invocations = Invocation.objects.filter(account_id=principal.account_id, region=region)
    if invoke_id:
        results = results.filter(invocation_id=invoke_id)
        invocations = invocations.filter(pk=invoke_id)
    if instance_id:
        results = results.filter(instance_id=instance_id)
    if command_id:
        results = results.filter(invocation__command_id=command_id)
        invocations = invocations.filter(command_id=command_id)
    if record_status:
        results = results.filter(status__in=STATUSES_OF_RECORD[record_status])
    if wanted_tags:
        tagged = filter_by_tags(
            Invocation.objects.all(),
            account_id=principal.account_id,
            resource_type="invocation",
            wanted=wanted_tags,
        )
        results = results.filter(invocation__in=tagged)
        invocations = invocations.filter(pk__in=tagged)
    if include_history:  # the runs, not the row waiting for the next one
        results = results.exclude(status=st.SCHEDULED)
    total = None
    if not (instance_id or record_status or include_history):
        total = results_visible_count(principal, invocations)
    rows: list[InvocationResult]
    rows, page_fields = paging.paginate(results, page, total=total)
    outputs = outputs_for([row.id for row in rows])
    tags = tags_of(principal.account_id, "invocation", {row.invocation_id for row in rows})
    records = [
        _result_row(row, outputs.get(row.id, b""), encoding, tags.get(row.invocation_id, {})) for row in rows
    ]
    return {"Invocation": {"InvocationResults": {"InvocationResult": records}, **page_fields}}


def _check_history_task(principal: Principal, invoke_id: str, region: str) -> None:
    """IncludeHistory=true needs the InvokeId of a task that runs more than once (reference section 3.2)."""
    if not invoke_id:
        raise invalid(
            "IncludeHistory", "IncludeHistory=true needs the InvokeId of a Period or EveryReboot task."
        )
    tasks = Invocation.objects.filter(pk=invoke_id, account_id=principal.account_id, region=region)
    mode = tasks.values_list("repeat_mode", flat=True).first()
    if mode is not None and mode not in ("Period", "EveryReboot"):
        raise invalid(
            "IncludeHistory",
            f"{invoke_id} is a {mode} task; only Period and EveryReboot tasks have a history.",
        )
