"""Keep large request bodies (file uploads) out of the console's memory under daphne.

Two things in the daphne/Twisted stack read a whole upload into memory before Django streams it to disk:

1. Twisted parses every multipart POST body into ``request.args``: it reads the whole body and the email
   parser copies it several times (a 50 MB upload cost ~650 MB of RSS). Daphne never uses ``args``;
   Django parses the body itself. That parsing is turned off.
2. Twisted has already spooled the body to a temporary file (``request.content``), but daphne then puts
   all of it on the application's queue at once, in 8 KB messages. The queue now holds only where each
   piece is in that file; the bytes are read back when Django takes the message, so at most one piece
   is in memory at a time.
"""

import logging

from django.core.exceptions import RequestAborted

logger = logging.getLogger(__name__)


class _BodyInFile(dict):
    """An ``http.request`` message whose ``body`` is read from the request's spooled content on access."""

    def __init__(self, message: dict, content, offset: int, length: int) -> None:
        super().__init__(message)
        self._where = (content, offset, length)

    def _read(self) -> bytes:
        content, offset, length = self._where
        try:
            content.seek(offset)
            data = content.read(length)
        except (ValueError, OSError) as error:  # the connection went away and Twisted closed the file
            raise RequestAborted("the request body is gone") from error
        if len(data) != length:
            raise RequestAborted("the request body is incomplete")
        return data

    def __getitem__(self, key):
        return self._read() if key == "body" else super().__getitem__(key)

    def get(self, key, default=None):
        return self._read() if key == "body" else super().get(key, default)


def _put_lazily(put_nowait, protocol, message) -> None:
    body = message.get("body") if isinstance(message, dict) else None
    content = getattr(protocol, "content", None)
    if message.get("type") == "http.request" and body and content is not None:
        try:
            end = content.tell()
        except (ValueError, OSError):
            end = None
        if end is not None and end >= len(body):
            message = _BodyInFile({**message, "body": b""}, content, end - len(body), len(body))
    put_nowait(message)


def keep_uploads_out_of_memory() -> None:
    try:
        from daphne.http_protocol import WebRequest
        from daphne.server import Server
    except ImportError:  # served by something other than daphne
        return
    if getattr(WebRequest, "_assist_uploads_patched", False):
        return
    original_init = WebRequest.__init__
    original_create = Server.create_application

    def __init__(self, *args, **kwargs) -> None:
        original_init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False  # read by twisted.web.http.Request.requestReceived

    def create_application(self, protocol, scope):
        queue = original_create(self, protocol, scope)
        if queue is not None and isinstance(protocol, WebRequest):
            put_nowait = queue.put_nowait
            queue.put_nowait = lambda message: _put_lazily(put_nowait, protocol, message)
        return queue

    WebRequest.__init__ = __init__
    Server.create_application = create_application
    WebRequest._assist_uploads_patched = True
