"""Resource ids in the original's shapes: a prefix and a short random lowercase tail (mi-, t-, c-, ...)."""

import secrets
import string
import uuid

_ALPHABET = string.ascii_lowercase + string.digits


def new_id(prefix: str, length: int = 20) -> str:
    return f"{prefix}-" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def new_activation_id() -> str:
    return str(uuid.uuid4()).upper()


def new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**15) + 10**15)
