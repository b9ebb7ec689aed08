"""The audit trail: one row per recorded event, shaped like an ActionTrail event (reference §5.4).

Rows are append-only: ``save`` refuses to update an existing row and neither a row nor a queryset can be
deleted through the ORM. Identities are copied as plain values, not foreign keys, so deleting a user, key
or policy never deletes or rewrites the events that name it.
"""

import uuid
from typing import Any

from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """An attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit events cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit events cannot be deleted.")


class AuditEvent(models.Model):
    SOURCES = [("console", "console"), ("api", "api"), ("websocket", "websocket"), ("cli", "cli")]
    TYPES = [
        ("ApiCall", "ApiCall"),
        ("ConsoleCall", "ConsoleCall"),
        ("ConsoleSignin", "ConsoleSignin"),
        ("AccessDenied", "AccessDenied"),
    ]

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_time = models.DateTimeField(default=timezone.now)
    event_name = models.CharField(max_length=128)
    event_type = models.CharField(max_length=16, choices=TYPES)
    event_rw = models.CharField(max_length=8, choices=[("Read", "Read"), ("Write", "Write")])
    source = models.CharField(max_length=16, choices=SOURCES)
    account_id = models.CharField(max_length=32)
    identity_type = models.CharField(max_length=32, blank=True)  # root-account | ram-user | "" (unknown)
    principal_id = models.CharField(max_length=32, blank=True)
    user_name = models.CharField(max_length=140, blank=True)
    access_key_id = models.CharField(max_length=64, blank=True)
    source_ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    request_parameters = models.JSONField(default=dict, blank=True)
    resources = models.JSONField(default=list, blank=True)
    success = models.BooleanField()
    allowed = models.BooleanField(default=True)  # False: a permission check refused the request
    error_code = models.CharField(max_length=128, blank=True)
    error_message = models.CharField(max_length=1024, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    additional = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["account_id", "-event_time"], name="audit_account_time"),
            models.Index(fields=["account_id", "event_name"], name="audit_account_event"),
            models.Index(fields=["account_id", "user_name"], name="audit_account_user"),
        ]

    def __str__(self) -> str:
        return f"{self.event_time:%Y-%m-%dT%H:%M:%SZ} {self.event_name} {self.user_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit events cannot be deleted.")

    @property
    def result(self) -> str:
        if not self.allowed:
            return "denied"
        return "success" if self.success else "error"
