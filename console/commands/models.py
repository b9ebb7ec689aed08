from django.db import models
from django.utils import timezone

from console.iam.models import Account

COMMAND_TYPES = ("RunShellScript", "RunPowerShellScript", "RunBatScript")


class Command(models.Model):
    """A saved script of an account (kept by RunCommand with KeepCommand, or created directly)."""

    id = models.CharField(primary_key=True, max_length=40)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="commands")
    region = models.CharField(max_length=64)
    name = models.CharField(max_length=128)
    description = models.CharField(max_length=512, blank=True)
    type = models.CharField(max_length=32, choices=[(t, t) for t in COMMAND_TYPES])
    content = models.TextField()
    working_dir = models.CharField(max_length=200, blank=True)
    timeout = models.PositiveIntegerField(default=60)
    enable_parameter = models.BooleanField(default=False)
    # The command line that starts the script instead of the type's shell ("" for the shell); checked by
    # assist_agent.launcher.parse, at most 1 KB of UTF-8.
    launcher = models.CharField(max_length=1024, blank=True, default="")
    # Versions: a clone joins the family of its source (the first command's id) with the next number.
    family_id = models.CharField(max_length=40, blank=True, db_index=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "region"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"
