"""Console log-in protection (django-axes) and the password policy for RAM users, through the test
client and the services."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client

from console.audit.models import AuditEvent
from console.errors import ServiceError
from console.iam import services
from console.iam.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "long-enough-pw"


def attempt(client: Client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def test_five_failures_lock_that_user_from_that_address_for_15_minutes(root_principal) -> None:
    attacker = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(4):
        response = attempt(attacker, "admin@acme", "wrong-guess")
        assert response.status_code == 200 and b"do not match" in response.content
    fifth = attempt(attacker, "admin@acme", "wrong-guess")
    assert fifth.status_code == 429
    assert b"locked for 15 minutes" in fifth.content and b"after 5 failures" in fifth.content
    # Now even the right password is refused from there...
    locked = attempt(attacker, "admin@acme", PASSWORD)
    assert locked.status_code == 429 and "_auth_user_id" not in attacker.session
    # ...but the same user from another address, and another user from that address, still log in.
    assert attempt(Client(REMOTE_ADDR="198.51.100.1"), "admin@acme", PASSWORD).status_code == 302
    services.ram_user_create(principal=root_principal, name="alice", password=PASSWORD)
    assert attempt(Client(REMOTE_ADDR="203.0.113.5"), "alice@acme", PASSWORD).status_code == 302
    # Fifteen minutes after the last failure the pair may try again.
    for row in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=row.pk).update(attempt_time=row.attempt_time - timedelta(minutes=16))
    assert attempt(attacker, "admin@acme", PASSWORD).status_code == 302
    codes = list(
        AuditEvent.objects.filter(event_type="ConsoleSignin", source_ip="203.0.113.5")
        .order_by("pk")
        .values_list("error_code", flat=True)
    )
    assert codes == ["InvalidCredentials"] * 4 + ["LoginLocked", "LoginLocked", "", ""]


def test_a_success_resets_the_count(root_principal) -> None:
    client = Client(REMOTE_ADDR="203.0.113.6")
    for _ in range(4):
        attempt(client, "admin@acme", "wrong-guess")
    assert attempt(client, "admin@acme", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert attempt(client, "admin@acme", "wrong-guess").status_code == 200


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Sh0rt!", "at least 8 characters"),
        ("alllowercaseletters", "at least 2 kinds of characters"),
        ("12345678901234", "at least 2 kinds of characters"),
        ("password1", "too common"),
        ("x1" * 65, "at most 128 characters"),
    ],
    ids=["short", "one class (letters)", "one class (digits)", "common", "too long"],
)
def test_password_policy_for_ram_users(root_principal, password, message) -> None:
    with pytest.raises(ServiceError) as refused:
        services.ram_user_create(principal=root_principal, name="bob", password=password)
    assert refused.value.code == "InvalidParameter.Password" and message in refused.value.message
    assert not User.objects.filter(name="bob").exists()


@pytest.mark.parametrize("password", ["long-enough-pw", "Mixed-Case-9", "UPPER and lower"])
def test_good_passwords_are_accepted(root_principal, password) -> None:
    user = services.ram_user_create(principal=root_principal, name="bob", password=password)
    assert user.check_password(password)
