"""Checks on command content shared by every way of running or saving a command."""

import base64
import binascii

from django.conf import settings

from console.commands.models import COMMAND_TYPES
from console.errors import Forbidden, ServiceError

MAX_NAME = 128
MAX_DESCRIPTION = 512
MAX_WORKING_DIR = 200
MAX_USERNAME = 255
MIN_INVOKE_TIMEOUT = 10


def check_command_type(command_type: str) -> str:
    if command_type not in COMMAND_TYPES:
        raise Forbidden(
            "InvalidCmdType.NotFound",
            f"The command type {command_type!r} is not one of {', '.join(COMMAND_TYPES)}.",
        )
    return command_type


def decode_content(
    content: str, encoding: str, *, error_code: str = "InvalidParameter.CommandContent"
) -> str:
    """Plain text of the content; ``encoding`` is PlainText or Base64 (case-insensitive). CreateCommand
    reports undecodable content as ``CmdContent.DecodeError``, RunCommand as InvalidParameter."""
    if encoding.lower() == "base64":
        try:
            return base64.b64decode(content, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise ServiceError(error_code, "CommandContent is not valid Base64 of UTF-8 text.") from error
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


def check_invoke_timeout(timeout: object) -> int:
    """InvokeCommand's Timeout override: as ``check_timeout``, and at least 10 seconds."""
    value = check_timeout(timeout)
    if value < MIN_INVOKE_TIMEOUT:
        raise ServiceError(
            "InvalidParameter.Timeout",
            f"Timeout must be at least {MIN_INVOKE_TIMEOUT} seconds for InvokeCommand, not {value}.",
        )
    return value


def check_name(name: str, *, required: bool = False) -> str:
    if required and not name.strip():
        raise ServiceError("MissingParameter.Name", "The command name must not be empty.")
    if len(name) > MAX_NAME:
        raise Forbidden("CmdName.ExceedLimit", f"The command name must be at most {MAX_NAME} characters.")
    return name


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise Forbidden(
            "CmdDesc.ExceedLimit",
            f"The command description must be at most {MAX_DESCRIPTION} characters.",
        )
    return description


def check_working_dir(working_dir: str) -> str:
    if len(working_dir) > MAX_WORKING_DIR:
        raise ServiceError(
            "InvalidParameter.WorkingDir", f"WorkingDir must be at most {MAX_WORKING_DIR} characters."
        )
    return working_dir


def check_username(username: str) -> str:
    if len(username) > MAX_USERNAME:
        raise Forbidden("Username.ExceedLimit", f"Username must be at most {MAX_USERNAME} characters.")
    return username


def command_quota() -> int:
    """Retained commands per account and region (the original's default quota is 500)."""
    return int(settings.ASSIST_MAX_COMMANDS_PER_REGION)
