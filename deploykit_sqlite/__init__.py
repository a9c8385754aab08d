"""SQLite storage: aiosqlite implementations of the domain services, with numbered migrations.

``Store`` wires every service onto one connection; ``migrate(path)`` applies pending migrations
to a database file (for ``deploykitd migrate``).
"""

from __future__ import annotations

import asyncio

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


async def pending_migrations(path: str) -> list[int]:
    """The packaged migrations not yet applied to the database at ``path`` (read-only)."""
    import sqlite3

    from deploykit_sqlite.snapshot import read_only_uri

    def pending() -> list[int]:
        conn = sqlite3.connect(read_only_uri(path), uri=True)
        try:
            done = {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}
        except sqlite3.OperationalError:  # never migrated
            done = set()
        finally:
            conn.close()
        return [version for version, _, _ in migration_files() if version not in done]

    return await asyncio.to_thread(pending)


async def migrate(path: str) -> list[int]:
    """Apply pending migrations to the database at ``path``; the versions applied now
    (empty when it was up to date). Async: run it with ``asyncio.run(migrate(path))``."""
    bus: EventBus = _NoBus()
    db = DB(path=path, cipher=None, bus=bus, clock=SystemClock(), base_domain="localhost")
    try:
        return await db.open()
    finally:
        await db.close()


__all__ = ["Store", "migrate", "migration_files", "pending_migrations"]
