"""Back up, verify and restore: the archive's parts come from the domain's ``DatabaseArchiver`` and
``VolumeArchiver``; this module orders the work, keeps the temporary copies small (one volume at a
time) and checks everything before a restore touches anything."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from deploykit.backup import (
    DATABASE_MEMBER,
    KEY_MEMBER,
    VOLUMES_DIR,
    BackupReport,
    DatabaseArchiver,
    Manifest,
    RestoreReport,
    VolumeArchiver,
    VolumeEntry,
    volume_member,
)
from deploykit.errors import CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE, Error

log = logging.getLogger(__name__)

DB_FILE = "deploykit.db"
KEY_FILE = "secret.key"
ARCHIVE_PREFIX = "deploykit"
ARCHIVE_SUFFIX = ".tar.zst"


def archive_name(now: datetime | None = None, prefix: str = ARCHIVE_PREFIX) -> str:
    """``deploykit-20261205T120000123456Z.tar.zst``: names sort in time order."""
    now = now or datetime.now(UTC)
    return f"{prefix}-{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}{ARCHIVE_SUFFIX}"


@dataclass(frozen=True, kw_only=True)
class BackupSources:
    """What a backup copies: the live database, its key file and (unless None) the volumes."""

    database: DatabaseArchiver
    key_file: Path
    volumes: VolumeArchiver | None = None
    version: str = ""


def _copy(src: IO[bytes], dest: Path, mode: int = 0o600) -> None:
    from deploykit_backup.archive import CHUNK

    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)


async def create_backup(sources: BackupSources, out: Path) -> BackupReport:
    """Write one archive to ``out``: the database snapshot, the key, then each volume (its users
    paused only while it is copied), then the manifest. Raises ``unavailable`` when a part cannot be
    read; a file at ``out`` is only ever a complete archive."""
    from deploykit_backup.archive import ArchiveWriter  # zstandard: loaded by the first backup

    started = time.monotonic()
    if not sources.key_file.is_file():
        raise Error(UNAVAILABLE, f"There is no encryption key at {sources.key_file}.")
    volumes = await sources.volumes.list_volumes() if sources.volumes is not None else []
    out.parent.mkdir(parents=True, exist_ok=True)
    entries: list[VolumeEntry] = []
    with tempfile.TemporaryDirectory(prefix=".deploykit-backup-", dir=out.parent) as tmp:
        part = Path(tmp) / "part"
        with ArchiveWriter(out) as writer:
            schema = await sources.database.snapshot(part)
            await asyncio.to_thread(writer.add_file, DATABASE_MEMBER, part)
            part.unlink()
            await asyncio.to_thread(writer.add_file, KEY_MEMBER, sources.key_file)
            for volume in volumes:
                assert sources.volumes is not None
                try:
                    await sources.volumes.export_volume(volume.name, part)
                except Error as err:
                    if err.code != NOT_FOUND:
                        raise
                    log.info("volume %s was removed during the backup; skipped", volume.name)
                    continue
                member = volume_member(volume.name)
                await asyncio.to_thread(writer.add_file, member, part)
                part.unlink()
                entries.append(VolumeEntry(volume.name, dict(volume.labels), member))
            manifest = Manifest(
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                deploykit_version=sources.version,
                files=dict(writer.files),
                volumes=entries,
                schema_version=schema,
            )
            size = await asyncio.to_thread(writer.finish, manifest)
    return BackupReport(
        location=str(out),
        size_bytes=size,
        duration_s=time.monotonic() - started,
        volumes=len(entries),
        manifest=manifest,
    )


def _require_file(archive: Path) -> None:
    if not archive.is_file():
        raise Error(NOT_FOUND, f"There is no archive at {archive}.")


def _check_target(data_dir: Path, *, force: bool) -> None:
    """A restore goes into an empty (or missing) directory unless forced."""
    if data_dir.exists() and not data_dir.is_dir():
        raise Error(INVALID, f"{data_dir} is not a directory.")
    if data_dir.is_dir() and any(data_dir.iterdir()) and not force:
        raise Error(CONFLICT, f"{data_dir} is not empty; pass --force to restore over it.")


def _volume_tar_problem(src: IO[bytes]) -> str | None:
    """Why a volume member is not a readable tar, or None."""
    import tarfile

    from deploykit_backup.archive import CHUNK

    try:
        with tarfile.open(fileobj=src, mode="r|") as tar:
            for member in tar:
                if member.isfile():
                    fh = tar.extractfile(member)
                    while fh is not None and fh.read(CHUNK):
                        pass
    except (tarfile.TarError, OSError, EOFError) as exc:
        return str(exc) or type(exc).__name__
    return None


async def verify_backup(archive: Path, database: DatabaseArchiver) -> tuple[Manifest | None, list[str]]:
    """Check an archive the way a restore would use it: every checksum, every volume a readable
    tar, and the database restored into a temporary place (integrity, every sealed value decrypts
    with the archived key). The manifest and the problems; no problems means it is sound."""
    _require_file(archive)
    with tempfile.TemporaryDirectory(prefix=".deploykit-verify-") as tmp:
        extracted = Path(tmp)
        problems: list[str] = []

        def handle(name: str, src: IO[bytes]) -> None:
            if name in (DATABASE_MEMBER, KEY_MEMBER):
                _copy(src, extracted / name)
            elif name.startswith(VOLUMES_DIR):
                problem = _volume_tar_problem(src)
                if problem is not None:
                    problems.append(f"{name}: not a readable tar ({problem})")

        from deploykit_backup.archive import read_archive

        manifest, found = await asyncio.to_thread(read_archive, archive, handle)
        problems = found + problems
        if manifest is not None:
            listed = {v.member for v in manifest.volumes}
            problems += [f"{m}: a volume without a checksum" for m in sorted(listed - manifest.files.keys())]
        db, key = extracted / DATABASE_MEMBER, extracted / KEY_MEMBER
        if not db.is_file() or not key.is_file():
            problems.append("the archive lacks the database or the encryption key")
        elif not problems:  # a damaged copy would only add noise
            problems += await database.check(db, key.read_bytes())
    return manifest, problems


async def restore_backup(
    archive: Path,
    *,
    data_dir: Path,
    database: DatabaseArchiver,
    volumes: VolumeArchiver | None,
    relabel: Callable[[dict[str, str]], dict[str, str]] = dict,
    force: bool = False,
) -> RestoreReport:
    """Restore ``archive`` into ``data_dir`` (its database and key) and its volumes into the engine
    (unless ``volumes`` is None). Everything is checked first (``verify_backup``); ``data_dir`` must
    be empty and no volume of the archive may exist, unless ``force``. ``relabel`` maps a volume's
    archived labels to the ones it gets (this installation's instance label).
    Raises ``invalid`` (damaged archive), ``conflict`` (not empty, volume exists), ``unavailable``."""
    _check_target(data_dir, force=force)
    manifest, problems = await verify_backup(archive, database)
    if problems or manifest is None:
        raise Error(INVALID, "The archive is damaged: " + "; ".join(problems[:10]))
    if volumes is not None and not force:
        existing = [v.name for v in manifest.volumes if await volumes.volume_exists(v.name)]
        if existing:
            raise Error(CONFLICT, f"Volumes already exist: {', '.join(existing)}; pass --force to replace them.")
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    by_member = {v.member: v for v in manifest.volumes}
    restored: list[str] = []
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix=".deploykit-restore-", dir=data_dir) as tmp:
        staging = Path(tmp)

        def handle(name: str, src: IO[bytes]) -> None:
            if name in (DATABASE_MEMBER, KEY_MEMBER):
                _copy(src, staging / name)
            elif volumes is not None and name in by_member:
                entry = by_member[name]
                part = staging / "volume.tar"
                _copy(src, part)
                coro = volumes.import_volume(entry.name, relabel(dict(entry.labels)), part, replace=force)
                asyncio.run_coroutine_threadsafe(coro, loop).result()
                part.unlink()
                restored.append(entry.name)

        from deploykit_backup.archive import read_archive

        _, problems = await asyncio.to_thread(read_archive, archive, handle)
        if problems:  # changed since it was verified
            raise Error(INVALID, "The archive is damaged: " + "; ".join(problems[:10]))
        db = data_dir / DB_FILE
        for stale in (db.with_name(DB_FILE + "-wal"), db.with_name(DB_FILE + "-shm")):
            stale.unlink(missing_ok=True)
        os.replace(staging / DATABASE_MEMBER, db)
        os.replace(staging / KEY_MEMBER, data_dir / KEY_FILE)
    return RestoreReport(data_dir=data_dir, volumes=restored, manifest=manifest)
