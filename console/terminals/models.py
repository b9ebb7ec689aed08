from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from console.fleet.models import Instance
from console.iam.models import Account, User
from console.terminals import status as st


class TerminalSession(models.Model):
    """One interactive shell on one instance (the original's Session Manager session and its single
    connection). The security token is kept as a SHA-256 hash and works for one websocket connection."""

    id = models.CharField(primary_key=True, max_length=40)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="terminal_sessions")
    region = models.CharField(max_length=64)
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="terminal_sessions")
    user = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="terminal_sessions")
    # Opened with STS credentials: the role session whose policies (not the user's) admit the websocket.
    role_session = models.ForeignKey(
        "iam.RoleSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="terminal_sessions"
    )
    principal_name = models.CharField(max_length=140)  # the user's name when the session was opened
    identity_type = models.CharField(max_length=16)  # Account | RAMUser | AssumedRoleUser (reference §3.5)
    via = models.CharField(max_length=16, default="console")  # console | api
    client_ip = models.CharField(max_length=64, blank=True)
    username = models.CharField(max_length=64)
    command_line = models.CharField(max_length=512, blank=True)
    status = models.CharField(max_length=16, default=st.CONNECTING)
    closed_reason = models.CharField(max_length=64, blank=True)
    failed_detail = models.CharField(max_length=512, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    token_hash = models.CharField(max_length=64)
    token_used_at = models.DateTimeField(null=True, blank=True)
    recording_bytes = models.BigIntegerField(default=0)
    recording_truncated = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "region", "created_at"])]

    def __str__(self) -> str:
        return self.id

    @property
    def is_final(self) -> bool:
        return st.is_final(self.status)

    @property
    def recording_path(self) -> Path:
        return Path(settings.DATA_DIR) / "recordings" / self.account_id / f"{self.id}.cast"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())
