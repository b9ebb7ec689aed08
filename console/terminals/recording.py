"""Session recordings in asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header
line, then one JSON array per event: ``[elapsed, "o", text]`` for output, ``[elapsed, "r", "COLSxROWS"]``
for a resize, ``[elapsed, "m", label]`` for a marker. Input is not recorded.

The writer is plain file I/O with no Django: it is given an open binary file, a size cap and a clock.
When the next event would pass the cap it writes a ``"truncated"`` marker instead and stops."""

import codecs
import json
import time
from collections.abc import Callable
from typing import BinaryIO

TRUNCATED_MARKER = "truncated: the recording reached its size limit"


class AsciicastWriter:
    def __init__(
        self,
        out: BinaryIO,
        *,
        cols: int,
        rows: int,
        max_bytes: int,
        title: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.out = out
        self.max_bytes = max_bytes
        self.clock = clock
        self.started = clock()
        self.size = 0
        self.truncated = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        header = {"version": 2, "width": cols, "height": rows, "timestamp": int(self.started)}
        header["env"] = {"TERM": "xterm-256color"}
        if title:
            header["title"] = title
        self._write_line(json.dumps(header, ensure_ascii=False), force=True)

    def output(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if text:
            self._event("o", text)

    def resize(self, cols: int, rows: int) -> None:
        self._event("r", f"{cols}x{rows}")

    def close(self) -> None:
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._event("o", tail)
        self.out.flush()

    def _event(self, kind: str, text: str) -> None:
        if self.truncated:
            return
        elapsed = round(self.clock() - self.started, 6)
        line = json.dumps([elapsed, kind, text], ensure_ascii=False)
        if not self._write_line(line):
            self.truncated = True
            self._write_line(json.dumps([elapsed, "m", TRUNCATED_MARKER]), force=True)

    def _write_line(self, line: str, force: bool = False) -> bool:
        data = (line + "\n").encode("utf-8")
        if not force and self.size + len(data) > self.max_bytes:
            return False
        self.out.write(data)
        self.size += len(data)
        return True


def read_events(lines: list[str]) -> tuple[dict, list[list]]:
    """Parse a recording (for tests and the replay check): the header and the events."""
    header = json.loads(lines[0])
    return header, [json.loads(line) for line in lines[1:] if line.strip()]
