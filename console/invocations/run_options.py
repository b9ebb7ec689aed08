"""How and when a run happens: repeat mode, termination mode, container, rate control. Pure checks, no I/O;
each refusal is a ServiceError naming the parameter to fix (reference sections 3.2, 4.2 and 4.11)."""

import math
import re

from console.errors import Forbidden, ServiceError

ONCE = "Once"
PERIOD = "Period"
NEXT_REBOOT_ONLY = "NextRebootOnly"
EVERY_REBOOT = "EveryReboot"
# Checks on each instance that the task could run, running nothing (the agent's dryrun.py).
DRY_RUN = "DryRun"
REPEAT_MODES = (ONCE, PERIOD, NEXT_REBOOT_ONLY, EVERY_REBOOT, DRY_RUN)
# Tasks delivered at once and run (or checked) once per instance.
ONE_SHOT_MODES = frozenset({ONCE, DRY_RUN})
REBOOT_MODES = frozenset({NEXT_REBOOT_ONLY, EVERY_REBOOT})
# Tasks that run more than once on an instance: each run is an execution row of its own.
REPEATING_MODES = frozenset({PERIOD, EVERY_REBOOT})

TERMINATION_MODES = ("Process", "ProcessTree")

# ContainerId: 64 hex digits, optionally with the runtime's prefix (reference section 3.2).
_CONTAINER_ID = re.compile(r"^(?:docker://|containerd://|cri-o://)?[0-9a-f]{64}$")
# ContainerName: what docker and Kubernetes accept as a container name.
_CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_CONTAINER_NAME = 255

_RATE = re.compile(r"^(?P<number>[0-9]+)(?P<percent>%?)$")


def check_repeat_mode(repeat_mode: str, frequency: str) -> str:
    """The task's RepeatMode (section 4.2): a Frequency makes it Period whatever RepeatMode says; Period
    without one is 403 ``MissingParam.Frequency``; absent means Once. Case-insensitive, answered in the
    original's spelling. DryRun checks on each instance that the task could run, without running it."""
    if frequency:
        return PERIOD
    by_lower = {mode.lower(): mode for mode in REPEAT_MODES}
    mode = by_lower.get(repeat_mode.strip().lower() or "once")
    if mode == PERIOD:
        raise Forbidden(
            "MissingParam.Frequency", "RepeatMode=Period needs a Frequency: rate(...), at(...) or cron."
        )
    if mode is None:
        raise ServiceError(
            "InvalidParameter.RepeatMode",
            f"{repeat_mode!r} is not one of Once, Period, NextRebootOnly, EveryReboot, DryRun.",
        )
    return mode


def check_termination_mode(termination_mode: str) -> str:
    """ProcessTree (the default: a timeout or stop leaves no process behind, as SPEC section 3 promises;
    the original's default is unconfirmed) or Process, case-insensitive."""
    if not termination_mode:
        return "ProcessTree"
    by_lower = {mode.lower(): mode for mode in TERMINATION_MODES}
    mode = by_lower.get(termination_mode.strip().lower())
    if mode is None:
        raise ServiceError(
            "InvalidParameter.TerminationMode",
            f"{termination_mode!r} is not a TerminationMode; use Process or ProcessTree.",
        )
    return mode


def check_container(container_id: str, container_name: str, command_type: str) -> tuple[str, str]:
    """ContainerId (64 hex digits, optional ``docker://``, ``containerd://`` or ``cri-o://``) and/or
    ContainerName; shell scripts only (the agent runs them with the container's /bin/sh). When both are
    given the id chooses the container, as the agent looks it up first."""
    container_id = container_id.strip()
    container_name = container_name.strip()
    if container_id and not _CONTAINER_ID.match(container_id):
        raise ServiceError(
            "InvalidParameter.ContainerId",
            f"{container_id!r} is not a container id: give the full 64 hexadecimal digits, optionally "
            "prefixed with docker://, containerd:// or cri-o://.",
        )
    if container_name and (
        len(container_name) > MAX_CONTAINER_NAME or not _CONTAINER_NAME.match(container_name)
    ):
        raise ServiceError(
            "InvalidParameter.ContainerName",
            f"{container_name[:80]!r} is not a container name: at most {MAX_CONTAINER_NAME} letters, digits "
            "and _ . -, starting with a letter or digit.",
        )
    if (container_id or container_name) and command_type != "RunShellScript":
        raise ServiceError(
            "InvalidParameter.ContainerId" if container_id else "InvalidParameter.ContainerName",
            f"Only RunShellScript commands can run in a container; this one is {command_type}.",
        )
    return container_id, container_name


def check_launcher_placement(launcher: str, container_id: str, container_name: str) -> None:
    """A launcher starts a script file on the host; in a container the script is fed to the container's
    sh, so the two cannot go together."""
    if launcher and (container_id or container_name):
        raise ServiceError(
            "InvalidParameter.Launcher",
            "A Launcher cannot be used with ContainerId or ContainerName: in a container the script runs "
            "with the container's /bin/sh.",
        )


def check_rate(value: object, name: str, *, minimum: int) -> str:
    """MaxConcurrency (minimum 1) or MaxErrors (minimum 0): a whole number or a percentage 1-100% of the
    targets, stored as given ("10" or "25%"); "" or None is no limit."""
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    match = _RATE.match(text)
    if match is None:
        raise ServiceError(
            f"InvalidParameter.{name}",
            f"{name} must be a whole number (at least {minimum}) or a percentage from 1% to 100%; got "
            f"{text[:40]!r}.",
        )
    number = int(match["number"])
    if match["percent"]:
        if not 1 <= number <= 100:
            raise ServiceError(
                f"InvalidParameter.{name}", f"{name} as a percentage must be from 1% to 100%; got {text}."
            )
        return f"{number}%"
    if number < minimum or number > 100000:
        raise ServiceError(
            f"InvalidParameter.{name}", f"{name} must be at least {minimum} (or a percentage); got {text}."
        )
    return str(number)


def concurrency_limit(max_concurrency: str, targets: int) -> int | None:
    """How many results of a run may be under way at once; None is no limit. A percentage of the targets
    is rounded up, so it always lets at least one run."""
    if not max_concurrency:
        return None
    if max_concurrency.endswith("%"):
        return max(1, math.ceil(int(max_concurrency[:-1]) * targets / 100))
    return int(max_concurrency)


def errors_allowed(max_errors: str, targets: int) -> int | None:
    """How many failed instances a run tolerates; one more and the instances not yet started end
    Cancelled. None is no limit. A percentage of the targets is rounded down."""
    if not max_errors:
        return None
    if max_errors.endswith("%"):
        return int(max_errors[:-1]) * targets // 100
    return int(max_errors)
