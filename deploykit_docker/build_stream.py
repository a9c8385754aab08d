"""The engine's JSON-lines build output, parsed: text line by line to the build log, and the error
with the failing step's output."""

from __future__ import annotations

import codecs
import collections
import json
import re
from collections.abc import Callable
from typing import Any

from deploykit import INVALID, Error
from deploykit_docker.git import redact

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
BOOKKEEPING = (" ---> ", "Removing intermediate container ")
TAGGED = "Successfully tagged "


class BuildStream:
    """Parses the engine's JSON-lines build output: text to ``on_log`` line by line, and the error
    with the failing step's output."""

    def __init__(self, on_log: Callable[[str], None], error_lines: int) -> None:
        self.on_log = on_log
        self.step: collections.deque[str] = collections.deque(maxlen=error_lines)
        self.error: str | None = None
        self.image_id: str | None = None
        self.tagged: set[str] = set()
        """The names the engine said it tagged the image with (``Successfully tagged <name>``)."""
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._text = ""
        self._decoder = json.JSONDecoder()

    def feed(self, chunk: bytes) -> None:
        self._pending += self._utf8.decode(chunk)  # incremental: a character split across chunks survives
        pos = 0
        while True:
            while pos < len(self._pending) and self._pending[pos].isspace():
                pos += 1
            if pos >= len(self._pending):
                break
            try:
                message, pos = self._decoder.raw_decode(self._pending, pos)
            except json.JSONDecodeError:
                break  # an incomplete object: wait for more
            if isinstance(message, dict):
                self._message(message)
        self._pending = self._pending[pos:]

    def _message(self, message: dict[str, Any]) -> None:
        if "error" in message or "errorDetail" in message:
            detail = message.get("errorDetail") or {}
            self.error = str(detail.get("message") or message.get("error") or "unknown error")
            self.on_log(self.error)
        if isinstance(message.get("stream"), str):
            self._text += message["stream"]
            *lines, self._text = re.split(r"\r\n|\r|\n", self._text)
            for line in lines:
                self._line(line)
        aux = message.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            self.image_id = aux["ID"]

    def _line(self, line: str) -> None:
        line = ANSI_RE.sub("", line).rstrip()  # the engine colours a step's stderr
        if not line:
            return
        if line.startswith("Step "):
            self.step.clear()
        elif line.startswith(TAGGED):
            self.tagged.add(line.removeprefix(TAGGED).strip())
        if not line.startswith(BOOKKEEPING):  # the builder's own, noise in an error message
            self.step.append(line)
        self.on_log(line)

    def end(self) -> None:
        """Raises ``invalid`` with the failing step's output when the build failed."""
        if self._text:
            self._line(self._text)
            self._text = ""
        if self.error is not None:
            lines = [*self.step]
            if not lines or lines[-1] != self.error:
                lines.append(self.error)
            raise Error(INVALID, "docker build failed: " + redact("\n".join(lines)))
        if self.image_id is None:
            raise Error(INVALID, "docker build failed: the engine ended the build without an image.")
