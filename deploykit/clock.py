"""An injectable clock, so that time-dependent code is tested without sleeping."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock, for measuring intervals."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    """ISO-8601 UTC with a ``Z`` suffix, as the API speaks it."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # stored times are UTC already: converting them again costs as much
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


async def wait_event(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass (None: no limit); whether it was set.

    Loops that sleep on a wake-up event use this instead of ``asyncio.wait_for(event.wait(), t)``:
    on Python 3.11 ``wait_for`` can swallow a cancellation that arrives as the event is set, and a
    supervised loop that loses its cancellation never stops. ``asyncio.timeout`` does not.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
