"""Resource ids in the original's shapes: a prefix and a short random lowercase tail (mi-, t-, c-, ...)."""

import secrets
import string
import uuid

_ALPHABET = string.ascii_lowercase + string.digits


def new_id(prefix: str, length: int = 20) -> str:
    # One draw from the system's random source for the whole tail (a fan-out to 10,000 instances makes
    # 10,000 ids; a draw per character was 200,000 reads of the random device).
    number = secrets.randbelow(len(_ALPHABET) ** length)
    tail = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        tail.append(_ALPHABET[digit])
    return f"{prefix}-" + "".join(tail)


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def new_activation_id() -> str:
    return str(uuid.uuid4()).upper()


def new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**15) + 10**15)
