import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from console.errors import Forbidden, NotFound, ServiceError
from console.fleet import models as history_models  # connection events, hourly counts
from console.fleet.models import Activation, Instance
from console.fleet.selectors import instances_by_ids, instances_of_account
from console.iam.authz import authorize
from console.iam.models import Account
from console.iam.principal import Principal, arn
from console.ids import new_activation_id, new_id
from console.invocations import events
from console.tags.selectors import tags_of
from console.tags.services import tags_attach

_OS_TYPES = {"linux": "Linux", "windows": "Windows", "freebsd": "FreeBSD"}
# The console's own form allows long-lived codes; the RPC API passes the reference's 4 h limit.
MAX_TIME_TO_LIVE_HOURS = 24 * 365
API_MAX_TIME_TO_LIVE_HOURS = 4
# Names (reference 3.6): start with a letter; then letters, digits and . _ - :
_NAME = re.compile(r"^[^\W\d_][\w.:-]*$")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedActivation:
    activation: Activation
    code: str


@dataclass(frozen=True)
class Registration:
    instance: Instance
    secret: str


def activation_create(
    *,
    principal: Principal,
    region: str = "",
    instance_count: int = 10,
    time_to_live_hours: int = 4,
    instance_name: str = "",
    description: str = "",
    ip_address_range: str = "",
    max_time_to_live_hours: int = MAX_TIME_TO_LIVE_HOURS,
    tags: Mapping[str, str] | None = None,
) -> IssuedActivation:
    """A new code. ``max_time_to_live_hours``: the console allows a year, the RPC API the reference's 4.
    ``tags`` go on the activation and on every instance it registers."""
    region = region or settings.ASSIST_REGION
    activation_id = new_activation_id()
    authorize(principal, "ecs:CreateActivation", [arn(principal.account_id, region, "activation", "*")])
    if not 1 <= instance_count <= 1000:
        raise ServiceError("InvalidParameter.InstanceCount", "InstanceCount must be between 1 and 1000.")
    if not 1 <= time_to_live_hours <= max_time_to_live_hours:
        raise ServiceError(
            "InvalidParameter.TimeToLiveInHours",
            f"TimeToLiveInHours must be between 1 and {max_time_to_live_hours}.",
        )
    if instance_name:
        check_name(instance_name, "InstanceName", maximum=50)
    if len(description) > 100:
        raise ServiceError("InvalidParameter.Description", "Description must be at most 100 characters.")
    if ip_address_range:
        try:
            ipaddress.ip_network(ip_address_range, strict=False)
        except ValueError as error:
            raise ServiceError(
                "InvalidParameter.IpAddressRange", f"Not an IP address or CIDR range: {ip_address_range}."
            ) from error
    code = "a-" + secrets.token_urlsafe(24)
    now = timezone.now()
    activation = Activation(
        id=activation_id,
        account_id=principal.account_id,
        region=region,
        code_hash=secret_hash(code),
        description=description,
        instance_name=instance_name,
        instance_count=instance_count,
        ip_address_range=ip_address_range,
        time_to_live_hours=time_to_live_hours,
        created_at=now,
        expires_at=now + timedelta(hours=time_to_live_hours),
    )
    activation.full_clean()
    with transaction.atomic():
        activation.save()
        tags_attach(
            account_id=principal.account_id,
            region=region,
            resource_type="activation",
            resource_ids=[activation.id],
            tags=tags or {},
        )
    return IssuedActivation(activation=activation, code=code)


@transaction.atomic
def instance_register(
    *,
    activation_id: str,
    activation_code: str,
    source_ip: str,
    region: str = "",
    instance_name: str = "",
    hostname: str = "",
    os_type: str = "Linux",
    os_name: str = "",
    machine_id: str = "",
    agent_version: str = "",
) -> Registration:
    """Trade a one-time activation code for an instance id and its secret (only the hash is kept)."""
    activation = Activation.objects.select_for_update().filter(pk=activation_id).first()
    if activation is None or not hmac.compare_digest(activation.code_hash, secret_hash(activation_code)):
        raise NotFound("InvalidActivation.NotFound", "The activation id or code is not valid.")
    if activation.disabled:
        raise Forbidden("InvalidActivation.Disabled", "The activation has been disabled.")
    if activation.expires_at <= timezone.now():
        raise Forbidden("InvalidActivation.Expired", "The activation has expired.")
    if activation.registered_count >= activation.instance_count:
        raise Forbidden(
            "InvalidActivation.LimitExceeded",
            f"The activation already registered its {activation.instance_count} instance(s).",
        )
    if activation.ip_address_range and not _ip_in_range(source_ip, activation.ip_address_range):
        raise Forbidden(
            "InvalidActivation.IpNotAllowed",
            f"Registration from {source_ip} is outside {activation.ip_address_range}.",
        )
    if region and region != activation.region:
        raise ServiceError(
            "InvalidRegionId.Mismatch", f"The activation belongs to region {activation.region}, not {region}."
        )
    activation.registered_count += 1
    activation.save(update_fields=["registered_count"])
    if not instance_name and activation.instance_name:
        width = len(str(activation.instance_count))
        instance_name = f"{activation.instance_name}-{activation.registered_count:0{width}d}"
    secret = secrets.token_urlsafe(32)
    instance = Instance(
        id=new_id("mi"),
        account=activation.account,
        region=activation.region,
        activation=activation,
        name=(instance_name or hostname or "instance")[:128],
        hostname=hostname[:255],
        os_type=_OS_TYPES.get(os_type.lower(), "Linux"),
        os_name=os_name[:255],
        machine_id=machine_id[:64],
        agent_version=agent_version[:32],
        secret_hash=secret_hash(secret),
    )
    instance.full_clean()
    instance.save()
    inherited = tags_of(activation.account_id, "activation", [activation.id]).get(activation.id, {})
    tags_attach(
        account_id=activation.account_id,
        region=activation.region,
        resource_type="managedinstance",
        resource_ids=[instance.id],
        tags=inherited,
    )
    return Registration(instance=instance, secret=secret)


def _ip_in_range(ip: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def instance_authenticate(*, instance_id: str, secret: str) -> Instance | None:
    """The instance whose agent holds ``secret``; None when unknown, wrong or deregistered."""
    instance = Instance.objects.filter(pk=instance_id, deregistered_at__isnull=True).first()
    if instance is None or not instance.secret_hash:
        return None
    if not hmac.compare_digest(instance.secret_hash, secret_hash(secret)):
        return None
    return instance


def instance_hello(
    *,
    instance: Instance,
    agent_version: str,
    os_type: str,
    os_name: str,
    hostname: str,
    ips: list[str],
    boot_id: str,
    time_zone: str = "",  # the hello's time_zone ("" from an agent that predates it)
) -> Instance:
    instance.agent_version = agent_version[:32]
    instance.os_type = _OS_TYPES.get(os_type.lower(), instance.os_type)
    instance.os_name = os_name[:255]
    instance.hostname = hostname[:255]
    instance.ips = [str(ip)[:64] for ip in ips[:32]]
    instance.boot_id = boot_id[:64]
    instance.time_zone = time_zone[:64]
    instance.last_heartbeat_at = timezone.now()
    instance.save(
        update_fields=[
            "time_zone",
            "agent_version",
            "os_type",
            "os_name",
            "hostname",
            "ips",
            "boot_id",
            "last_heartbeat_at",
        ]
    )
    # A new boot id starts the instance's reboot tasks (delivered by the hello that follows).
    from console.invocations.reboots import reboot_executions_start

    reboot_executions_start(instance_id=instance.id, boot_id=instance.boot_id)
    return instance


def instances_heartbeat(
    *,
    instance_ids: set[str] | None = None,
    beats: Mapping[str, int] | None = None,
    now: datetime | None = None,
) -> None:
    """Record beats: ``instance_ids`` one each, or ``beats`` as instance id -> how many beats arrived (the
    gateway gathers a node's beats for a moment and writes them together). A beat after a silence longer
    than the offline limit on a still-open connection is a gap event; each beat is counted in its
    instance's hour. A batch costs a few statements, not one per beat."""
    counted = dict(beats or {})
    for instance_id in instance_ids or ():
        counted[instance_id] = counted.get(instance_id, 0) + 1
    if not counted:
        return
    now = now or timezone.now()
    silent_since = now - timedelta(seconds=settings.ASSIST_OFFLINE_AFTER)
    gaps = Instance.objects.filter(pk__in=counted, last_heartbeat_at__lt=silent_since)
    for instance_id, last in gaps.values_list("id", "last_heartbeat_at"):
        instance_connection_record(
            instance_id=instance_id,
            kind=history_models.InstanceConnectionEvent.HEARTBEAT_GAP,
            gap_seconds=int((now - last).total_seconds()),
            at=now,
        )
    Instance.objects.filter(pk__in=counted).update(last_heartbeat_at=now)
    heartbeats_count(beats=counted, now=now)


# The instance page's heartbeat history (connection events and beats per hour), kept bounded.
CONNECTION_EVENTS_KEPT = 200  # per instance, newest first
CONNECTION_EVENTS_MAX_AGE = timedelta(days=30)
HEARTBEAT_HOURS_KEPT = timedelta(hours=48)


def _hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def heartbeats_count(*, beats: Mapping[str, int], now: datetime) -> None:
    """Add each instance's beats to its row for the current hour (one UPDATE per distinct number of beats:
    nearly always one); the first beat of an hour creates the row and prunes that instance's rows older
    than HEARTBEAT_HOURS_KEPT (so pruning costs once an hour)."""
    hours = history_models.InstanceHeartbeatHour.objects
    hour = _hour_of(now)
    by_number: dict[int, list[str]] = {}
    for instance_id, number in beats.items():
        by_number.setdefault(number, []).append(instance_id)
    updated = sum(
        hours.filter(instance_id__in=ids, hour=hour).update(count=F("count") + number)
        for number, ids in by_number.items()
    )
    if updated == len(beats):
        return
    counted = set(hours.filter(instance_id__in=beats, hour=hour).values_list("instance_id", flat=True))
    first_of_hour = [i for i in beats if i not in counted]
    known = set(Instance.objects.filter(pk__in=first_of_hour).values_list("id", flat=True))
    hours.bulk_create(
        [history_models.InstanceHeartbeatHour(instance_id=i, hour=hour, count=beats[i]) for i in known],
        ignore_conflicts=True,  # a concurrent batch created it first: at worst its beats are not counted
    )
    hours.filter(instance_id__in=known, hour__lt=hour - HEARTBEAT_HOURS_KEPT).delete()


def instance_connection_record(
    *,
    instance_id: str,
    kind: str,
    agent_version: str = "",
    boot_id: str = "",
    gap_seconds: int | None = None,
    at: datetime | None = None,
) -> None:
    """Record that an agent connected, disconnected or went silent, and keep at most
    CONNECTION_EVENTS_KEPT events no older than CONNECTION_EVENTS_MAX_AGE for the instance. An instance
    that no longer exists records nothing."""
    at = at or timezone.now()
    events_of = history_models.InstanceConnectionEvent.objects.filter(instance_id=instance_id)
    if not Instance.objects.filter(pk=instance_id).exists():
        return
    history_models.InstanceConnectionEvent.objects.create(
        instance_id=instance_id,
        kind=kind,
        at=at,
        agent_version=agent_version[:32],
        boot_id=boot_id[:64],
        gap_seconds=gap_seconds,
    )
    oldest_kept = events_of.order_by("-at", "-id").values_list("at", flat=True)[
        CONNECTION_EVENTS_KEPT - 1 : CONNECTION_EVENTS_KEPT
    ]
    cutoff = max([at - CONNECTION_EVENTS_MAX_AGE, *oldest_kept])
    events_of.filter(at__lt=cutoff).delete()


def account_by_name(name: str) -> Account:
    account = Account.objects.filter(name=name).first()
    if account is None:
        raise NotFound("InvalidAccount.NotFound", f"No account named {name!r}; run bootstrap first.")
    return account


def check_name(name: str, field: str, *, maximum: int) -> None:
    """2..maximum characters, starting with a letter; letters, digits and ``. _ - :`` (reference 3.6)."""
    if not 2 <= len(name) <= maximum or not _NAME.match(name):
        raise ServiceError(
            f"InvalidParameter.{field}",
            f"{field} must be 2 to {maximum} characters, start with a letter and contain only letters, "
            "digits and . _ - :",
        )


def _activation_of(principal: Principal, *, activation_id: str, region: str) -> Activation:
    activation = (
        Activation.objects.select_for_update()
        .filter(pk=activation_id, account_id=principal.account_id, region=region)
        .first()
    )
    if activation is None:
        raise NotFound(
            "InvalidActivationId.NotFound", f"The specified activation does not exist: {activation_id}."
        )
    return activation


@transaction.atomic
def activation_disable(*, principal: Principal, activation_id: str, region: str) -> Activation:
    """No more registrations with this code; instances already registered keep working. Idempotent."""
    authorize(
        principal, "ecs:DisableActivation", [arn(principal.account_id, region, "activation", activation_id)]
    )
    activation = _activation_of(principal, activation_id=activation_id, region=region)
    if not activation.disabled:
        activation.disabled = True
        activation.save(update_fields=["disabled"])
    return activation


@transaction.atomic
def activation_delete(*, principal: Principal, activation_id: str, region: str) -> Activation:
    """Delete a code no machine has registered with (403 ``InvalidActivation.InUse`` otherwise, as the
    original deletes only unused codes). Returns the deleted row (its pk still set)."""
    authorize(
        principal, "ecs:DeleteActivation", [arn(principal.account_id, region, "activation", activation_id)]
    )
    activation = _activation_of(principal, activation_id=activation_id, region=region)
    if activation.registered_count > 0:
        raise Forbidden(
            "InvalidActivation.InUse",
            f"The activation {activation_id} has registered {activation.registered_count} instance(s); "
            "only unused activations can be deleted (disable it instead).",
        )
    activation.delete()
    activation.id = activation_id
    return activation


def _instance_of(principal: Principal, *, instance_id: str, region: str) -> Instance:
    instance = (
        instances_of_account(principal)
        .select_for_update(of=("self",))  # PostgreSQL cannot lock the nullable side of the join
        .filter(pk=instance_id, region=region)
        .select_related("activation")
        .first()
    )
    if instance is None:
        raise NotFound("InvalidInstance.NotFound", f"The specified instance does not exist: {instance_id}.")
    return instance


@transaction.atomic
def instance_modify(*, principal: Principal, instance_id: str, region: str, name: str) -> Instance:
    """Rename a managed instance (2-128 characters, reference 3.6)."""
    authorize(
        principal, "ecs:ModifyManagedInstance", [arn(principal.account_id, region, "instance", instance_id)]
    )
    check_name(name, "InstanceName", maximum=128)
    instance = _instance_of(principal, instance_id=instance_id, region=region)
    instance.name = name
    instance.save(update_fields=["name"])
    return instance


@transaction.atomic
def instance_deregister(*, principal: Principal, instance_id: str, region: str) -> Instance:
    """Forget a managed instance: its secret is blanked (``instance_authenticate`` refuses its agent from
    now on) and it leaves every list, while the row stays so past results keep naming it. Its activation
    counts one more deregistration."""
    authorize(
        principal,
        "ecs:DeregisterManagedInstance",
        [arn(principal.account_id, region, "instance", instance_id)],
    )
    instance = _instance_of(principal, instance_id=instance_id, region=region)
    return _deregister(instance)


@transaction.atomic
def instance_leave(*, instance_id: str, secret: str) -> Instance:
    """The agent deregisters its own instance (uninstall.sh: ``assist-agent deregister``), authenticated by
    its secret: the same as ``instance_deregister``. Unknown instance or wrong secret: 401."""
    instance = instance_authenticate(instance_id=instance_id, secret=secret)
    if instance is None:
        raise ServiceError("AuthFailed", "Unknown instance or wrong secret.", status=401)
    instance = Instance.objects.select_for_update().get(pk=instance.pk)
    return _deregister(instance)


def _deregister(instance: Instance) -> Instance:
    instance.secret_hash = ""
    instance.deregistered_at = timezone.now()
    instance.save(update_fields=["secret_hash", "deregistered_at"])
    if instance.activation_id:
        Activation.objects.filter(pk=instance.activation_id).update(
            deregistered_count=F("deregistered_count") + 1
        )
    from console.invocations.services import results_end_for_released_instance

    results_end_for_released_instance(instance_id=instance.id)
    transaction.on_commit(lambda: events.disconnect_agent(instance.id))
    return instance


def instances_install_agent(*, principal: Principal, region: str, instance_ids: list[str]) -> list[Instance]:
    """InstallCloudAssistant. A managed instance exists only because its agent registered, so the agent
    is already installed: success for registered instances, ``InvalidInstance.NotFound`` otherwise."""
    if not instance_ids:
        raise ServiceError(
            "MissingParameter.InstanceId",
            'The input parameter "InstanceId" that is mandatory for processing this request is not supplied.',
        )
    if len(instance_ids) > 50:
        raise Forbidden("InstanceIds.ExceedLimit", "At most 50 instances can be given.")
    authorize(
        principal,
        "ecs:InstallCloudAssistant",
        [arn(principal.account_id, region, "instance", instance_id) for instance_id in instance_ids],
    )
    return instances_by_ids(principal, region=region, instance_ids=instance_ids)


def settings_arn(principal: Principal, region: str, setting_type: str) -> str:
    return arn(principal.account_id, region, "servicesettings", setting_type)


def assistant_settings_modify(*, principal: Principal, region: str, setting_type: str, config: str) -> None:
    """ModifyCloudAssistantSettings for one SettingType: the JSON is validated, then stored for the
    account (both settings apply to every region, as SessionManagerConfig does in the original)."""
    from console.fleet import assistant_settings as rules
    from console.fleet.models import AssistantSettings

    try:
        setting_type = rules.check_setting_type(setting_type)
        authorize(
            principal, "ecs:ModifyCloudAssistantSettings", [settings_arn(principal, region, setting_type)]
        )
        if setting_type == rules.SESSION_MANAGER:
            values = {"session_manager_enabled": rules.session_manager_config(config)}
        else:
            values = {"agent_upgrade": rules.agent_upgrade_config(config)}
    except rules.SettingError as error:
        raise ServiceError(error.code, error.message) from error
    AssistantSettings.objects.update_or_create(account_id=principal.account_id, defaults=values)
    if setting_type == rules.AGENT_UPGRADE:
        from console.releases.services import ring_account

        ring_account(principal.account_id)
