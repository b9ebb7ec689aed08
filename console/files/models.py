from django.conf import settings
from django.db import models
from django.utils import timezone

from console.files import status as st
from console.fleet.models import Instance
from console.iam.models import Account


class FileTransfer(models.Model):
    """One SendFile request (``f-...``): a file stored once on the server, sent to a set of instances."""

    id = models.CharField(primary_key=True, max_length=40)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="file_transfers")
    region = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    target_dir = models.CharField(max_length=255)
    owner = models.CharField(max_length=64, default="root")
    group = models.CharField(max_length=64, default="root")
    mode = models.CharField(max_length=4, default="0644")
    overwrite = models.BooleanField(default=False)
    description = models.CharField(max_length=512, blank=True)
    timeout = models.PositiveIntegerField(default=60)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    # How SendFile's Content was given (PlainText/Base64); uploads through the console say Base64.
    content_type = models.CharField(max_length=16, default="PlainText")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.id


class FileTransferResult(models.Model):
    """The state of one transfer on one instance. Its id is the task id the agent sees."""

    id = models.CharField(primary_key=True, max_length=40)
    transfer = models.ForeignKey(FileTransfer, on_delete=models.CASCADE, related_name="results")
    # No database constraint: results outlive a deregistered instance and keep its id.
    instance = models.ForeignKey(Instance, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    status = models.CharField(max_length=16, default=st.PENDING, db_index=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_info = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["transfer_id", "instance_id"]
        indexes = [models.Index(fields=["instance", "status"])]
        constraints = [
            models.UniqueConstraint(fields=["transfer", "instance"], name="file_result_unique_per_instance")
        ]

    def __str__(self) -> str:
        return f"{self.transfer_id}/{self.instance_id}: {self.status}"
