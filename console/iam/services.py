import re
import secrets
import string
from dataclasses import dataclass

from django.db import transaction

from console.errors import ServiceError
from console.iam import crypto
from console.iam.models import AccessKey, Account, User
from console.ids import new_account_id

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class IssuedAccessKey:
    access_key_id: str
    access_key_secret: str


def account_get_or_create(*, name: str) -> Account:
    if not _NAME.match(name):
        raise ServiceError(
            "InvalidParameter.AccountName", "Account names are lowercase letters, digits and hyphens."
        )
    account, _ = Account.objects.get_or_create(name=name, defaults={"id": new_account_id()})
    return account


@transaction.atomic
def root_user_ensure(*, account: Account, username: str, password: str) -> User:
    """Create the account's root user if missing. An existing user keeps its password (idempotent)."""
    if not _USER_NAME.match(username):
        raise ServiceError("InvalidParameter.UserName", "User names are letters, digits, '.', '_' and '-'.")
    if len(password) < 8:
        raise ServiceError("InvalidParameter.Password", "The password must have at least 8 characters.")
    user = User.objects.filter(account=account, name=username).first()
    if user is None:
        user = User(account=account, name=username, login_name=f"{username}@{account.name}", is_root=True)
        user.set_password(password)
        user.full_clean()
        user.save()
    return user


def access_key_create(*, user: User) -> IssuedAccessKey:
    key_id = "LTAI" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20))
    secret = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(30))
    AccessKey.objects.create(id=key_id, user=user, secret_encrypted=crypto.encrypt(secret))
    return IssuedAccessKey(access_key_id=key_id, access_key_secret=secret)


def access_key_secret(*, access_key: AccessKey) -> str:
    return crypto.decrypt(access_key.secret_encrypted)


@transaction.atomic
def bootstrap(*, account_name: str, username: str, password: str) -> tuple[User, IssuedAccessKey]:
    account = account_get_or_create(name=account_name)
    user = root_user_ensure(account=account, username=username, password=password)
    return user, access_key_create(user=user)
