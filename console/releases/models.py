"""Agent versions the console holds, the version each account targets, and each instance's update state."""

from django.db import models
from django.utils import timezone

from console.fleet.models import Instance
from console.iam.models import Account


class AgentRelease(models.Model):
    """One agent version: a zipapp stored under ``DATA_DIR/agent-releases/``, signed by the console's
    release key (``console.releases.signing``). Releases are console-wide; accounts choose among them."""

    version = models.CharField(max_length=32, unique=True)
    file_name = models.CharField(max_length=128)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    signature = models.CharField(max_length=88)  # Base64 of the 64-byte Ed25519 signature
    notes = models.TextField(blank=True)
    # The build of the agent sources the console runs with (registered automatically, refreshed when the
    # sources change under the same version string); published releases are never replaced.
    builtin = models.BooleanField(default=False)
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at"]

    def __str__(self) -> str:
        return self.version


class AccountTarget(models.Model):
    """The version every instance of the account should run (unless pinned)."""

    account = models.OneToOneField(Account, primary_key=True, on_delete=models.CASCADE, related_name="+")
    release = models.ForeignKey(AgentRelease, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.CharField(max_length=128, blank=True)

    def __str__(self) -> str:
        return f"{self.account_id} -> {self.release_id}"


class InstanceUpdate(models.Model):
    """Per instance: an optional pin, the last update state its agent reported, and the versions that
    failed to come online there (rolled back; never offered to it again)."""

    instance = models.OneToOneField(Instance, primary_key=True, on_delete=models.CASCADE, related_name="+")
    pinned_release = models.ForeignKey(
        AgentRelease, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=16, blank=True)
    version = models.CharField(max_length=32, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    rejected_versions = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"{self.instance_id}: {self.state} {self.version}"

    @property
    def state_label(self) -> str:
        return self.state.replace("_", " ")
