"""``deploykitd backup``, ``backup --verify``, ``restore`` and the backup ``migrate`` takes first:
the SQLite and Docker adapters wired to ``deploykit_backup``.

A backup runs beside a serving daemon: it reads the database through SQLite's online backup API
on a connection of its own and reaches volumes through the engine, never through the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from deploykit import __version__
from deploykit.backup import BackupReport, VolumeArchiver
from deploykit.errors import UNAVAILABLE, Error
from deploykit.runtime import LABEL_INSTANCE
from deploykit_backup import (
    BackupSources,
    S3Location,
    S3Store,
    archive_name,
    create_backup,
    restore_backup,
    verify_backup,
)
from deploykit_sqlite.cipher import KEY_FILE
from deploykit_sqlite.snapshot import SQLiteArchiver
from deploykitd.config import Config

BACKUPS_DIR = "backups"
"""Where archives go unless told otherwise (the daemon's runs too), under the data directory."""


def megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@contextlib.asynccontextmanager
async def engine_volumes(config: Config, *, wanted: bool) -> AsyncIterator[VolumeArchiver | None]:
    """The engine's volumes of this installation (None when not ``wanted``). Raises ``unavailable``
    when the engine does not answer: a backup without the volumes must be asked for."""
    if not wanted:
        yield None
        return
    from deploykit_docker import DockerRuntime
    from deploykit_docker.volume_archive import DockerVolumeArchiver

    runtime = DockerRuntime(config.docker_host)
    await runtime.open()
    try:
        if not await runtime.ping():
            raise Error(UNAVAILABLE, "The Docker engine is not reachable; pass --no-volumes to leave the volumes out.")
        yield DockerVolumeArchiver(runtime, instance_id=config.instance_id)
    finally:
        await runtime.close()


async def backup_to_file(config: Config, out: Path, *, volumes: bool = True) -> BackupReport:
    async with engine_volumes(config, wanted=volumes) as archiver:
        sources = BackupSources(
            database=SQLiteArchiver(config.db_path),
            key_file=config.data_dir / KEY_FILE,
            volumes=archiver,
            version=__version__,
        )
        return await create_backup(sources, out)


async def backup(config: Config, *, out: str | None, to: str | None, s3_endpoint: str | None, volumes: bool) -> int:
    if to is not None:
        location = S3Location.parse(to)
        store = S3Store(endpoint_url=s3_endpoint)
        with tempfile.TemporaryDirectory(prefix=".deploykit-upload-", dir=config.data_dir) as tmp:
            name = archive_name()
            report = await backup_to_file(config, Path(tmp) / name, volumes=volumes)
            url = await store.upload(Path(report.location), location, name)
    else:
        path = Path(out) if out else config.data_dir / BACKUPS_DIR / archive_name()
        report = await backup_to_file(config, path, volumes=volumes)
        url = report.location
    print(
        f"Backed up to {url}: {megabytes(report.size_bytes)}, {report.volumes} volume(s), "
        f"schema {report.manifest.schema_version}, {report.duration_s:.1f} s"
    )
    return 0


@contextlib.asynccontextmanager
async def local_archive(source: str, s3_endpoint: str | None, scratch: Path) -> AsyncIterator[Path]:
    """The archive as a local file: ``source`` itself, or downloaded from S3 into ``scratch``."""
    if not source.startswith("s3://"):
        yield Path(source)
        return
    await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".deploykit-download-", dir=scratch) as tmp:
        path = Path(tmp) / "archive.tar.zst"
        await S3Store(endpoint_url=s3_endpoint).download(source, path)
        yield path


async def verify(config: Config, source: str, *, s3_endpoint: str | None) -> int:
    async with local_archive(source, s3_endpoint, config.data_dir) as path:
        manifest, problems = await verify_backup(path, SQLiteArchiver(config.db_path))
    if problems or manifest is None:
        print(f"{source} is damaged:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(
        f"{source} is sound: {len(manifest.files)} files match their checksums, the database passes "
        f"integrity_check and every sealed value decrypts ({len(manifest.volumes)} volume(s), "
        f"schema {manifest.schema_version}, made {manifest.created_at} by DeployKit {manifest.deploykit_version})"
    )
    return 0


async def restore(config: Config, source: str, *, s3_endpoint: str | None, force: bool, volumes: bool) -> int:
    data_dir = config.data_dir
    scratch = data_dir.parent if not data_dir.exists() else data_dir
    async with (
        local_archive(source, s3_endpoint, scratch) as path,
        engine_volumes(config, wanted=volumes) as archiver,
    ):
        report = await restore_backup(
            path,
            data_dir=data_dir,
            database=SQLiteArchiver(data_dir / "deploykit.db"),
            volumes=archiver,
            relabel=_relabel(config.instance_id),
            force=force,
        )
    print(
        f"Restored {source} into {report.data_dir} (schema {report.manifest.schema_version}, "
        f"{len(report.volumes)} volume(s)); start it with: deploykitd serve --data-dir {report.data_dir}"
    )
    return 0


def _relabel(instance_id: str | None) -> Callable[[dict[str, str]], dict[str, str]]:
    """Restored volumes belong to the installation restored into: its instance label, or none."""

    def relabel(labels: dict[str, str]) -> dict[str, str]:
        out = {k: v for k, v in labels.items() if k != LABEL_INSTANCE}
        if instance_id is not None:
            out[LABEL_INSTANCE] = instance_id
        return out

    return relabel


async def migrate_with_backup(config: Config, *, take_backup: bool = True) -> tuple[list[int], Path | None]:
    """Apply pending migrations, first writing a backup of the database and key (not the volumes,
    which migrations never touch) to ``<data-dir>/backups`` when any migration is pending on an
    existing database. The versions applied and the backup written."""
    from deploykit_sqlite import migrate, pending_migrations

    written: Path | None = None
    if take_backup and config.db_path.is_file() and await pending_migrations(str(config.db_path)):
        written = config.data_dir / BACKUPS_DIR / archive_name(prefix="pre-migrate")
        await backup_to_file(config, written, volumes=False)
    return await migrate(str(config.db_path)), written
