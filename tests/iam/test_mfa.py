"""Virtual MFA (TOTP): the code rules, enrolment, the log-in's second step on every page, removal, and
``acs:MFAPresent`` in policy conditions for console sessions that passed it."""

import base64
import time

import pyotp
import pytest
from django.test import Client

from console.iam.models import User
from console.mfa import services, totp
from console.mfa.models import MfaDevice
from tests.conftest import make_instance
from tests.iam.conftest import ram_principal

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_800_000_000.0  # a fixed moment: step 60_000_000


def code(offset_steps: int = 0, now: float = NOW) -> str:
    return pyotp.TOTP(SECRET).at(now + offset_steps * 30)


@pytest.mark.parametrize(
    ("typed", "after_step", "expected"),
    [
        (code(0), 0, 60_000_000),
        (code(-1), 0, 59_999_999),  # the authenticator's clock a step behind
        (code(1), 0, 60_000_001),  # or ahead
        (code(-2), 0, None),
        (code(2), 0, None),
        (code(0), 60_000_000, None),  # already used
        (code(1), 60_000_000, 60_000_001),
        (" ".join([code(0)[:3], code(0)[3:]]), 0, 60_000_000),  # "123 456" as apps show it
        ("12345", 0, None),
        ("abcdef", 0, None),
        ("", 0, None),
    ],
)
def test_codes(typed, after_step, expected) -> None:
    assert totp.matching_step(SECRET, typed, now=NOW, after_step=after_step) == expected


def test_codes_match_the_reference_vectors() -> None:
    # RFC 6238 appendix B (SHA-1): 94287082 at T=59 with 8 digits, so 287082 with 6.
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp.code_at(secret, 59) == "287082"


def log_in(client: Client, login_name: str) -> None:
    response = client.post("/login/", {"username": login_name, "password": "long-enough-pw"})
    assert response.status_code == 302, response.content[:300]


def enrol(client: Client, user: User) -> str:
    assert client.post("/account/mfa/", {"action": "start"}).status_code == 200
    secret = services.secret_of(MfaDevice.objects.get(user=user))
    page = client.get("/account/mfa/").content.decode()
    assert secret in page and "<svg" in page
    confirmed = client.post("/account/mfa/", {"action": "confirm", "code": totp.code_at(secret, time.time())})
    assert confirmed.status_code == 200 and "MFA is on" in confirmed.content.decode()
    return secret


@pytest.mark.django_db
def test_log_in_asks_for_the_code_on_every_page_until_it_is_typed(client, root_principal) -> None:
    user = User.objects.get(pk=root_principal.user_id)
    log_in(client, user.login_name)
    secret = enrol(client, user)
    client.post("/logout/")

    log_in(client, user.login_name)
    for page in ("/instances/", "/invocations/", "/iam/", "/account/mfa/"):
        answer = client.get(page)
        assert answer.status_code == 302 and answer["Location"].startswith("/login/mfa/"), page
    wrong = client.post("/login/mfa/", {"code": "000000", "next": "/instances/"})
    assert wrong.status_code == 400
    replayed = client.post("/login/mfa/", {"code": totp.code_at(secret, time.time()), "next": "/instances/"})
    assert replayed.status_code == 400  # the enrolment already used this step's code
    fresh = client.post(
        "/login/mfa/", {"code": totp.code_at(secret, time.time() + 30), "next": "/instances/"}
    )
    assert fresh.status_code == 302 and fresh["Location"] == "/instances/"
    assert client.get("/instances/").status_code == 200


@pytest.mark.django_db
def test_the_code_step_does_not_redirect_off_site(client, root_principal) -> None:
    user = User.objects.get(pk=root_principal.user_id)
    log_in(client, user.login_name)
    secret = enrol(client, user)
    client.post("/logout/")
    log_in(client, user.login_name)
    answer = client.post(
        "/login/mfa/", {"code": totp.code_at(secret, time.time() + 30), "next": "https://evil.example/"}
    )
    assert answer.status_code == 302 and answer["Location"] == "/"


@pytest.mark.django_db
def test_removing_the_device_needs_a_current_code(client, root_principal) -> None:
    user = User.objects.get(pk=root_principal.user_id)
    log_in(client, user.login_name)
    secret = enrol(client, user)
    refused = client.post("/account/mfa/", {"action": "remove", "code": "123456"})
    assert refused.status_code == 400
    assert services.requires_mfa(user)
    removed = client.post(
        "/account/mfa/", {"action": "remove", "code": totp.code_at(secret, time.time() + 30)}
    )
    assert removed.status_code == 200 and not MfaDevice.objects.exists()
    client.post("/logout/")
    log_in(client, user.login_name)
    assert client.get("/instances/").status_code == 200  # no second step any more


@pytest.mark.django_db
def test_a_policy_on_mfa_present_holds_only_after_the_code(client, root_principal) -> None:
    make_instance(root_principal, "mfa-guarded-host")
    only_with_mfa = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ecs:DescribeManagedInstances",
                "Resource": "*",
                "Condition": {"Bool": {"acs:MFAPresent": "true"}},
            }
        ],
    }
    principal = ram_principal(root_principal, "mfa-user", documents=(only_with_mfa,))
    user = User.objects.get(pk=principal.user_id)
    log_in(client, user.login_name)
    assert "mfa-guarded-host" not in client.get("/instances/").content.decode()
    enrol(client, user)  # confirming the device verifies this session too
    assert "mfa-guarded-host" in client.get("/instances/").content.decode()
    client.post("/logout/")
    log_in(client, user.login_name)
    assert client.get("/instances/").status_code == 302
