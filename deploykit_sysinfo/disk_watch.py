"""The disk watch: publishes ``system.disk_high`` when a disk the daemon depends on (``/``, the
data directory's) passes a threshold, once, and again only after it has dropped ``rearm_points``
below it; a full disk stops builds, deployments and the database alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import psutil

from deploykit.bus import Event, EventBus, EventType
from deploykit.clock import Clock, SystemClock, wait_event

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class DiskWatchSettings:
    paths: Sequence[str] = ("/",)
    threshold_percent: float = 90.0
    rearm_points: float = 5.0
    interval_s: float = 60.0


class DiskWatch:
    def __init__(self, *, bus: EventBus, settings: DiskWatchSettings, clock: Clock | None = None) -> None:
        self._bus = bus
        self.settings = settings
        """Replaceable between checks (a test, or a changed flag)."""
        self._clock = clock or SystemClock()
        self._high: set[str] = set()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> list[Event]:
        """One look at every watched disk; the events published."""
        s = self.settings
        published = []
        for path in dict.fromkeys(s.paths):
            try:
                percent = (await asyncio.to_thread(psutil.disk_usage, path)).percent
            except OSError as exc:
                log.warning("disk usage of %s could not be read: %s", path, exc)
                continue
            if percent >= s.threshold_percent and path not in self._high:
                self._high.add(path)
                event = Event(EventType.DISK_HIGH, payload={"path": path, "percent": percent}, at=self._clock.now())
                self._bus.publish(event)
                published.append(event)
            elif percent < s.threshold_percent - s.rearm_points:
                self._high.discard(path)
        return published

    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._loop(), name="disk-watch")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.check()
            except Exception:
                log.exception("the disk watch failed; trying again next interval")
            await wait_event(self._stop, self.settings.interval_s)
