from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from console.iam.models import Account


class Activation(models.Model):
    """A code that lets up to ``instance_count`` agents register before ``expires_at``."""

    id = models.CharField(primary_key=True, max_length=40)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="activations")
    region = models.CharField(max_length=64)
    code_hash = models.CharField(max_length=64)
    description = models.CharField(max_length=100, blank=True)
    instance_name = models.CharField(max_length=50, blank=True)
    instance_count = models.PositiveIntegerField(default=10)
    registered_count = models.PositiveIntegerField(default=0)
    deregistered_count = models.PositiveIntegerField(default=0)
    ip_address_range = models.CharField(max_length=64, blank=True)
    time_to_live_hours = models.PositiveIntegerField(default=4)
    disabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.id


class Instance(models.Model):
    """A machine whose agent registered. Online while heartbeats arrive (see ``is_online``)."""

    id = models.CharField(primary_key=True, max_length=40)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="instances")
    region = models.CharField(max_length=64)
    activation = models.ForeignKey(Activation, null=True, blank=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=128)
    hostname = models.CharField(max_length=255, blank=True)
    os_type = models.CharField(max_length=16, default="Linux")
    os_name = models.CharField(max_length=255, blank=True)
    machine_id = models.CharField(max_length=64, blank=True)
    ips = models.JSONField(default=list, blank=True)
    agent_version = models.CharField(max_length=32, blank=True)
    boot_id = models.CharField(max_length=64, blank=True)
    # The machine's time zone from the agent's hello (an IANA name, UTC or GMT+H:MM; "" until an agent that
    # reports it says hello). A cron Frequency without a zone runs in it, UTC when unknown.
    time_zone = models.CharField(max_length=64, blank=True)
    secret_hash = models.CharField(max_length=64)
    registered_at = models.DateTimeField(default=timezone.now)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set by DeregisterManagedInstance: the row stays (past results keep naming it) but its secret is
    # blanked, so the agent is refused, and every selector leaves it out.
    deregistered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["account", "region"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def is_online(self) -> bool:
        if self.last_heartbeat_at is None:
            return False
        return timezone.now() - self.last_heartbeat_at < timedelta(seconds=settings.ASSIST_OFFLINE_AFTER)


class AssistantSettings(models.Model):
    """An account's Cloud Assistant settings (Describe/ModifyCloudAssistantSettings): whether terminal
    sessions may be opened, and when agents may upgrade (``AgentUpgradeConfig`` as given, validated)."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, primary_key=True, related_name="+")
    session_manager_enabled = models.BooleanField(default=True)
    agent_upgrade = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"settings of {self.account_id}"


class InstanceConnectionEvent(models.Model):
    """One change of an agent's connection (heartbeat history on the instance page): it connected (with
    its agent version and boot id), disconnected, or its heartbeats stopped for a while on an open
    connection. Rare events only; heartbeats themselves are counted per hour (InstanceHeartbeatHour).
    Bounded per instance by ``services.instance_connection_record``."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    HEARTBEAT_GAP = "heartbeat_gap"
    KINDS = [(CONNECTED, "Connected"), (DISCONNECTED, "Disconnected"), (HEARTBEAT_GAP, "Heartbeat gap")]

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="connection_events")
    kind = models.CharField(max_length=16, choices=KINDS)
    at = models.DateTimeField(default=timezone.now)
    agent_version = models.CharField(max_length=32, blank=True)
    boot_id = models.CharField(max_length=64, blank=True)
    gap_seconds = models.PositiveIntegerField(null=True, blank=True)  # heartbeat_gap: time without a beat

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["instance", "at"])]

    def __str__(self) -> str:
        return f"{self.instance_id} {self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"


class InstanceHeartbeatHour(models.Model):
    """How many heartbeats an instance sent in one clock hour (UTC): one row per instance and hour, not
    one per beat (10,000 agents beat every 30 s). Rows older than two days are pruned."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="heartbeat_hours")
    hour = models.DateTimeField()  # the start of the hour
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["hour"]
        constraints = [models.UniqueConstraint(fields=["instance", "hour"], name="fleet_heartbeat_hour_once")]

    def __str__(self) -> str:
        return f"{self.instance_id} {self.hour:%Y-%m-%d %H}:00 {self.count}"
