from django.db import models


class UsedNonce(models.Model):
    """A signature nonce already accepted for an access key; a second request with it is a replay.

    Rows older than twice the signature window can no longer be replayed (the timestamp check refuses the
    request first) and are pruned by ``services.nonces_prune``.
    """

    # A plain id, not a foreign key: the row outlives nothing and must not slow down key deletion.
    access_key_id = models.CharField(max_length=64)
    nonce = models.CharField(max_length=128)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["access_key_id", "nonce"], name="used_nonce_unique_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.access_key_id}/{self.nonce}"
