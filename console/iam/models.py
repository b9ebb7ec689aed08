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
    # RAM's profile of a user (the RAM API's CreateUser/UpdateUser; not used by the console log-in).
    display_name = models.CharField(max_length=128, blank=True)
    comments = models.CharField(max_length=128, blank=True)
    email = models.CharField(max_length=128, blank=True)
    mobile_phone = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    # When the console password (RAM's "login profile") was set; None while the user has none.
    login_profile_created_at = models.DateTimeField(null=True, blank=True)

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


class Policy(models.Model):
    """A RAM policy. System policies have no account, are shipped by a migration and are read-only;
    custom policies belong to one account. ``document`` is the JSON text as written (validated)."""

    SYSTEM = "System"
    CUSTOM = "Custom"
    TYPES = [(SYSTEM, "System"), (CUSTOM, "Custom")]

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="policies"
    )
    name = models.CharField(max_length=128)
    policy_type = models.CharField(max_length=8, choices=TYPES)
    description = models.CharField(max_length=1024, blank=True)
    document = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Policy versions (``PolicyVersion``): ``document`` is always the default version's document (the
    # services keep them in step), so the evaluator reads one column. ``last_version_number`` numbers
    # new versions (RAM never reuses a deleted version's id).
    default_version = models.CharField(max_length=8, default="v1")
    last_version_number = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name"],
                condition=models.Q(account__isnull=False),
                name="policy_unique_name_per_account",
            ),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(account__isnull=True), name="policy_unique_system_name"
            ),
            models.CheckConstraint(
                condition=models.Q(policy_type="System", account__isnull=True)
                | models.Q(policy_type="Custom", account__isnull=False),
                name="policy_system_iff_no_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy_type}:{self.name}"


class PolicyVersion(models.Model):
    """One version of a policy (``v1``, ``v2``, ...; at most 5 kept). The policy's ``default_version``
    names the one that is evaluated; its document is copied into ``Policy.document``."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="versions")
    version_id = models.CharField(max_length=8)
    document = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy", "version_id"], name="policy_version_unique_id")
        ]

    def __str__(self) -> str:
        return f"{self.policy_id}:{self.version_id}"


class Group(models.Model):
    """A RAM user group: its members get its policies on top of their own."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=64)
    comments = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="group_unique_name_per_account")
        ]

    def __str__(self) -> str:
        return self.name


class GroupMembership(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="group_memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="group_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.group_id}"


class Role(models.Model):
    """A RAM role: no password and no keys of its own; trusted principals assume it (STS AssumeRole) and
    get temporary credentials with the role's policies. ``trust_policy`` is the JSON text (validated)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=1024, blank=True)
    trust_policy = models.TextField()
    max_session_duration = models.PositiveIntegerField(default=3600)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="role_unique_name_per_account")
        ]

    def __str__(self) -> str:
        return self.name


class RoleSession(models.Model):
    """Temporary credentials from AssumeRole: an ``STS.`` access key, its secret (encrypted at rest, so
    signatures can be checked) and a security token (only its hash is kept). ``user`` assumed the role
    (through a key of its own or of another session); ``session_policy`` narrows the role's rights."""

    access_key_id = models.CharField(primary_key=True, max_length=64)
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="sessions")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_sessions")
    session_name = models.CharField(max_length=64)
    session_policy = models.TextField(blank=True)
    source_identity = models.CharField(max_length=64, blank=True)
    secret_encrypted = models.TextField()
    token_hash = models.CharField(max_length=64)
    source_ip = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.role_id}/{self.session_name}"


class PolicyAttachment(models.Model):
    """A policy attached to exactly one user, group or role of ``account``. A policy in use cannot be
    deleted (PROTECT); deleting the user, group or role removes its attachments."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="policy_attachments")
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="attachments")
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="policy_attachments"
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="policy_attachments"
    )
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.CASCADE, related_name="policy_attachments"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True, role__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False, role__isnull=True)
                | models.Q(user__isnull=True, group__isnull=True, role__isnull=False),
                name="policy_attachment_one_target",
            ),
            models.UniqueConstraint(
                fields=["policy", "user"],
                condition=models.Q(user__isnull=False),
                name="policy_attachment_unique_user",
            ),
            models.UniqueConstraint(
                fields=["policy", "group"],
                condition=models.Q(group__isnull=False),
                name="policy_attachment_unique_group",
            ),
            models.UniqueConstraint(
                fields=["policy", "role"],
                condition=models.Q(role__isnull=False),
                name="policy_attachment_unique_role",
            ),
        ]

    def __str__(self) -> str:
        kind = "user" if self.user_id else "group" if self.group_id else "role"
        return f"{self.policy_id} -> {kind} {self.user_id or self.group_id or self.role_id}"
