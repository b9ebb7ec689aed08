"""Inventory of this machine, found cheaply with the standard library (no subprocesses)."""

from __future__ import annotations

import os
import socket
import sys
from typing import Mapping


def hostname() -> str:
    return socket.gethostname()


def os_type() -> str:
    if sys.platform.startswith("win"):
        return "Windows"
    if sys.platform.startswith("freebsd"):
        return "FreeBSD"
    return "Linux"


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def os_name() -> str:
    """PRETTY_NAME from /etc/os-release, else "<sysname> <release>"."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        for line in _read(path).splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "PRETTY_NAME":
                return value.strip().strip("\"'")
    if hasattr(os, "uname"):
        u = os.uname()
        return f"{u.sysname} {u.release}"
    return sys.platform  # pragma: no cover


def boot_id() -> str:
    # $ASSIST_AGENT_BOOT_ID stands in for a reboot in tests (a new value is a new boot to the console).
    return os.environ.get("ASSIST_AGENT_BOOT_ID") or _read("/proc/sys/kernel/random/boot_id").strip()


def machine_id() -> str:
    return _read("/etc/machine-id").strip() or _read("/var/lib/dbus/machine-id").strip()


def _usable(address: str) -> bool:
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified or ip.is_multicast or ip.is_link_local)


def _route_source(family: socket.AddressFamily, target: str) -> str | None:
    """The source address the kernel would use towards ``target`` (UDP connect sends nothing)."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((target, 9))
            return str(s.getsockname()[0])
    except OSError:
        return None


def _proc_ipv4() -> list[str]:
    """Local IPv4 addresses from /proc/net/fib_trie (Linux)."""
    found: list[str] = []
    last = ""
    for line in _read("/proc/net/fib_trie").splitlines():
        text = line.strip()
        if text.startswith("|--"):
            last = text[3:].strip()
        elif text.endswith("host LOCAL") and last:
            found.append(last)
    return found


def _proc_ipv6() -> list[str]:
    """Global IPv6 addresses from /proc/net/if_inet6 (Linux)."""
    found: list[str] = []
    for line in _read("/proc/net/if_inet6").splitlines():
        parts = line.split()
        if len(parts) >= 4 and len(parts[0]) == 32 and parts[3] == "00":  # scope 00 = global
            h = parts[0]
            found.append(":".join(h[i : i + 4] for i in range(0, 32, 4)))
    return found


def ips() -> list[str]:
    """Non-loopback, non-link-local IPv4 then IPv6 addresses, primary (default-route) first."""
    import ipaddress

    candidates: list[str] = []
    for family, target in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        source = _route_source(family, target)
        if source:
            candidates.append(source)
    candidates += _proc_ipv4() + _proc_ipv6()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, proto=socket.IPPROTO_TCP):
            candidates.append(str(info[4][0]))
    except OSError:
        pass
    seen: set[str] = set()
    v4: list[str] = []
    v6: list[str] = []
    for address in candidates:
        if not _usable(address):
            continue
        canonical = str(ipaddress.ip_address(address.split("%", 1)[0]))
        if canonical in seen:
            continue
        seen.add(canonical)
        (v6 if ":" in canonical else v4).append(canonical)
    return v4 + v6


def _zone_from_path(path: str) -> str:
    """``.../zoneinfo/Asia/Shanghai`` (or ``.../zoneinfo/posix/Asia/Shanghai``) -> ``Asia/Shanghai``."""
    marker = "/zoneinfo/"
    if marker not in path:
        return ""
    name = path.split(marker, 1)[1]
    for prefix in ("posix/", "right/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def _usable_zone(name: str) -> bool:
    """A name the console takes as a Frequency zone: an IANA name (with a ``/``), UTC or GMT."""
    return bool(name) and ("/" in name or name in ("UTC", "GMT")) and " " not in name and len(name) <= 64


def _gmt_offset(seconds: int) -> str:
    """The reference's zone form for a UTC offset: ``GMT+8:00``, ``GMT-3:30`` (no leading zero)."""
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"GMT{sign}{minutes // 60}:{minutes % 60:02d}"


def time_zone(
    environ: Mapping[str, str] | None = None,
    localtime: str = "/etc/localtime",
    timezone_file: str = "/etc/timezone",
) -> str:
    """This machine's time zone, reported in the hello: a cron Frequency without a zone runs in it.

    $TZ when it names a zone (``Asia/Shanghai``, ``:Asia/Shanghai``, a zoneinfo path, ``UTC``), else the
    IANA name the /etc/localtime symlink points at, else /etc/timezone (Debian), else the current UTC
    offset as ``GMT+H:MM``. The offset is the last resort because it ignores daylight saving changes.
    """
    env = os.environ if environ is None else environ
    configured = env.get("TZ", "").strip().lstrip(":")
    if configured:
        name = _zone_from_path(configured) if configured.startswith("/") else configured
        if _usable_zone(name):
            return name
    if not configured and os.path.islink(localtime):
        name = _zone_from_path(os.path.realpath(localtime))
        if _usable_zone(name):
            return name
    name = "" if configured else _read(timezone_file).strip()
    if _usable_zone(name):
        return name
    import time

    # $TZ set to a POSIX rule (e.g. CST-8) lands here at once: localtime() follows it, not /etc/localtime.
    return _gmt_offset(time.localtime().tm_gmtoff)
