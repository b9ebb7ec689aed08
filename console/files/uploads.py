"""Receiving large uploads without holding them in memory: each uploaded file is written straight to a
temporary file under ``DATA_DIR/files/incoming`` while its SHA-256 and size are computed, chunk by chunk.
The service then moves the file into the content store (a rename, never a copy)."""

import hashlib
import os
import tempfile

from django.core.files.uploadhandler import FileUploadHandler

from console.files import storage
from console.files.services import Upload


class ReceivedFile:
    """What lands in ``request.FILES``: the temporary file, its digest and size, or ``too_large``."""

    def __init__(self, name: str, upload: Upload | None, size: int, too_large: bool) -> None:
        self.name = name
        self.upload = upload
        self.size = size
        self.too_large = too_large


class HashingUploadHandler(FileUploadHandler):
    chunk_size = 1024 * 1024

    def __init__(self, request, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.fd: int | None = None
        self.path = ""
        self.digest = hashlib.sha256()
        self.size = 0
        self.too_large = False
        self.paths: list[str] = []

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.fd, self.path = tempfile.mkstemp(dir=storage.incoming_dir(), prefix="upload-")
        self.paths.append(self.path)
        self.digest = hashlib.sha256()
        self.size = 0
        self.too_large = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if self.too_large or self.fd is None:
            return None
        self.size += len(raw_data)
        if self.size > self.limit:  # keep reading the request, but nothing more is written
            self.too_large = True
            self._drop()
            return None
        view = memoryview(raw_data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.digest.update(raw_data)
        return None

    def file_complete(self, file_size: int) -> ReceivedFile:
        upload = None
        if not self.too_large and self.fd is not None:
            os.close(self.fd)
            self.fd = None
            upload = Upload(path=self.path, sha256=self.digest.hexdigest(), size=self.size)
        return ReceivedFile(self.file_name or "", upload, self.size, self.too_large)

    def upload_interrupted(self) -> None:
        self._drop()

    def cleanup(self) -> None:
        """After the request: remove every temporary file the store did not take (a refusal, a CSRF
        failure, a second file field)."""
        self._drop()
        for path in self.paths:
            if os.path.exists(path):
                os.unlink(path)

    def _drop(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)
