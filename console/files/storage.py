"""File contents on the server: stored once, named by their SHA-256, under ``DATA_DIR/files/``.

    files/content/<aa>/<sha256>   the bytes of every file sent (however many instances receive it)
    files/incoming/               uploads being received (moved into content/ once hashed)

Writers go through a temporary file and a rename, so a reader never sees half a file; a digest that is
already stored is not written twice.
"""

import hashlib
import os
import tempfile
import time
from pathlib import Path

from django.conf import settings


def files_dir() -> Path:
    return Path(settings.DATA_DIR) / "files"


def incoming_dir() -> Path:
    path = files_dir() / "incoming"
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_path(sha256: str) -> Path:
    return files_dir() / "content" / sha256[:2] / sha256


def adopt(temp_path: str | Path, sha256: str) -> Path:
    """Move a fully written and hashed temporary file into the content store (same file system)."""
    final = content_path(sha256)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        os.unlink(temp_path)
        os.utime(final)  # in use again: not old enough to prune
    else:
        os.chmod(temp_path, 0o600)
        os.replace(temp_path, final)
    return final


def store_bytes(data: bytes) -> tuple[str, int]:
    """Store a small file held in memory (SendFile's Content, at most 32 KB): (sha256, size)."""
    sha256 = hashlib.sha256(data).hexdigest()
    if content_path(sha256).exists():
        os.utime(content_path(sha256))  # in use again: not old enough to prune
    else:
        fd, temp = tempfile.mkstemp(dir=incoming_dir(), prefix="api-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        adopt(temp, sha256)
    return sha256, len(data)


def read_chunk(sha256: str, offset: int, length: int) -> bytes:
    """Up to ``length`` bytes from ``offset`` (fewer at the end, none past it). Raises OSError."""
    with open(content_path(sha256), "rb") as f:
        f.seek(offset)
        return f.read(length)


def exists(sha256: str) -> bool:
    return content_path(sha256).is_file()


def sweep_incoming(max_age: float = 24 * 3600.0, now: float | None = None) -> int:
    """Remove temporary files older than ``max_age`` from incoming/ (left by a process that died during an
    upload); every request removes its own otherwise."""
    cutoff = (time.time() if now is None else now) - max_age
    removed = 0
    for entry in os.scandir(incoming_dir()):
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


def prune_content(keep: set[str], *, older_than: float, larger_than: int) -> int:
    """Remove stored contents not in ``keep``, last used before ``older_than`` (a timestamp) and larger than
    ``larger_than`` bytes (small ones stay, so DescribeSendFileResults can still echo them)."""
    removed = 0
    root = files_dir() / "content"
    if not root.is_dir():
        return 0
    for path in root.glob("*/*"):
        try:
            info = path.stat()
            if path.name not in keep and info.st_mtime < older_than and info.st_size > larger_than:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed
