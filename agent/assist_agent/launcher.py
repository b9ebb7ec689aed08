"""A task's Launcher: the command line that starts the script instead of the type's default shell.

``{{ACS::ScriptFileName}}`` stands for the path of the script file the agent writes; with
``{{ACS::ScriptFileName|Ext(.py)}}`` the file gets that extension (some interpreters insist on one). A
launcher without the placeholder gets the quoted path appended as its last argument. The console checks a
launcher with ``parse`` when it is saved or run (the same rules, so a launcher the API accepted never fails
here); the agent substitutes the path and runs the line through the platform's shell.

Pure functions, no I/O; Python 3.8 syntax (the agent runs on old systems).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from .protocol import MAX_LAUNCHER_BYTES

SCRIPT_FILE_NAME = "ACS::ScriptFileName"
WINDOWS = "Windows"

# Any {{ ... }} naming an ACS:: built-in; what is inside is checked by _placeholder.
_ACS_BRACES = re.compile(r"\{\{\s*(ACS::[^{}]*?)\s*\}\}", re.IGNORECASE)
# ACS::ScriptFileName, optionally |Func(argument); spaces around the pieces are allowed.
_PLACEHOLDER = re.compile(
    r"^ACS::ScriptFileName\s*(?:\|\s*(?P<func>[A-Za-z_]\w*)\s*\(\s*(?P<arg>[^()]*?)\s*\)\s*)?$",
    re.IGNORECASE,
)
# An extension: a dot, then 1-16 letters, digits, _ or -, starting with a letter or digit (.py, .ps1, .R).
_EXTENSION = re.compile(r"^\.[A-Za-z0-9][A-Za-z0-9_-]{0,15}$")


class LauncherError(ValueError):
    """The launcher cannot be used; the message says why, in words a user can act on."""


@dataclass(frozen=True)
class Launcher:
    text: str  # as given, stripped of surrounding spaces
    extension: str  # "" for the type's default file name
    has_placeholder: bool


def parse(text: str) -> Launcher | None:
    """The checked launcher, None for none ("" or only spaces); ``LauncherError`` when it is too long
    (over 1 KB of UTF-8), holds a NUL or a line break, or has a malformed ``{{ACS::...}}`` placeholder:
    an unknown name, an unknown ``|Func(...)``, a bad extension, or two different extensions."""
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > MAX_LAUNCHER_BYTES:
        raise LauncherError(f"the Launcher is {size} bytes; at most {MAX_LAUNCHER_BYTES} bytes are allowed")
    stripped = text.strip()
    if not stripped:
        return None
    if "\x00" in stripped or "\n" in stripped or "\r" in stripped:
        raise LauncherError("the Launcher must be one line, without NUL characters")
    extensions = set()
    found = False
    for match in _ACS_BRACES.finditer(stripped):
        extensions.add(_placeholder(match.group(1)))
        found = True
    if len(extensions) > 1:
        raise LauncherError(
            "the Launcher names the script file with different extensions: "
            + ", ".join(repr(e or "(none)") for e in sorted(extensions))
        )
    extension = extensions.pop() if extensions else ""
    return Launcher(text=stripped, extension=extension, has_placeholder=found)


def _placeholder(inner: str) -> str:
    """The extension one ``{{...}}`` asks for ("" for none), or ``LauncherError``."""
    match = _PLACEHOLDER.match(inner)
    if match is None:
        raise LauncherError(
            f"unknown placeholder {{{{{inner}}}}}: a Launcher knows only {{{{ACS::ScriptFileName}}}} and "
            "{{ACS::ScriptFileName|Ext(.ext)}}"
        )
    func = match.group("func")
    if func is None:
        return ""
    if func.lower() != "ext":
        raise LauncherError(
            f"unknown function |{func}(...) in {{{{{inner}}}}}: only |Ext(.ext) is known, e.g. "
            "{{ACS::ScriptFileName|Ext(.py)}}"
        )
    extension = match.group("arg")
    if not _EXTENSION.match(extension):
        raise LauncherError(
            f"bad extension {extension!r} in {{{{{inner}}}}}: give a dot and 1-16 letters, digits, _ or -, "
            "e.g. Ext(.py)"
        )
    return extension


def script_file_name(default_name: str, launcher: Launcher | None) -> str:
    """The script file's name: the type's default (script.sh, ...) or, with an extension, script + it."""
    if launcher is None or not launcher.extension:
        return default_name
    return "script" + launcher.extension


def quote_path(path: str, os_type: str) -> str:
    """``path`` as one word of the platform shell's command line."""
    if os_type == WINDOWS:
        return '"' + path + '"'  # a Windows path holds no double quote
    return shlex.quote(path)


def command_line(launcher: Launcher, script_path: str, os_type: str) -> str:
    """The launcher with every placeholder replaced by the quoted script path, or the quoted path
    appended as the last argument when it has no placeholder."""
    quoted = quote_path(script_path, os_type)
    if not launcher.has_placeholder:
        return launcher.text + " " + quoted
    return _ACS_BRACES.sub(lambda _match: quoted, launcher.text)


def shell_argv(line: str, os_type: str) -> list[str]:
    """The argv that runs ``line`` through the platform's shell. On Windows it is one string, the whole
    command line: Popen passes a string as is, whereas it would quote the items of a list the C runtime's
    way (``\"``), which cmd does not read; ``/s`` makes cmd drop exactly the outer quotes and run the rest
    as written."""
    if os_type == WINDOWS:
        return [f'cmd /d /s /c "{line}"']
    return ["/bin/sh", "-c", line]


def program(launcher: Launcher, os_type: str) -> str:
    """The launcher's first word (the program it starts), unquoted; "" when it has none (e.g. an unclosed
    quote: the shell will say what is wrong)."""
    text = launcher.text
    if os_type == WINDOWS:
        if text.startswith('"'):
            end = text.find('"', 1)
            return text[1:end] if end > 0 else ""
        return text.split()[0]
    try:
        words = shlex.split(text)
    except ValueError:
        return ""
    return words[0] if words else ""
