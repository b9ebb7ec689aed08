from django.db import models

from console.iam.models import User


class MfaDevice(models.Model):
    """A user's virtual MFA device (TOTP, RFC 6238): the shared secret, encrypted at rest. Until
    ``confirmed_at`` is set (the user typed a first valid code) it does not guard the log-in.
    ``last_step`` is the last time step accepted, so a code cannot be used twice."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="mfa_device")
    secret_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"MFA of {self.user_id}"
