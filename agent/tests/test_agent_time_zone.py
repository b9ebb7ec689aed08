"""The hello's optional time_zone (a cron Frequency without a zone runs in it) and how the agent finds it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from assist_agent import protocol as p
from assist_agent import sysinfo

HELLO = {
    "type": "hello",
    "instance_id": "i-1",
    "secret": "s",
    "agent_version": "1.0",
    "os_type": "Linux",
    "os_name": "Debian",
    "hostname": "h",
    "ips": [],
    "boot_id": "b",
    "held_tasks": [],
    "protocol": 2,
}


def _hello(time_zone: str) -> p.Hello:
    return p.Hello("i-1", "s", "1.0", "Linux", "Debian", "h", (), "b", (), time_zone=time_zone)


def test_an_older_agents_hello_decodes_without_a_zone() -> None:
    frame = p.decode(json.dumps(HELLO), sender="agent")
    assert isinstance(frame, p.Hello) and frame.time_zone == ""


def test_the_zone_goes_on_the_wire_only_when_known() -> None:
    assert "time_zone" not in json.loads(p.encode(_hello("")))
    wire = json.loads(p.encode(_hello("Asia/Shanghai")))
    assert wire["time_zone"] == "Asia/Shanghai"
    assert p.decode(json.dumps(wire), sender="agent") == _hello("Asia/Shanghai")


@pytest.mark.parametrize("bad", [8, "Asia/Shang hai", "x" * 65, "zone\n"])
def test_a_bad_zone_is_refused(bad: object) -> None:
    with pytest.raises(p.ProtocolError, match="hello.time_zone"):
        p.decode(json.dumps({**HELLO, "time_zone": bad}), sender="agent")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (8 * 3600, "GMT+8:00"),
        (0, "GMT+0:00"),
        (-(3 * 3600 + 1800), "GMT-3:30"),
        (5 * 3600 + 2700, "GMT+5:45"),
    ],
)
def test_an_offset_is_written_as_the_reference_does(seconds: int, expected: str) -> None:
    assert sysinfo._gmt_offset(seconds) == expected


def _zoneinfo(tmp_path: Path, name: str) -> Path:
    target = tmp_path / "usr/share/zoneinfo" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"TZif")
    link = tmp_path / "localtime"
    link.symlink_to(target)
    return link


@pytest.mark.parametrize(
    ("tz", "link", "file", "expected"),
    [
        ("Asia/Shanghai", "Europe/Paris", "America/Lima", "Asia/Shanghai"),  # $TZ first
        (":Asia/Tokyo", "", "", "Asia/Tokyo"),
        ("/usr/share/zoneinfo/Europe/Berlin", "", "", "Europe/Berlin"),
        ("UTC", "Europe/Paris", "", "UTC"),
        ("", "Europe/Paris", "America/Lima", "Europe/Paris"),  # then the /etc/localtime link
        ("", "posix/Asia/Kolkata", "", "Asia/Kolkata"),
        ("", "", "America/Lima", "America/Lima"),  # then /etc/timezone
    ],
)
def test_the_zone_is_found_in_order(tmp_path: Path, tz: str, link: str, file: str, expected: str) -> None:
    localtime = _zoneinfo(tmp_path, link) if link else tmp_path / "missing"
    timezone_file = tmp_path / "timezone"
    timezone_file.write_text(file + "\n")
    environ = {"TZ": tz} if tz else {}
    assert sysinfo.time_zone(environ, str(localtime), str(timezone_file)) == expected


def test_without_a_name_the_current_offset_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", "CST-8")  # a POSIX rule, no zone name: localtime() follows it
    time.tzset()
    try:
        found = sysinfo.time_zone(dict(os.environ), str(tmp_path / "none"), str(tmp_path / "none"))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert found == "GMT+8:00"
