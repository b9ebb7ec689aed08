"""Checks on SendFile input: pure functions (no I/O, no database), each raising the original's error code
(reference sections 1, 3.3 and 4.9). The agent checks names, paths, modes and owners again itself."""

import base64
import binascii
import posixpath
import re
from dataclasses import dataclass

from console.errors import Forbidden, ServiceError

MAX_NAME = 255
MAX_TARGET_DIR = 255
MAX_OWNER = 64
MAX_DESCRIPTION = 512
API_MAX_CONTENT_B64 = 32 * 1024
MAX_INSTANCES = 50
DEFAULT_TIMEOUT = 60
MIN_TIMEOUT = 10
MAX_TIMEOUT = 86400
CONTENT_TYPES = ("PlainText", "Base64")
DEFAULT_MODE = "0644"
DEFAULT_OWNER = "root"

_MODE = re.compile(r"^[0-7]{3,4}$")
_OWNER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]*\$?$")


def check_name(name: str) -> str:
    """A plain file name: no separator, not ``.``/``..``, no NUL, at most 255 characters."""
    if len(name) > MAX_NAME:
        raise Forbidden(
            "FileName.ExceedLimit", f"The file name is {len(name)} characters; the limit is {MAX_NAME}."
        )
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name or name.strip() != name:
        raise Forbidden(
            "FileNameInvalid",
            f"The file name {name!r} is invalid: it must be a plain name, without / or \\, not . or .., "
            "and without leading or trailing spaces.",
        )
    return name


def check_target_dir(target_dir: str) -> str:
    """An absolute directory of at most 255 characters without a ``..`` segment; returned normalised
    (``/etc//app/`` -> ``/etc/app``)."""
    if (
        not target_dir
        or len(target_dir) > MAX_TARGET_DIR
        or not target_dir.startswith("/")
        or "\0" in target_dir
        or ".." in target_dir.split("/")
    ):
        raise Forbidden(
            "FileTargetDir.Invalid",
            f"The target directory {target_dir!r} is invalid: it must be an absolute path of at most "
            f"{MAX_TARGET_DIR} characters without a .. segment.",
        )
    normalised = posixpath.normpath(target_dir)
    if normalised.startswith("//"):
        normalised = "/" + normalised.lstrip("/")
    return normalised


def check_mode(mode: str) -> str:
    """chmod-style octal: ``644``, ``0644``, ``0755``, ``4755``. Empty means the default 0644. Returned as
    four digits."""
    if mode == "":
        return DEFAULT_MODE
    if not _MODE.match(mode):
        raise Forbidden(
            "FileMode.Invalid", f"The file mode {mode!r} is invalid: it must be octal, like 0644 or 0755."
        )
    return mode.rjust(4, "0")


def check_owner(value: str, field: str) -> str:
    """FileOwner / FileGroup: a user or group name (default root), at most 64 characters."""
    if value == "":
        return DEFAULT_OWNER
    if len(value) > MAX_OWNER or not _OWNER.match(value):
        raise ServiceError(
            f"InvalidParameter.{field}",
            f"The {field} {value!r} is invalid: a user or group name of at most {MAX_OWNER} characters.",
        )
    return value


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise Forbidden(
            "FileDesc.ExceedLimit",
            f"The description is {len(description)} characters; the limit is {MAX_DESCRIPTION}.",
        )
    return description


def check_content_type(content_type: str) -> str:
    """PlainText (the default) or Base64, case-insensitive; returned in its canonical spelling."""
    if content_type == "":
        return "PlainText"
    for known in CONTENT_TYPES:
        if content_type.lower() == known.lower():
            return known
    raise Forbidden(
        "FileContentType.Invalid",
        f"The content type {content_type!r} is invalid: it must be PlainText or Base64.",
    )


def api_content_bytes(content: str, content_type: str) -> bytes:
    """The file bytes of SendFile's ``Content``. The limit is 32 KB after Base64, whatever the type."""
    if content_type == "Base64":
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as error:
            raise Forbidden("FileContent.DecodeError", "Content is not valid Base64.") from error
    else:
        data = content.encode("utf-8")
    encoded = len(base64.b64encode(data))
    if encoded > API_MAX_CONTENT_B64:
        raise Forbidden(
            "FileSize.ExceedLimit",
            f"The file is {encoded} bytes after Base64 encoding; the limit is {API_MAX_CONTENT_B64}. "
            "Upload larger files through the console.",
        )
    return data


def check_upload_size(size: int, limit: int) -> int:
    if size > limit:
        raise Forbidden("FileSize.ExceedLimit", f"The file is {size} bytes; the limit is {limit}.")
    return size


def check_instance_count(instance_ids: list[str]) -> list[str]:
    unique = list(dict.fromkeys(instance_ids))
    if not unique:
        raise ServiceError("MissingParameter.InstanceId", "Choose at least one instance.")
    if len(unique) > MAX_INSTANCES:
        raise Forbidden(
            "InstanceIds.ExceedLimit",
            f"{len(unique)} instances were given; at most {MAX_INSTANCES} may be targeted in one request.",
        )
    return unique


def check_timeout(timeout: object) -> int:
    """Seconds; empty means 60, values below 10 are raised to 10 (as the original does)."""
    if timeout is None or timeout == "":
        return DEFAULT_TIMEOUT
    text = str(timeout).strip()
    if isinstance(timeout, bool) or not re.fullmatch(r"[+-]?[0-9]{1,9}", text):
        raise ServiceError(
            "InvalidParameter.Timeout", f"The timeout {timeout!r} is not a whole number of seconds."
        )
    value = int(text)
    if value > MAX_TIMEOUT:
        raise ServiceError("InvalidParameter.Timeout", f"The timeout is at most {MAX_TIMEOUT} seconds.")
    return max(value, MIN_TIMEOUT)


@dataclass(frozen=True)
class FileSpec:
    """A checked transfer, before anything is stored."""

    name: str
    target_dir: str
    owner: str
    group: str
    mode: str
    overwrite: bool
    description: str
    timeout: int


def check_spec(
    *,
    name: str,
    target_dir: str,
    owner: str = "",
    group: str = "",
    mode: str = "",
    overwrite: bool = False,
    description: str = "",
    timeout: object = None,
) -> FileSpec:
    return FileSpec(
        name=check_name(name),
        target_dir=check_target_dir(target_dir),
        owner=check_owner(owner, "FileOwner"),
        group=check_owner(group, "FileGroup"),
        mode=check_mode(mode),
        overwrite=bool(overwrite),
        description=check_description(description),
        timeout=check_timeout(timeout),
    )
