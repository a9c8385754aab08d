"""Backups: one archive (database snapshot, encryption key, managed volumes, manifest of checksums),
its verification and restore, and S3-compatible stores to keep archives in.

The parts come in through the domain's ``DatabaseArchiver`` and ``VolumeArchiver`` Protocols;
``deploykitd`` wires the SQLite and Docker adapters to them.
"""

from typing import TYPE_CHECKING, Any

from deploykit_backup.backup import BackupSources, archive_name, create_backup, restore_backup, verify_backup
from deploykit_backup.s3 import S3Location, S3Object, S3Store
from deploykit_backup.scheduler import BackupScheduler

if TYPE_CHECKING:
    from deploykit_backup.archive import ArchiveWriter, read_archive


def __getattr__(name: str) -> Any:
    # The archive format (zstandard, tarfile) is imported by the first backup, verify or restore:
    # a daemon that never makes one does not carry it.
    if name in ("ArchiveWriter", "read_archive"):
        from deploykit_backup import archive

        return getattr(archive, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ArchiveWriter",
    "BackupScheduler",
    "BackupSources",
    "S3Location",
    "S3Object",
    "S3Store",
    "archive_name",
    "create_backup",
    "read_archive",
    "restore_backup",
    "verify_backup",
]
