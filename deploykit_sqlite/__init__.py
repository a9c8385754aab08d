"""SQLite storage: aiosqlite implementations of the domain services, with numbered migrations.

``Store`` wires every service onto one connection; ``migrate(path)`` applies pending migrations
to a database file (for ``deploykitd migrate``).
"""

from __future__ import annotations

from deploykit.bus import Event, EventBus, EventType, Subscription
from deploykit.clock import SystemClock
from deploykit_sqlite.db import DB, migration_files
from deploykit_sqlite.store import Store


class _NoBus:
    """Migrations publish nothing."""

    def publish(self, event: Event) -> None:
        return None

    def subscribe(
        self, types: frozenset[EventType] | None = None, project_id: str | None = None, maxsize: int = 1000
    ) -> Subscription:
        raise NotImplementedError("migrate() has no event bus")


async def migrate(path: str) -> list[int]:
    """Apply pending migrations to the database at ``path``; the versions applied now
    (empty when it was up to date). Async: run it with ``asyncio.run(migrate(path))``."""
    bus: EventBus = _NoBus()
    db = DB(path=path, cipher=None, bus=bus, clock=SystemClock(), base_domain="localhost")
    try:
        return await db.open()
    finally:
        await db.close()


__all__ = ["Store", "migrate", "migration_files"]
