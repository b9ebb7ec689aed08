from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models


class Account(models.Model):
    """A tenant. Every resource row points at exactly one account."""

    id = models.CharField(primary_key=True, max_length=32)
    name = models.SlugField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(login_name=username)


class User(AbstractBaseUser):
    """A user of one account. Logs in as ``name@account``; ``is_root`` marks the account's root user."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="users")
    name = models.CharField(max_length=64)
    login_name = models.CharField(max_length=140, unique=True)
    is_root = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    USERNAME_FIELD = "login_name"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="user_unique_name_per_account")
        ]

    def __str__(self) -> str:
        return self.login_name


class AccessKey(models.Model):
    """An API key pair. The secret is kept encrypted (HMAC verification needs it back), never in clear."""

    id = models.CharField(primary_key=True, max_length=40)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_keys")
    secret_encrypted = models.TextField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.id
