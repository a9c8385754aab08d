"""Backups: one archive (database snapshot, encryption key, managed volumes, manifest of checksums),
its verification and restore, and S3-compatible stores to keep archives in.

The parts come in through the domain's ``DatabaseArchiver`` and ``VolumeArchiver`` Protocols;
``deploykitd`` wires the SQLite and Docker adapters to them.
"""

from deploykit_backup.archive import ArchiveWriter, read_archive
from deploykit_backup.backup import BackupSources, archive_name, create_backup, restore_backup, verify_backup
from deploykit_backup.s3 import S3Location, S3Object, S3Store
from deploykit_backup.scheduler import BackupScheduler

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
