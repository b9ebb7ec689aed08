"""The console's Ed25519 release key: signs agent releases; agents verify with the public half, which
install.sh fetches from ``/agent/release-key.pub``.

The private key is a PEM file: ``ASSIST_RELEASE_KEY_FILE`` if set, else ``DATA_DIR/release-signing-key.pem``,
created (mode 0600) on first use. Changing it means reinstalling agents (or copying the new public key into
their state dir as ``release-key.pub``): agents refuse releases the key they hold did not sign.
"""

import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_lock = threading.Lock()


def key_path() -> Path:
    configured = getattr(settings, "ASSIST_RELEASE_KEY_FILE", "")
    return Path(configured) if configured else Path(settings.DATA_DIR) / "release-signing-key.pem"


def private_key() -> Ed25519PrivateKey:
    path = key_path()
    with _lock:
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first: use theirs
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
                    f.flush()
                    os.fsync(f.fileno())
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:  # unreadable, not PEM, or encrypted
            raise ImproperlyConfigured(
                f"the release signing key {path} (ASSIST_RELEASE_KEY_FILE) cannot be used: {exc}"
            ) from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ImproperlyConfigured(
            f"the release signing key {path} (ASSIST_RELEASE_KEY_FILE) is not an Ed25519 private key"
        )
    return loaded


def public_key_pem() -> str:
    return (
        private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def sign(statement: bytes) -> bytes:
    return private_key().sign(statement)
