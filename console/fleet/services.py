import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.errors import Forbidden, NotFound, ServiceError
from console.fleet.models import Activation, Instance
from console.iam.authz import authorize
from console.iam.models import Account
from console.iam.principal import Principal, arn
from console.ids import new_activation_id, new_id

_OS_TYPES = {"linux": "Linux", "windows": "Windows", "freebsd": "FreeBSD"}


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
) -> IssuedActivation:
    region = region or settings.ASSIST_REGION
    activation_id = new_activation_id()
    authorize(principal, "ecs:CreateActivation", [arn(principal.account_id, region, "activation", "*")])
    if not 1 <= instance_count <= 1000:
        raise ServiceError("InvalidParameter.InstanceCount", "InstanceCount must be between 1 and 1000.")
    if not 1 <= time_to_live_hours <= 24 * 365:
        raise ServiceError("InvalidParameter.TimeToLiveInHours", "TimeToLiveInHours must be at least 1.")
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
    activation.save()
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
    return Registration(instance=instance, secret=secret)


def _ip_in_range(ip: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def instance_authenticate(*, instance_id: str, secret: str) -> Instance | None:
    instance = Instance.objects.filter(pk=instance_id).first()
    if instance is None or not hmac.compare_digest(instance.secret_hash, secret_hash(secret)):
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
) -> Instance:
    instance.agent_version = agent_version[:32]
    instance.os_type = _OS_TYPES.get(os_type.lower(), instance.os_type)
    instance.os_name = os_name[:255]
    instance.hostname = hostname[:255]
    instance.ips = [str(ip)[:64] for ip in ips[:32]]
    instance.boot_id = boot_id[:64]
    instance.last_heartbeat_at = timezone.now()
    instance.save(
        update_fields=[
            "agent_version",
            "os_type",
            "os_name",
            "hostname",
            "ips",
            "boot_id",
            "last_heartbeat_at",
        ]
    )
    return instance


def instances_heartbeat(*, instance_ids: set[str]) -> None:
    Instance.objects.filter(pk__in=instance_ids).update(last_heartbeat_at=timezone.now())


def account_by_name(name: str) -> Account:
    account = Account.objects.filter(name=name).first()
    if account is None:
        raise NotFound("InvalidAccount.NotFound", f"No account named {name!r}; run bootstrap first.")
    return account
