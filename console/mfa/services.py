"""Virtual MFA devices: enrolment (secret, then a first code confirms it), verification at log-in, and
removal. Console log-ins of a user with a confirmed device need a code; a verified session sets
``acs:MFAPresent`` for that session's requests (console only, as in RAM)."""

import io

import segno
from django.db import transaction
from django.utils import timezone

from console.errors import ServiceError
from console.iam import crypto
from console.iam.models import User
from console.mfa import totp
from console.mfa.models import MfaDevice

SESSION_KEY = "assist_mfa_verified"
REQUIRED_KEY = "assist_mfa_required"


def device_of(user: User) -> MfaDevice | None:
    return MfaDevice.objects.filter(user=user).first()


def requires_mfa(user: User) -> bool:
    return MfaDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def session_verified(session) -> bool:
    return bool(session.get(SESSION_KEY, False))


def session_requires_mfa(session, user: User) -> bool:
    """Whether this log-in needs the code: decided when the session logs in (``mark_login``) and kept in
    it, so pages cost no query. A device set up later guards the next log-ins."""
    required = session.get(REQUIRED_KEY)
    if required is None:
        required = session[REQUIRED_KEY] = requires_mfa(user)
    return bool(required)


def mark_login(session, user: User) -> None:
    session[REQUIRED_KEY] = requires_mfa(user)
    session.pop(SESSION_KEY, None)


@transaction.atomic
def enrolment_start(*, user: User) -> str:
    """A fresh secret for an unconfirmed device (replacing an earlier unconfirmed one). A confirmed
    device must be removed first."""
    device = MfaDevice.objects.select_for_update().filter(user=user).first()
    if device is not None and device.confirmed_at is not None:
        raise ServiceError("EntityAlreadyExists.User.MFADevice", "Remove the current MFA device first.", 409)
    secret = totp.new_secret()
    MfaDevice.objects.update_or_create(
        user=user, defaults={"secret_encrypted": crypto.encrypt(secret), "confirmed_at": None, "last_step": 0}
    )
    return secret


def secret_of(device: MfaDevice) -> str:
    return crypto.decrypt(device.secret_encrypted)


def qr_svg(user: User, secret: str) -> str:
    """The ``otpauth://`` URI as an SVG QR code for authenticator apps."""
    buffer = io.BytesIO()
    segno.make(totp.provisioning_uri(secret, account_name=user.login_name), error="m").save(
        buffer, kind="svg", scale=5, xmldecl=False, svgns=True, title="MFA QR code"
    )
    return buffer.getvalue().decode()


@transaction.atomic
def code_check(*, user: User, code: str, now: float | None = None) -> bool:
    """Whether ``code`` is the user's current code (not used before). Confirms an unconfirmed device."""
    device = MfaDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        return False
    step = totp.matching_step(secret_of(device), code, now=now, after_step=device.last_step)
    if step is None:
        return False
    device.last_step = step
    if device.confirmed_at is None:
        device.confirmed_at = timezone.now()
    device.save(update_fields=["last_step", "confirmed_at"])
    return True


@transaction.atomic
def device_remove(*, user: User, code: str, now: float | None = None) -> None:
    """Removing the device needs a current code (someone who only has the password cannot)."""
    if not code_check(user=user, code=code, now=now):
        raise ServiceError("InvalidAuthenticationCode", "That code is not valid: type the current code.")
    MfaDevice.objects.filter(user=user).delete()
