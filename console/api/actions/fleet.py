"""Managed instances, their activation codes and the agent status (reference sections 3.4 and 3.6,
Appendix A): CreateActivation, DescribeActivations, DisableActivation, DeleteActivation,
DescribeManagedInstances, ModifyManagedInstance, DeregisterManagedInstance, DescribeCloudAssistantStatus
and InstallCloudAssistant."""

import ipaddress
from typing import Any

from django.db.models import F, QuerySet

from console.api import paging
from console.api.actions.invocations import iso_time
from console.api.actions.registry import action
from console.api.actions.tags import tag_filter, tags_to_attach
from console.api.params import Params, invalid, missing
from console.errors import Forbidden, ServiceError
from console.fleet import assistant_settings, selectors, services
from console.fleet.models import Activation, Instance
from console.iam.authz import authorize
from console.iam.principal import Principal, arn
from console.tags.selectors import filter_by_tags, tag_list, tags_of

MAX_DESCRIBE_MANAGED_IDS = 50
MAX_STATUS_IDS = 100
STATUS_OS_TYPES = ("Windows", "Linux", "FreeBSD")
MANAGED_OS_TYPES = ("windows", "linux", "FreeBSD")


def _page(params: Params) -> paging.PageRequest:
    """Paging errors of the activation and managed-instance operations are 400, not 403 (reference 1.5)."""
    try:
        return paging.page_request(params)
    except ServiceError as error:
        raise ServiceError(error.code, error.message, status=400) from error


def _instance_ids(params: Params, maximum: int) -> list[str]:
    ids = params.values("InstanceId")
    if len(ids) > maximum:
        raise Forbidden("InstanceIds.ExceedLimit", f"At most {maximum} instances can be given.")
    return ids


# --- activations ---------------------------------------------------------------------------------------


def _activation_fields(activation: Activation) -> dict[str, Any]:
    return {
        "ActivationId": activation.id,
        "CreationTime": iso_time(activation.created_at),
        "DeregisteredCount": activation.deregistered_count,
        "Description": activation.description,
        "InstanceCount": activation.instance_count,
        "InstanceName": activation.instance_name,
        "IpAddressRange": activation.ip_address_range,
        "RegisteredCount": activation.registered_count,
        "TimeToLiveInHours": activation.time_to_live_hours,
    }


@action("CreateActivation")
def create_activation(principal: Principal, params: Params) -> dict[str, Any]:
    """A registration code. InstanceCount 1-1000 (default 10), TimeToLiveInHours 1-4 (default 4; the
    console's own form allows longer), InstanceName a name prefix. Accepted and ignored:
    ResourceGroupId."""
    region = params.text("RegionId", required=True)
    issued = services.activation_create(
        principal=principal,
        region=region,
        instance_count=params.integer("InstanceCount", default=10),
        time_to_live_hours=params.integer("TimeToLiveInHours", default=services.API_MAX_TIME_TO_LIVE_HOURS),
        instance_name=params.text("InstanceName"),
        description=params.text("Description"),
        ip_address_range=params.text("IpAddressRange"),
        max_time_to_live_hours=services.API_MAX_TIME_TO_LIVE_HOURS,
        tags=tags_to_attach(params),
    )
    return {"ActivationId": issued.activation.id, "ActivationCode": issued.code}


@action("DescribeActivations")
def describe_activations(principal: Principal, params: Params) -> dict[str, Any]:
    """The account's codes in the region, newest first; filters ActivationId and InstanceName (exact).
    Accepted and ignored: ResourceGroupId."""
    region = params.text("RegionId", required=True)
    activation_id = params.text("ActivationId")
    instance_name = params.text("InstanceName")
    wanted_tags = tag_filter(params)
    page = _page(params)
    authorize(
        principal,
        "ecs:DescribeActivations",
        [arn(principal.account_id, region, "activation", activation_id or "*")],
    )
    activations = selectors.activations_visible(principal).filter(region=region)
    if activation_id:
        activations = activations.filter(pk=activation_id)
    if instance_name:
        activations = activations.filter(instance_name=instance_name)
    if wanted_tags:
        activations = filter_by_tags(
            activations, account_id=principal.account_id, resource_type="activation", wanted=wanted_tags
        )
    rows: list[Activation]
    rows, page_fields = paging.paginate(activations, page)
    tags = tags_of(principal.account_id, "activation", [a.id for a in rows])
    records = [
        {
            **_activation_fields(a),
            "Disabled": a.disabled,
            "ResourceGroupId": "",
            "Tags": tag_list(tags.get(a.id, {})),
        }
        for a in rows
    ]
    return {"ActivationList": records, **page_fields}


@action("DisableActivation")
def disable_activation(principal: Principal, params: Params) -> dict[str, Any]:
    region = params.text("RegionId", required=True)
    activation_id = params.text("ActivationId", required=True)
    activation = services.activation_disable(principal=principal, activation_id=activation_id, region=region)
    return {"Activation": {**_activation_fields(activation), "Disabled": activation.disabled}}


@action("DeleteActivation")
def delete_activation(principal: Principal, params: Params) -> dict[str, Any]:
    """Only a code no machine registered with (403 ``InvalidActivation.InUse`` otherwise)."""
    region = params.text("RegionId", required=True)
    activation_id = params.text("ActivationId", required=True)
    activation = services.activation_delete(principal=principal, activation_id=activation_id, region=region)
    return {"Activation": _activation_fields(activation)}


# --- managed instances ---------------------------------------------------------------------------------


def _ips(instance: Instance) -> tuple[str, str]:
    """(InternetIp, IntranetIp): the first public and the first private address the agent reported."""
    internet = intranet = ""
    for raw in instance.ips or []:
        try:
            address = ipaddress.ip_address(str(raw).split("%")[0])
        except ValueError:
            continue
        if address.is_loopback or address.is_link_local or address.is_unspecified:
            continue
        if address.is_global and not internet:
            internet = str(address)
        elif address.is_private and not intranet:
            intranet = str(address)
    return internet, intranet


def _instance_fields(instance: Instance, stats: selectors.InvocationStats) -> dict[str, Any]:
    internet, intranet = _ips(instance)
    return {
        "ActivationId": instance.activation_id or "",
        "AgentVersion": instance.agent_version,
        "Hostname": instance.hostname,
        "InstanceId": instance.id,
        "InstanceName": instance.name,
        "InternetIp": internet,
        "IntranetIp": intranet,
        "InvocationCount": stats.invocation_count,
        "LastInvokedTime": iso_time(stats.last_invoked_at),
        "MachineId": instance.machine_id,
        "OsType": instance.os_type.lower() if instance.os_type != "FreeBSD" else "FreeBSD",
        "OsVersion": instance.os_name,
        "RegistrationTime": iso_time(instance.registered_at),
        "ResourceGroupId": "",
    }


def _by_registration(instances: QuerySet[Instance]) -> QuerySet[Instance]:
    """``paging.paginate`` orders on ``created_at``: an instance's is its registration time."""
    return instances.annotate(created_at=F("registered_at"))


def _visible_for(principal: Principal, action_name: str) -> QuerySet[Instance]:
    instances = selectors.instances_of_account(principal)
    allowed = selectors.instance_ids_allowed(principal, action_name)
    return instances if allowed is None else instances.filter(id__in=allowed)


def _authorize_instances(principal: Principal, action_name: str, region: str, ids: list[str]) -> None:
    authorize(
        principal,
        action_name,
        [arn(principal.account_id, region, "instance", instance_id) for instance_id in ids or ["*"]],
    )


@action("DescribeManagedInstances")
def describe_managed_instances(principal: Principal, params: Params) -> dict[str, Any]:
    """Registered instances, newest registration first. Filters: InstanceId.N (<=50), InstanceName,
    InstanceIp, ActivationId, MachineId, OsType, Connected. Accepted and ignored: ResourceGroupId."""
    region = params.text("RegionId", required=True)
    ids = _instance_ids(params, MAX_DESCRIBE_MANAGED_IDS)
    name = params.text("InstanceName")
    ip = params.text("InstanceIp")
    activation_id = params.text("ActivationId")
    machine_id = params.text("MachineId", max_length=36)
    os_type = params.choice("OsType", MANAGED_OS_TYPES, default="")
    connected = params.choice("Connected", ("true", "false"), default="")
    wanted_tags = tag_filter(params)
    page = _page(params)
    _authorize_instances(principal, "ecs:DescribeManagedInstances", region, ids)
    instances = _visible_for(principal, "ecs:DescribeManagedInstances").filter(region=region)
    if ids:
        instances = instances.filter(id__in=ids)
    if name:
        instances = instances.filter(name=name)
    if activation_id:
        instances = instances.filter(activation_id=activation_id)
    if machine_id:
        instances = instances.filter(machine_id=machine_id)
    if os_type:
        instances = instances.filter(os_type__iexact=os_type)
    if connected == "true":
        instances = instances.filter(last_heartbeat_at__gte=selectors.online_cutoff())
    elif connected == "false":
        instances = instances.exclude(last_heartbeat_at__gte=selectors.online_cutoff())
    if ip:
        # ``ips`` is a JSON list: matched here, the instance set of one account stays small.
        instances = instances.filter(
            id__in=[row.id for row in instances.only("id", "ips") if ip in (row.ips or [])]
        )
    if wanted_tags:
        instances = filter_by_tags(
            instances, account_id=principal.account_id, resource_type="managedinstance", wanted=wanted_tags
        )
    rows: list[Instance]
    rows, page_fields = paging.paginate(_by_registration(instances), page)
    stats = selectors.invocation_stats([row.id for row in rows])
    tags = tags_of(principal.account_id, "managedinstance", [row.id for row in rows])
    records = []
    for row in rows:
        fields = _instance_fields(row, stats.get(row.id, selectors.InvocationStats()))
        records.append({**fields, "Connected": row.is_online, "Tags": tag_list(tags.get(row.id, {}))})
    return {"Instances": records, **page_fields}


@action("ModifyManagedInstance")
def modify_managed_instance(principal: Principal, params: Params) -> dict[str, Any]:
    region = params.text("RegionId", required=True)
    instance_id = params.text("InstanceId", required=True)
    name = params.text("InstanceName", required=True)
    instance = services.instance_modify(
        principal=principal, instance_id=instance_id, region=region, name=name
    )
    return {"Instance": {"InstanceId": instance.id, "InstanceName": instance.name}}


@action("DeregisterManagedInstance")
def deregister_managed_instance(principal: Principal, params: Params) -> dict[str, Any]:
    """The agent is refused from now on; past results stay."""
    region = params.text("RegionId", required=True)
    instance_id = params.text("InstanceId", required=True)
    instance = services.instance_deregister(principal=principal, instance_id=instance_id, region=region)
    stats = selectors.invocation_stats([instance.id]).get(instance.id, selectors.InvocationStats())
    return {"Instance": _instance_fields(instance, stats)}


# --- the agent -----------------------------------------------------------------------------------------


@action("DescribeCloudAssistantStatus")
def describe_cloud_assistant_status(principal: Principal, params: Params) -> dict[str, Any]:
    """Agent status per instance. With InstanceId.N (<=100) every named instance is answered on one page
    (MaxResults/PageSize are then ignored, as documented)."""
    region = params.text("RegionId", required=True)
    ids = _instance_ids(params, MAX_STATUS_IDS)
    os_type = params.choice("OSType", STATUS_OS_TYPES, default="")
    page = paging.page_request(params)
    if ids:
        page = paging.PageRequest(
            token_style=page.token_style, size=MAX_STATUS_IDS, number=1, next_token=page.next_token
        )
    _authorize_instances(principal, "ecs:DescribeCloudAssistantStatus", region, ids)
    instances = _visible_for(principal, "ecs:DescribeCloudAssistantStatus").filter(region=region)
    if ids:
        instances = instances.filter(id__in=ids)
    if os_type:
        instances = instances.filter(os_type=os_type)
    rows: list[Instance]
    rows, page_fields = paging.paginate(_by_registration(instances), page)
    stats = selectors.invocation_stats([row.id for row in rows])
    records = []
    for row in rows:
        row_stats = stats.get(row.id, selectors.InvocationStats())
        online = row.is_online
        records.append(
            {
                "ActiveTaskCount": row_stats.running_count,
                "CloudAssistantStatus": "true" if online else "false",
                "CloudAssistantVersion": row.agent_version if online else "",
                "InstanceId": row.id,
                "InvocationCount": row_stats.invocation_count,
                "LastHeartbeatTime": iso_time(row.last_heartbeat_at),
                "LastInvokedTime": iso_time(row_stats.last_invoked_at),
                "OSType": row.os_type,
                # The agent opens terminals on a PTY: POSIX systems, not Windows.
                "SupportSessionManager": row.os_type != "Windows",
            }
        )
    return {"InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": records}, **page_fields}


@action("InstallCloudAssistant")
def install_cloud_assistant(principal: Principal, params: Params) -> dict[str, Any]:
    """Managed instances run the agent already (they registered with it): success for registered
    instances, 404 ``InvalidInstance.NotFound`` otherwise. Nothing is changed."""
    region = params.text("RegionId", required=True)
    ids = params.values("InstanceId")
    if params.text("InstanceId"):
        raise invalid("InstanceId", "give the instances as InstanceId.1, InstanceId.2, ...")
    services.instances_install_agent(principal=principal, region=region, instance_ids=ids)
    return {}


@action("ListPluginStatus")
def list_plugin_status(principal: Principal, params: Params) -> dict[str, Any]:
    """Plugins of the agent on each named instance. Assist's agent has no plugins (terminal sessions and
    file transfers are built in), so without ``Name`` the one instance's list is empty, and with a
    ``Name`` each instance reports it ``NotInstalled``. Without ``Name`` exactly one instance is allowed,
    as in the original. Both paging styles, over the instances."""
    region = params.text("RegionId", required=True)
    ids = _instance_ids(params, MAX_DESCRIBE_MANAGED_IDS)
    name = params.text("Name", max_length=255)
    if not ids:
        raise missing("InstanceId")
    if not name and len(ids) != 1:
        raise invalid("InstanceId", "without Name, give exactly one InstanceId.1 to list its plugins.")
    page = _page(params)
    found = selectors.instances_by_ids(principal, region=region, instance_ids=list(dict.fromkeys(ids)))
    _authorize_instances(principal, "ecs:ListPluginStatus", region, [i.id for i in found])
    rows: list[Instance]
    rows, page_fields = paging.paginate(
        _by_registration(selectors.instances_of_account(principal).filter(id__in=[i.id for i in found])), page
    )
    plugins = (
        [
            {
                "FirstHeartbeatTime": "",
                "LastHeartbeatTime": "",
                "PluginName": name,
                "PluginStatus": "NotInstalled",
                "PluginVersion": "",
            }
        ]
        if name
        else []
    )
    records = [{"InstanceId": row.id, "PluginStatusSet": {"PluginStatus": plugins}} for row in rows]
    return {"InstancePluginStatusSet": {"InstancePluginStatus": records}, **page_fields}


@action("DescribeCloudAssistantSettings")
def describe_cloud_assistant_settings(principal: Principal, params: Params) -> dict[str, Any]:
    """The account's settings of the given ``SettingType.N``: ``SessionManagerConfig`` (terminal sessions
    on or off) and ``AgentUpgradeConfig`` (when agents may upgrade). The delivery settings of the original
    (OSS, SLS) answer empty lists: Assist keeps output and recordings itself."""
    region = params.text("RegionId", required=True)
    kinds = params.values("SettingType")
    if not kinds:
        raise missing("SettingType")
    try:
        for kind in kinds:
            if kind not in ("InvocationDelivery", "SessionManagerDelivery"):
                assistant_settings.check_setting_type(kind)
    except assistant_settings.SettingError as error:
        raise ServiceError(error.code, error.message) from error
    authorize(
        principal,
        "ecs:DescribeCloudAssistantSettings",
        [services.settings_arn(principal, region, kind) for kind in kinds],
    )
    stored = selectors.assistant_settings_of(principal.account_id)
    body: dict[str, Any] = {}
    if assistant_settings.SESSION_MANAGER in kinds:
        body["SessionManagerConfig"] = {"SessionManagerEnabled": stored.session_manager_enabled}
    if assistant_settings.AGENT_UPGRADE in kinds:
        upgrade = {**assistant_settings.UPGRADE_DEFAULTS, **stored.agent_upgrade}
        body["AgentUpgradeConfig"] = {
            "AllowedUpgradeWindows": {"AllowedUpgradeWindow": upgrade["AllowedUpgradeWindow"]},
            "BootstrapUpgrade": upgrade["BootstrapUpgrade"],
            "DisableUpgrade": upgrade["DisableUpgrade"],
            "Enabled": upgrade["Enabled"],
            "TimeZone": upgrade["TimeZone"],
        }
    if "InvocationDelivery" in kinds or "SessionManagerDelivery" in kinds:
        body["OssDeliveryConfigs"] = {"OssDeliveryConfig": []}
        body["SlsDeliveryConfigs"] = {"SlsDeliveryConfig": []}
    return body


@action("ModifyCloudAssistantSettings")
def modify_cloud_assistant_settings(principal: Principal, params: Params) -> dict[str, Any]:
    """Change one ``SettingType``: ``SessionManagerConfig`` or ``AgentUpgradeConfig`` (JSON). The
    delivery and resource-usage settings of the original are refused with the reason."""
    region = params.text("RegionId", required=True)
    kind = params.text("SettingType", required=True)
    try:
        assistant_settings.check_setting_type(kind)
    except assistant_settings.SettingError as error:
        raise ServiceError(error.code, error.message) from error
    services.assistant_settings_modify(
        principal=principal, region=region, setting_type=kind, config=params.text(kind, required=True)
    )
    return {}
