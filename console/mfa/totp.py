"""Time-based one-time passwords (RFC 6238) through ``pyotp``: the one place that knows the parameters
(SHA-1, 6 digits, 30 s steps, as every authenticator app expects) and the drift allowed (one step)."""

from __future__ import annotations

import time

import pyotp

DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account_name: str, issuer: str = "Assist") -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=issuer
    )


def code_at(secret: str, when: float) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(when)


def matching_step(secret: str, code: str, *, now: float | None = None, after_step: int = 0) -> int | None:
    """The time step ``code`` belongs to (now, or one step before or after), if it is later than
    ``after_step``; None otherwise. Comparing steps, not codes, stops a code being replayed."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = time.time() if now is None else now
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step > after_step and totp.verify(code, for_time=step * STEP_SECONDS, valid_window=0):
            return step
    return None
