"""Backups: one archive holding a consistent database snapshot, the encryption key, every managed
named volume and a manifest of checksums; the parts that produce and consume them; and the records
of backups the daemon ran.

The archive's parts come from adapters behind the Protocols below (the database from
``deploykit_sqlite``, volumes from ``deploykit_docker``); ``deploykit_backup`` writes, reads,
checks and ships the archive itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from deploykit.errors import INVALID, Error
from deploykit.runtime import VolumeInfo

FORMAT = 1
"""The archive layout's version; a reader refuses a newer one."""
MANIFEST_MEMBER = "manifest.json"
DATABASE_MEMBER = "deploykit.db"
KEY_MEMBER = "secret.key"
VOLUMES_DIR = "volumes/"


def volume_member(name: str) -> str:
    """Where a volume's tar lives in the archive. Docker volume names are ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``,
    so the name is a safe file name."""
    return f"{VOLUMES_DIR}{name}.tar"


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class VolumeEntry:
    name: str
    labels: dict[str, str]
    member: str


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """What an archive holds; written last, so that it can carry every member's checksum."""

    created_at: str
    deploykit_version: str
    files: dict[str, FileEntry]
    """Every other member by name, with its SHA-256 and size."""
    volumes: list[VolumeEntry] = field(default_factory=list)
    schema_version: int = 0
    """The newest database migration in the snapshot."""
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Raises ``invalid`` for anything that is not a manifest this version can read."""
        try:
            data: dict[str, Any] = json.loads(raw)
            fmt = int(data.get("format", 0))
            if fmt > FORMAT:
                raise Error(INVALID, f"The archive's format {fmt} is newer than this DeployKit reads ({FORMAT}).")
            return cls(
                created_at=str(data["created_at"]),
                deploykit_version=str(data["deploykit_version"]),
                files={str(k): FileEntry(str(v["sha256"]), int(v["size"])) for k, v in data["files"].items()},
                volumes=[
                    VolumeEntry(str(v["name"]), {str(a): str(b) for a, b in v["labels"].items()}, str(v["member"]))
                    for v in data.get("volumes", [])
                ],
                schema_version=int(data.get("schema_version", 0)),
                format=fmt,
            )
        except Error:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Error(INVALID, f"The archive's manifest is unreadable: {exc!r}.") from exc


@dataclass(frozen=True, kw_only=True)
class BackupReport:
    """What one run wrote."""

    location: str
    """The file path or ``s3://bucket/key``."""
    size_bytes: int
    duration_s: float
    volumes: int
    manifest: Manifest


@dataclass(frozen=True, kw_only=True)
class RestoreReport:
    data_dir: Path
    volumes: list[str]
    """The volumes restored to the engine."""
    manifest: Manifest


class DatabaseArchiver(Protocol):
    """The database's part of a backup (``deploykit_sqlite``)."""

    async def snapshot(self, dest: Path) -> int:
        """Copy a consistent snapshot of the live database to ``dest`` (a single self-contained
        file) without stopping writers; its schema version. Raises ``unavailable``."""
        ...

    async def check(self, db: Path, key: bytes) -> list[str]:
        """Problems of a restored database: integrity, foreign keys, a schema newer than this
        code, and every sealed value that does not decrypt with ``key``. Empty when sound."""
        ...


class VolumeArchiver(Protocol):
    """The engine's part of a backup (``deploykit_docker``): managed named volumes as tar streams."""

    async def list_volumes(self) -> list[VolumeInfo]:
        """The managed volumes of this installation. Raises ``unavailable``."""
        ...

    async def export_volume(self, name: str, dest: Path) -> None:
        """Write the volume's files as a tar to ``dest``. Containers using it are paused only while
        it is copied. Raises ``not_found``, ``unavailable``."""
        ...

    async def volume_exists(self, name: str) -> bool:
        """Raises ``unavailable``."""
        ...

    async def import_volume(self, name: str, labels: dict[str, str], src: Path, *, replace: bool) -> None:
        """Create the volume with ``labels`` and fill it from the tar at ``src``. An existing volume
        is ``conflict`` unless ``replace`` (then it is removed first; ``conflict`` while a
        container uses it). Raises ``unavailable``."""
        ...
