"""Runtime logs of containers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class LogLine:
    container_id: str
    stream: str
    """stdout or stderr."""
    line: str
    ts: datetime | None = None


class LogStreamer(Protocol):
    def follow(self, container_id: str, tail: int = 100) -> AsyncIterator[LogLine]:
        """The last ``tail`` lines, then new ones until the container stops (the iterator ends).
        Raises ``not_found``, ``unavailable``."""
        ...

    async def tail(self, container_id: str, lines: int = 50) -> list[LogLine]:
        """The last lines the container printed. Raises ``not_found``, ``unavailable``."""
        ...
