"""Checks on command content shared by every way of running or saving a command."""

import base64
import binascii

from django.conf import settings

from console.commands.models import COMMAND_TYPES
from console.errors import Forbidden, ServiceError


def check_command_type(command_type: str) -> str:
    if command_type not in COMMAND_TYPES:
        raise Forbidden(
            "InvalidCmdType.NotFound",
            f"The command type {command_type!r} is not one of {', '.join(COMMAND_TYPES)}.",
        )
    return command_type


def decode_content(content: str, encoding: str) -> str:
    """Plain text of the content; ``encoding`` is PlainText or Base64 (case-insensitive)."""
    if encoding.lower() == "base64":
        try:
            return base64.b64decode(content, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise ServiceError(
                "InvalidParameter.CommandContent", "CommandContent is not valid Base64 of UTF-8 text."
            ) from error
    return content


def check_content(content: str) -> str:
    if not content.strip():
        raise ServiceError("MissingParameter.CommandContent", "The command content must not be empty.")
    encoded = len(base64.b64encode(content.encode("utf-8")))
    limit = settings.ASSIST_MAX_CONTENT_B64
    if encoded > limit:
        raise Forbidden(
            "CmdContent.ExceedLimit",
            f"The command content is {encoded} bytes after Base64 encoding; the limit is {limit}.",
        )
    return content


def check_timeout(timeout: object) -> int:
    if isinstance(timeout, bool):
        timeout = None
    try:
        value = int(str(timeout).strip())
    except ValueError:
        value = 0
    if value <= 0 or str(timeout).strip().lstrip("+") != str(value):
        raise ServiceError(
            "InvalidParameter.Timeout",
            f"Timeout must be a positive whole number of seconds, not {timeout!r}.",
        )
    if value > 86400 * 7:
        raise ServiceError("InvalidParameter.Timeout", "Timeout must be at most 604800 seconds (7 days).")
    return value
