from django.db import models

from console.iam.models import Account


class Tag(models.Model):
    """One key/value label on one resource (a command, a run or file send, an activation or an instance).

    Resources are named by type and id rather than by foreign key, as the API names them: one table serves
    every taggable resource, and a resource's tags are found, filtered and authorized the same way."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tags")
    region = models.CharField(max_length=64)
    resource_type = models.CharField(max_length=32)
    resource_id = models.CharField(max_length=64)
    key = models.CharField(max_length=128)
    value = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "resource_type", "resource_id", "key"], name="tag_key_unique_per_resource"
            )
        ]
        indexes = [
            models.Index(fields=["account", "resource_type", "key", "value"]),
            models.Index(fields=["resource_type", "resource_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.resource_id}: {self.key}={self.value}"
