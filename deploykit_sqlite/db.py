"""The database: one aiosqlite connection, migrations, and the one transaction helper.

Every write runs under one asyncio lock, so a transaction never sees another's uncommitted rows on
the shared connection; reads of a file database use a second, read-only connection (WAL). Events collected during a transaction are published
only after it commits, and dropped when it rolls back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from deploykit.bus import Event, EventBus
from deploykit.clock import Clock
from deploykit.errors import CONFLICT, NOT_FOUND, UNAVAILABLE, Error
from deploykit_sqlite.cipher import Cipher, private_file

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
READER_BUSY_TIMEOUT_MS = 250
"""The inline reader blocks the event loop while it waits, so it gives up sooner: a WAL reader
waits only in rare moments (a checkpoint resetting the log), and then answers ``unavailable``."""
CACHE_KIB = 256
"""SQLite's page cache per connection (its default is 2 MiB, on each of the two): a daemon's data
is a few megabytes that the kernel's file cache keeps anyway, and each cache, once filled, stays
resident in an idle daemon."""
Params = tuple[Any, ...] | dict[str, Any]


def to_text(value: datetime | None) -> str | None:
    """Timestamps are stored as ISO-8601 UTC text, which sorts correctly."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def must_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def translate(exc: sqlite3.Error, conflict: str | None, missing: Error | None) -> Error | None:
    """The domain error for a SQLite failure, or None when it is not one we expect."""
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if text.startswith("UNIQUE") or text.startswith("PRIMARY KEY"):
            return Error(CONFLICT, conflict or "It already exists.")
        if text.startswith("FOREIGN KEY"):
            return missing or Error(NOT_FOUND, "A referenced record was not found.")
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return Error(UNAVAILABLE, "The database is busy; try again.")
    return None


class Tx:
    """A unit of work on the shared connection. Methods translate SQLite errors at this edge."""

    def __init__(self, db: DB, conn: aiosqlite.Connection) -> None:
        self.db = db
        self._conn = conn
        self.events: list[Event] = []

    def now(self) -> datetime:
        return self.db.clock.now()

    def publish(self, event: Event) -> None:
        """Queue an event; it is published only after this transaction commits."""
        self.events.append(event)

    async def execute(
        self, sql: str, params: Params = (), *, conflict: str | None = None, missing: Error | None = None
    ) -> int:
        """Run one statement; the number of rows it changed. ``conflict`` is the message for a
        UNIQUE violation, ``missing`` the error for a foreign-key failure."""
        try:
            cursor = await self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            err = translate(exc, conflict, missing)
            if err is None:
                raise
            raise err from exc
        try:
            return cursor.rowcount
        finally:
            await cursor.close()

    async def executemany(self, sql: str, rows: list[Params]) -> None:
        """One statement over many rows (a batch of samples)."""
        try:
            await self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            err = translate(exc, None, None)
            if err is None:
                raise
            raise err from exc

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        # One hop to aiosqlite's thread instead of three (execute, fetch, close): reads dominate
        # the API's latency, and each hop is a thread hand-off.
        return list(await self._conn.execute_fetchall(sql, params))

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    def seal(self, text: str) -> bytes:
        return self.db.cipher.seal(text)

    def unseal(self, blob: bytes) -> str:
        return self.db.cipher.open(blob)


class ReadTx(Tx):
    """Reads of committed data on the read-only connection, run on the calling (event loop)
    thread instead of a worker thread.

    A read of DeployKit's database is a few dozen microseconds of SQLite; handing it to a
    thread and back costs several times that, and under load the hand-off waits for the GIL.
    A WAL reader never waits for the writer, so running it inline does not stall the loop
    behind a write; a short busy timeout bounds the rare wait on a checkpoint."""

    def __init__(self, db: DB, conn: sqlite3.Connection) -> None:
        self.db = db
        self._reader = conn
        self.events = []

    async def execute(
        self, sql: str, params: Params = (), *, conflict: str | None = None, missing: Error | None = None
    ) -> int:
        raise RuntimeError("a read cannot write; use DB.tx()")

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        try:
            return self._reader.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            err = translate(exc, None, None)
            if err is None:
                raise
            raise err from exc


def migration_files() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every packaged migration, in order."""
    out: list[tuple[int, str, str]] = []
    for entry in resources.files("deploykit_sqlite").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            out.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(out)


class DB:
    """Owns the connection. ``open`` connects and migrates; ``close`` is idempotent."""

    def __init__(self, *, path: str, cipher: Cipher | None, bus: EventBus, clock: Clock, base_domain: str) -> None:
        self.path = path
        self.bus = bus
        self.clock = clock
        self.base_domain = base_domain
        self._cipher = cipher
        self._conn: aiosqlite.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            raise RuntimeError("the store has no cipher before open()")
        return self._cipher

    def set_cipher(self, cipher: Cipher) -> None:
        self._cipher = cipher

    async def open(self) -> list[int]:
        """Connect, configure and migrate; the versions applied now. A database file and its WAL
        files are 0600: they hold password hashes, sessions and sealed secrets."""
        if self._is_file:
            self._private_files()
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA foreign_keys = ON")
        # Freed space is zeroed: a secret sealed in place (or deleted) leaves no clear copy behind.
        await conn.execute("PRAGMA secure_delete = ON")
        await conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        if self._is_file:
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
        self._conn = conn
        try:
            applied = await self._migrate()
            if self._is_file:
                self._reader = await self._open_reader()
            return applied
        except BaseException:
            await self.close()
            raise

    def _private_files(self) -> None:
        path = Path(self.path.removeprefix("file:").split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        private_file(path)
        for suffix in ("-wal", "-shm", "-journal"):
            extra = path.with_name(path.name + suffix)
            if extra.exists():
                os.chmod(extra, 0o600)

    @property
    def _is_file(self) -> bool:
        return self.path != ":memory:" and not self.path.startswith("file::memory:")

    async def _open_reader(self) -> sqlite3.Connection:
        """A second, read-only connection, used from the event loop's thread (see ``ReadTx``):
        in WAL mode it reads committed data without waiting for the writer's lock."""
        reader = sqlite3.connect(self.path, isolation_level=None)
        try:
            reader.row_factory = sqlite3.Row
            reader.execute(f"PRAGMA busy_timeout = {READER_BUSY_TIMEOUT_MS}")
            reader.execute("PRAGMA query_only = ON")
            reader.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        except BaseException:
            reader.close()
            raise
        return reader

    async def close(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def in_transaction(self) -> bool:
        return self._conn is not None and self._conn.in_transaction

    async def _migrate(self) -> list[int]:
        conn = self._require()
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        async with conn.execute("SELECT version FROM schema_migrations") as cursor:
            done = {int(row[0]) for row in await cursor.fetchall()}
        applied: list[int] = []
        for version, name, sql in migration_files():
            if version in done:
                continue
            # Each migration and its record commit together, or not at all.
            script = (
                f"BEGIN IMMEDIATE;\n{sql}\n"
                f"INSERT INTO schema_migrations (version, name, applied_at) "
                f"VALUES ({version}, '{name}', '{to_text(self.clock.now())}');\nCOMMIT;"
            )
            try:
                await conn.executescript(script)
            except sqlite3.Error:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise
            applied.append(version)
            log.info("applied migration %s", name)
        return applied

    def _require(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise Error(UNAVAILABLE, "The database is not open.")
        return self._conn

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Tx]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT); events published after commit."""
        conn = self._require()
        async with self._lock:
            tx = Tx(self, conn)
            await self._settle(conn)
            try:
                await conn.execute("BEGIN IMMEDIATE")
                yield tx
                await conn.execute("COMMIT")
            except BaseException:
                await self._settle(conn)
                raise
        self._publish(tx.events)

    @staticmethod
    async def _settle(conn: aiosqlite.Connection) -> None:
        """Roll back whatever a failed or cancelled unit of work left open."""
        if conn.in_transaction:
            await conn.execute("ROLLBACK")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """Reads of committed data, outside any transaction: on the read-only connection for a
        file database, else on the shared connection under the lock (so that a read never sees
        another unit of work's uncommitted rows). Statements of one read are not one snapshot."""
        conn = self._require()
        if self._reader is not None:
            yield ReadTx(self, self._reader)
            return
        async with self._lock:
            yield Tx(self, conn)

    def publish_now(self, event: Event) -> None:
        """Publish an event that is no commit's outcome (a failed login)."""
        self._publish((event,))

    def _publish(self, events: Iterable[Event]) -> None:
        for event in events:
            try:
                self.bus.publish(event)
            except Exception:  # the bus promises not to raise; a bug there must not undo a commit
                log.exception("publishing %s failed", event.type)

    def data_version(self) -> int | None:
        """SQLite's ``PRAGMA data_version`` on the read-only connection: it changes whenever
        another connection commits, and the reader never writes, so every commit changes it (this
        process's writer, ``deploykitd`` commands, a restore). Inline, a couple of microseconds.
        None for an in-memory database (no reader) or on a SQLite error."""
        if self._reader is None:
            return None
        try:
            return int(self._reader.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return None

    async def ping(self) -> bool:
        try:
            async with self.read() as tx:
                return bool(await tx.scalar("SELECT 1") == 1)
        except Exception:
            return False
