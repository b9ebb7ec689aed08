"""The Cloud Assistant settings rules (console/fleet/assistant_settings.py), one row per rule."""

import json
from datetime import UTC, datetime

import pytest

from console.fleet import assistant_settings as rules


@pytest.mark.parametrize(
    ("text", "expected"),
    [('{"SessionManagerEnabled": true}', True), ('{"SessionManagerEnabled": false}', False)],
)
def test_session_manager_config(text, expected) -> None:
    assert rules.session_manager_config(text) is expected


@pytest.mark.parametrize(
    "text", ["", "[]", "{}", '{"SessionManagerEnabled": "yes"}', '{"SessionManagerEnabled": true, "x": 1}']
)
def test_bad_session_manager_config(text) -> None:
    with pytest.raises(rules.SettingError) as refused:
        rules.session_manager_config(text)
    assert refused.value.code == "InvalidParameter.SessionManagerConfig"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, rules.UPGRADE_DEFAULTS),
        (
            {"Enabled": True, "AllowedUpgradeWindow": ["02:00-03:00"], "TimeZone": "Asia/Shanghai"},
            {**rules.UPGRADE_DEFAULTS, "Enabled": True, "AllowedUpgradeWindow": ["02:00-03:00"],
             "TimeZone": "Asia/Shanghai"},
        ),
        ({"DisableUpgrade": True, "TimeZone": "GMT+8:00"}, {**rules.UPGRADE_DEFAULTS, "DisableUpgrade": True,
                                                            "TimeZone": "GMT+8:00"}),
        ({"AllowedUpgradeWindow": ["23:00-01:00"]}, {**rules.UPGRADE_DEFAULTS,
                                                     "AllowedUpgradeWindow": ["23:00-01:00"]}),
    ],
)  # fmt: skip
def test_agent_upgrade_config(config, expected) -> None:
    assert rules.agent_upgrade_config(json.dumps(config)) == expected


@pytest.mark.parametrize(
    "config",
    [
        {"Enabled": "true"},
        {"Enabled": True},  # windows are required when enabled
        {"AllowedUpgradeWindow": ["2:00-3:00"]},
        {"AllowedUpgradeWindow": ["02:00-02:30"]},  # shorter than an hour
        {"AllowedUpgradeWindow": ["24:00-01:00"]},
        {"AllowedUpgradeWindow": "02:00-03:00"},
        {"TimeZone": "Mars/Olympus"},
        {"TimeZone": "GMT+15:00"},
        {"TimeZone": 8},
        {"Unknown": 1},
    ],
)
def test_bad_agent_upgrade_config(config) -> None:
    with pytest.raises(rules.SettingError) as refused:
        rules.agent_upgrade_config(json.dumps(config))
    assert refused.value.code == "InvalidParameter.AgentUpgradeConfig"


@pytest.mark.parametrize(
    ("kind", "ok"),
    [
        ("SessionManagerConfig", True),
        ("AgentUpgradeConfig", True),
        ("InvocationDelivery", False),
        ("ResourceUsageConfig", False),
        ("agentupgradeconfig", False),
    ],
)
def test_setting_types(kind, ok) -> None:
    if ok:
        assert rules.check_setting_type(kind) == kind
    else:
        with pytest.raises(rules.SettingError):
            rules.check_setting_type(kind)


WINDOWED = {"Enabled": True, "AllowedUpgradeWindow": ["02:00-03:00", "22:00-01:00"], "TimeZone": "GMT+8:00"}


@pytest.mark.parametrize(
    ("config", "utc", "allowed"),
    [
        ({}, "2026-12-02T12:00", True),
        ({"DisableUpgrade": True}, "2026-12-02T12:00", False),
        (WINDOWED, "2026-12-01T18:00", True),  # 02:00 at GMT+8
        (WINDOWED, "2026-12-01T18:59", True),
        (WINDOWED, "2026-12-01T19:00", False),  # 03:00: the window has ended
        (WINDOWED, "2026-12-02T14:30", True),  # 22:30, inside the window across midnight
        (WINDOWED, "2026-12-02T16:59", True),  # 00:59
        (WINDOWED, "2026-12-02T17:00", False),  # 01:00
        (WINDOWED, "2026-12-02T04:00", False),  # noon
        ({**WINDOWED, "DisableUpgrade": True}, "2026-12-01T18:30", False),
        ({"Enabled": True, "AllowedUpgradeWindow": ["02:00-03:00"], "TimeZone": "Europe/Berlin"},
         "2026-07-01T00:30", True),  # summer time: 02:30 in Berlin
        ({"Enabled": True, "AllowedUpgradeWindow": ["02:00-03:00"], "TimeZone": "Europe/Berlin"},
         "2026-01-01T00:30", False),  # winter: 01:30 in Berlin
    ],
)  # fmt: skip
def test_upgrade_windows(config, utc, allowed) -> None:
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert rules.upgrade_allowed(config, now) is allowed
