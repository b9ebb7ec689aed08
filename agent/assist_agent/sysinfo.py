"""Inventory of this machine, found cheaply with the standard library (no subprocesses)."""

from __future__ import annotations

import os
import socket
import sys


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
    return _read("/proc/sys/kernel/random/boot_id").strip()


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
