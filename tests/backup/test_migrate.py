"""``deploykitd migrate`` backs the database up before it applies pending migrations."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from deploykit_sqlite import migration_files
from deploykit_sqlite.cipher import Cipher


def deploykitd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploykitd", *args], capture_output=True, text=True, timeout=120, check=False
    )


def database_one_migration_behind(data_dir: Path) -> int:
    """A data directory whose database lacks the newest migration; that migration's version."""
    data_dir.mkdir()
    Cipher.from_data_dir(data_dir)
    *applied, (newest, _, _) = migration_files()
    conn = sqlite3.connect(data_dir / "deploykit.db")
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for version, name, sql in applied:
        conn.executescript(sql)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00+00:00')", (version, name))
    conn.commit()
    conn.close()
    return newest


def test_migrate_takes_a_backup_first_that_verifies(tmp_path: Path) -> None:
    data = tmp_path / "data"
    newest = database_one_migration_behind(data)
    result = deploykitd("migrate", "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    assert f"Applied migrations: [{newest}]" in result.stdout
    backups = list((data / "backups").glob("pre-migrate-*.tar.zst"))
    assert len(backups) == 1
    assert f"Backed up the database to {backups[0]} before migrating." in result.stdout
    verified = deploykitd("backup", "--data-dir", str(data), "--verify", str(backups[0]))
    assert verified.returncode == 0, verified.stdout
    assert f"schema {newest - 1}," in verified.stdout

    again = deploykitd("migrate", "--data-dir", str(data))
    assert again.stdout.strip() == "The database is up to date."
    assert len(list((data / "backups").glob("*.tar.zst"))) == 1


def test_migrate_of_a_new_database_needs_no_backup(tmp_path: Path) -> None:
    result = deploykitd("migrate", "--data-dir", str(tmp_path / "fresh"))
    assert result.returncode == 0, result.stderr
    assert "Backed up" not in result.stdout
    assert not (tmp_path / "fresh" / "backups").exists()


def test_migration_versions_are_numbered_without_gaps() -> None:
    """Versions go 1, 2, ... N: a schema number then says how many migrations a database has."""
    versions = [version for version, _, _ in migration_files()]
    assert versions == list(range(1, len(versions) + 1))
