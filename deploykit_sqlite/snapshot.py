"""The database's part of a backup: an online snapshot while the daemon writes, and the checks a
restored copy must pass before anyone relies on it."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from pathlib import Path

from deploykit.errors import UNAVAILABLE, Error
from deploykit_sqlite.cipher import Cipher
from deploykit_sqlite.db import migration_files
from deploykit_sqlite.sealed_config import SEALED

SEALED_COLUMNS = (
    ("env_vars", "value"),
    ("deployments", "env_vars"),
    ("pending_changes", "body"),
    ("webhooks", "secret"),
    ("deploy_keys", "private_key"),
    ("notification_channels", "secrets"),
    ("preview_env_vars", "value"),
)
"""Every column holding AES-256-GCM sealed values (see ``Tx.seal``)."""
SEALED_CONFIG_TABLES = ("services", "deployments")
"""Tables whose JSON ``config`` may carry a sealed repository URL."""


def read_only_uri(path: str) -> str:
    """A ``file:`` URI (percent-encoded, so any path works) that never creates or writes the file."""
    return Path(path).resolve().as_uri() + "?mode=ro"


def snapshot_database(src: str, dest: str) -> int:
    """Copy ``src`` to ``dest`` with SQLite's online backup API in one step: one read transaction,
    so the copy is consistent, and in WAL mode writers go on meanwhile. The copy is switched to a
    rollback journal so that it is one self-contained file. Its schema version."""
    if not Path(src).is_file():
        raise Error(UNAVAILABLE, f"There is no database at {src}.")
    try:
        source = sqlite3.connect(read_only_uri(src), uri=True)
    except sqlite3.Error as exc:
        raise Error(UNAVAILABLE, f"The database {src} cannot be opened: {exc}.") from exc
    try:
        target = sqlite3.connect(dest)
        try:
            source.execute("PRAGMA busy_timeout = 5000")
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
            return schema_version(target)
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise Error(UNAVAILABLE, f"The database could not be copied: {exc}.") from exc
    finally:
        source.close()


def schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:  # not migrated yet
        return 0
    return int(row[0] or 0)


def check_database(path: str, key: bytes) -> list[str]:
    """Problems of the database at ``path`` opened read-only: integrity, foreign keys, a schema newer
    than this code, and sealed values that ``key`` does not open. Empty when it is sound."""
    try:
        cipher = Cipher(key)
    except ValueError:
        return [f"the encryption key is {len(key)} bytes long, not 32"]
    try:
        conn = sqlite3.connect(read_only_uri(path), uri=True)
    except sqlite3.Error as exc:
        return [f"the database cannot be opened: {exc}"]
    try:
        return _problems(conn, cipher)
    except sqlite3.DatabaseError as exc:
        return [f"the database is damaged: {exc}"]
    finally:
        conn.close()


def _problems(conn: sqlite3.Connection, cipher: Cipher) -> list[str]:
    problems: list[str] = []
    integrity = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    if integrity != ["ok"]:
        problems += [f"integrity_check: {line}" for line in integrity[:20]]
        return problems  # the rest would read damaged pages
    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        problems.append(f"foreign_key_check: {len(broken)} rows reference missing records (first in {broken[0][0]})")
    known = max((version for version, _, _ in migration_files()), default=0)
    version = schema_version(conn)
    if version > known:
        problems.append(f"the schema is at migration {version}, newer than this DeployKit knows ({known})")
    tables = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, column in SEALED_COLUMNS:
        if table not in tables:
            continue
        total = failed = 0
        for (blob,) in conn.execute(f"SELECT {column} FROM {table}"):
            total += 1
            try:
                cipher.open(bytes(blob))
            except (Error, TypeError, ValueError):
                failed += 1
        if failed:
            problems.append(f"{table}.{column}: {failed} of {total} sealed values do not decrypt with the archived key")
    for table in SEALED_CONFIG_TABLES:
        if table in tables:
            problems += _sealed_config_problems(conn, cipher, table)
    return problems


def _sealed_config_problems(conn: sqlite3.Connection, cipher: Cipher, table: str) -> list[str]:
    """Repository URLs sealed inside the JSON ``config`` column (see ``sealed_config``)."""
    total = failed = 0
    for (text,) in conn.execute(f"SELECT config FROM {table} WHERE config LIKE ?", (f"%{SEALED}%",)):
        source = json.loads(text).get("source") or {}
        if SEALED not in source:
            continue
        total += 1
        try:
            cipher.open(base64.b64decode(source[SEALED]))
        except (Error, TypeError, ValueError):
            failed += 1
    if not failed:
        return []
    return [f"{table}.config: {failed} of {total} sealed repository URLs do not decrypt with the archived key"]


class SQLiteArchiver:
    """``DatabaseArchiver`` for the database file at ``path``; the work runs on a thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    async def snapshot(self, dest: Path) -> int:
        return await asyncio.to_thread(snapshot_database, self.path, str(dest))

    async def check(self, db: Path, key: bytes) -> list[str]:
        return await asyncio.to_thread(check_database, str(db), key)
