"""Cloud Assistant settings as pure functions (no Django): the JSON of ``SessionManagerConfig`` and
``AgentUpgradeConfig`` (reference §3.4), validated into plain dicts, and whether an upgrade may start at a
given moment.

``AgentUpgradeConfig``: ``Enabled`` (default false: upgrades may start at any time; true: only inside
the ``AllowedUpgradeWindow`` list), ``AllowedUpgradeWindow`` (``"HH:mm-HH:mm"`` items, each at least an
hour long so an agent checking hourly cannot miss it; a window may cross midnight), ``TimeZone`` (an IANA
name or ``GMT±H:MM``, default UTC), ``BootstrapUpgrade`` (default true), ``DisableUpgrade`` (default
false: true stops every upgrade).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SESSION_MANAGER = "SessionManagerConfig"
AGENT_UPGRADE = "AgentUpgradeConfig"
# Settings of the original that need Alibaba Cloud services (OSS, SLS) or agent limits Assist does not
# enforce yet: refused with a clear message instead of being stored and ignored.
UNSUPPORTED = {
    "InvocationDelivery": "delivering output to OSS or SLS needs Alibaba Cloud; Assist keeps output itself",
    "SessionManagerDelivery": "delivering session records to OSS or SLS needs Alibaba Cloud; Assist records "
    "sessions itself",
    "ResourceUsageConfig": "the agent's CPU and memory limits are not configurable from the console yet",
}
UPGRADE_DEFAULTS: dict[str, Any] = {
    "Enabled": False,
    "AllowedUpgradeWindow": [],
    "TimeZone": "UTC",
    "BootstrapUpgrade": True,
    "DisableUpgrade": False,
}
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_GMT = re.compile(r"^GMT([+-])(\d{1,2}):([0-5]\d)$")
MIN_WINDOW = timedelta(hours=1)


class SettingError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_setting_type(value: str) -> str:
    if value in (SESSION_MANAGER, AGENT_UPGRADE):
        return value
    if value in UNSUPPORTED:
        raise SettingError("InvalidParameter.SettingType", f"{value} is not supported: {UNSUPPORTED[value]}.")
    raise SettingError(
        "InvalidParameter.SettingType",
        f"Unknown SettingType {value!r}; use {SESSION_MANAGER} or {AGENT_UPGRADE}.",
    )


def _object(text: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise SettingError(f"InvalidParameter.{name}", f"{name} is not valid JSON: {error}.") from error
    if not isinstance(value, dict):
        raise SettingError(f"InvalidParameter.{name}", f"{name} must be a JSON object.")
    return value


def _bool(config: dict[str, Any], key: str, name: str, default: bool) -> bool:
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise SettingError(f"InvalidParameter.{name}", f"{name}.{key} must be true or false.")
    return value


def session_manager_config(text: str) -> bool:
    """``SessionManagerConfig`` JSON -> whether terminal sessions may be opened."""
    config = _object(text, SESSION_MANAGER)
    unknown = sorted(set(config) - {"SessionManagerEnabled"})
    if unknown or "SessionManagerEnabled" not in config:
        raise SettingError(
            f"InvalidParameter.{SESSION_MANAGER}",
            f'{SESSION_MANAGER} is {{"SessionManagerEnabled": true|false}}.',
        )
    return _bool(config, "SessionManagerEnabled", SESSION_MANAGER, True)


def time_zone(name: str) -> tzinfo:
    offset = _GMT.match(name)
    if offset:
        hours, minutes = int(offset[2]), int(offset[3])
        if hours > 14:
            raise SettingError(f"InvalidParameter.{AGENT_UPGRADE}", f"TimeZone {name!r} is out of range.")
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(delta if offset[1] == "+" else -delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise SettingError(
            f"InvalidParameter.{AGENT_UPGRADE}", f"TimeZone {name!r} is neither an IANA name nor GMT+H:MM."
        ) from error


def _window_minutes(window: str) -> tuple[int, int]:
    match = _WINDOW.match(window) if isinstance(window, str) else None
    if match is None:
        raise SettingError(
            f"InvalidParameter.{AGENT_UPGRADE}", f"AllowedUpgradeWindow item {window!r} is not HH:mm-HH:mm."
        )
    start = int(match[1]) * 60 + int(match[2])
    end = int(match[3]) * 60 + int(match[4])
    length = (end - start) % (24 * 60)
    if length < MIN_WINDOW.total_seconds() // 60:
        raise SettingError(
            f"InvalidParameter.{AGENT_UPGRADE}",
            f"AllowedUpgradeWindow item {window!r} is shorter than an hour.",
        )
    return start, end


def agent_upgrade_config(text: str) -> dict[str, Any]:
    """``AgentUpgradeConfig`` JSON -> the full config with defaults filled in."""
    config = _object(text, AGENT_UPGRADE)
    unknown = sorted(set(config) - set(UPGRADE_DEFAULTS))
    if unknown:
        raise SettingError(f"InvalidParameter.{AGENT_UPGRADE}", f"Unknown field(s): {', '.join(unknown)}.")
    result = dict(UPGRADE_DEFAULTS)
    for key in ("Enabled", "BootstrapUpgrade", "DisableUpgrade"):
        result[key] = _bool(config, key, AGENT_UPGRADE, UPGRADE_DEFAULTS[key])
    windows = config.get("AllowedUpgradeWindow", [])
    if not isinstance(windows, list) or len(windows) > 24:
        raise SettingError(
            f"InvalidParameter.{AGENT_UPGRADE}", "AllowedUpgradeWindow is a list of at most 24 windows."
        )
    for window in windows:
        _window_minutes(window)
    if result["Enabled"] and not windows:
        raise SettingError(
            f"InvalidParameter.{AGENT_UPGRADE}", "Enabled=true needs at least one AllowedUpgradeWindow."
        )
    result["AllowedUpgradeWindow"] = list(windows)
    zone = config.get("TimeZone", "UTC")
    if not isinstance(zone, str):
        raise SettingError(f"InvalidParameter.{AGENT_UPGRADE}", "TimeZone must be a string.")
    time_zone(zone)
    result["TimeZone"] = zone
    return result


def upgrade_allowed(config: dict[str, Any], now: datetime) -> bool:
    """Whether an agent may start upgrading at ``now`` (an aware datetime) under ``config``."""
    full = {**UPGRADE_DEFAULTS, **config}
    if full["DisableUpgrade"]:
        return False
    if not full["Enabled"]:
        return True
    local = now.astimezone(time_zone(full["TimeZone"]))
    minute = local.hour * 60 + local.minute
    for window in full["AllowedUpgradeWindow"]:
        start, end = _window_minutes(window)
        inside = start <= minute < end if start < end else minute >= start or minute < end
        if inside:
            return True
    return False
