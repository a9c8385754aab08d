"""The disk watch on this machine's real disks, with thresholds that make the outcome certain."""

from __future__ import annotations

from pathlib import Path

import psutil

from deploykit.bus import EventType
from deploykit_events import EventBus
from deploykit_sysinfo.disk_watch import DiskWatch, DiskWatchSettings


async def test_a_disk_over_the_threshold_is_announced_once_until_it_drops_below(tmp_path: Path) -> None:
    bus = EventBus()
    heard = bus.subscribe(frozenset({EventType.DISK_HIGH}))
    watch = DiskWatch(bus=bus, settings=DiskWatchSettings(paths=(str(tmp_path), "/"), threshold_percent=0.0))
    first = await watch.check()
    assert [e.payload["path"] for e in first] == [str(tmp_path), "/"]
    assert first[0].payload["percent"] == psutil.disk_usage(str(tmp_path)).percent
    assert await watch.check() == []  # still high: no repeat
    assert heard.pending() == 2
    # Far below any threshold now (the same disks under a threshold no disk reaches): re-armed.
    watch.settings = DiskWatchSettings(paths=(str(tmp_path),), threshold_percent=200.0)
    assert await watch.check() == []
    watch.settings = DiskWatchSettings(paths=(str(tmp_path),), threshold_percent=0.0)
    assert len(await watch.check()) == 1
    bus.close()


async def test_a_disk_under_the_threshold_and_a_missing_path_say_nothing(tmp_path: Path) -> None:
    bus = EventBus()
    watch = DiskWatch(
        bus=bus, settings=DiskWatchSettings(paths=(str(tmp_path), str(tmp_path / "gone")), threshold_percent=100.1)
    )
    assert await watch.check() == []
    bus.close()
