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


class ClientTokenUse(models.Model):
    """The first answer to a request that carried a ``ClientToken``: a retry with the same token and the
    same parameters gets this answer again instead of running the operation twice.

    ``response`` is null while the first request is still running. Failed requests leave no row (a retry
    after an error runs again). Rows older than ``ASSIST_CLIENT_TOKEN_TTL`` are pruned.
    """

    account_id = models.CharField(max_length=64)
    action = models.CharField(max_length=128)
    token = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "action", "token"], name="client_token_unique_per_account_action"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.action}/{self.token}"
