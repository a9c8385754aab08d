"""The archive file: a tar stream, zstd-compressed unless its name ends in ``.tar``.

zstd (level 3) because a backup holds volumes of any size and runs beside a serving daemon: it
compresses several times faster than gzip at a ratio as good or better, streams, and carries a
content checksum of its own; ``tar --zstd -xf`` opens the archive by hand. Plain ``.tar`` is for
volumes that are already compressed.

Members are written in order and the manifest last, since it carries every other member's
SHA-256: a reader hashes as it streams, then compares. Everything here is synchronous (tarfile);
callers run it on a thread.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

import zstandard

from deploykit.backup import MANIFEST_MEMBER, FileEntry, Manifest
from deploykit.errors import Error

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_LEVEL = 3
CHUNK = 1 << 20

MemberHandler = Callable[[str, IO[bytes]], None]
"""Called with each member's name and a stream of its bytes; it may read any part of it."""


class _HandlerFailed(Exception):
    """Carries a handler's own exception out of the archive's error handling."""

    def __init__(self, original: BaseException) -> None:
        self.original = original


def compressed(path: Path) -> bool:
    return not path.name.endswith(".tar")


READ_ERRORS = (tarfile.TarError, zstandard.ZstdError, EOFError, OSError, ValueError)


class ArchiveDamaged(Exception):
    """Reading a member failed: the archive's bytes are wrong, whoever was reading them."""


class _Hashing:
    """A read-only stream that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._raw.read(n)
        except READ_ERRORS as exc:
            raise ArchiveDamaged(str(exc) or type(exc).__name__) from exc
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class ArchiveWriter:
    """Writes ``path`` through ``<path>.partial`` and renames it only when the manifest is in, so a
    file at ``path`` is always a complete archive. Use as a context manager; ``finish`` commits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.files: dict[str, FileEntry] = {}
        self._raw: BinaryIO | None = None
        self._zw: zstandard.ZstdCompressionWriter | None = None
        self._tar: tarfile.TarFile | None = None

    def __enter__(self) -> ArchiveWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = self.partial.open("wb")
        stream: IO[bytes] = self._raw
        if compressed(self.path):
            cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
            self._zw = cctx.stream_writer(self._raw, closefd=False)
            stream = self._zw
        self._tar = tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tar is not None:  # not finished: leave nothing behind
            self._close()
            self.partial.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None
        if self._zw is not None:
            self._zw.close()  # type: ignore[no-untyped-call]
            self._zw = None
        if self._raw is not None:
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            self._raw = None

    def add_file(self, name: str, src: Path) -> FileEntry:
        assert self._tar is not None
        info = tarfile.TarInfo(name)
        info.size = src.stat().st_size
        info.mtime = int(time.time())
        info.mode = 0o600
        with src.open("rb") as fh:
            hashing = _Hashing(fh)
            self._tar.addfile(info, hashing)
        entry = FileEntry(hashing.sha.hexdigest(), hashing.size)
        self.files[name] = entry
        return entry

    def finish(self, manifest: Manifest) -> int:
        """Write the manifest, close, and put the archive in place; its size in bytes."""
        assert self._tar is not None
        raw = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST_MEMBER)
        info.size = len(raw)
        info.mtime = int(time.time())
        info.mode = 0o600
        self._tar.addfile(info, io.BytesIO(raw))
        self._close()
        os.replace(self.partial, self.path)
        return self.path.stat().st_size


def read_archive(path: Path, handle: MemberHandler | None = None) -> tuple[Manifest | None, list[str]]:
    """Stream through the archive, hashing every member and passing each to ``handle``; the
    manifest and the problems found (damage, checksum mismatches, missing or unexpected members).
    The manifest is None when it could not be read."""
    problems: list[str] = []
    seen: dict[str, FileEntry] = {}
    manifest: Manifest | None = None
    try:
        with path.open("rb") as raw:
            stream: IO[bytes] = raw
            if raw.read(4) == ZSTD_MAGIC:
                raw.seek(0)
                stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            else:
                raw.seek(0)
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    if not member.isfile():
                        problems.append(f"{member.name}: not a regular file")
                        continue
                    fh = tar.extractfile(member)
                    assert fh is not None
                    if member.name == MANIFEST_MEMBER:
                        manifest = Manifest.from_json(fh.read())
                        continue
                    hashing = _Hashing(fh)
                    if handle is not None:
                        try:
                            handle(member.name, hashing)  # type: ignore[arg-type]
                        except Exception as exc:
                            raise _HandlerFailed(exc) from exc
                    hashing.drain()
                    seen[member.name] = FileEntry(hashing.sha.hexdigest(), hashing.size)
    except _HandlerFailed as failed:
        if not isinstance(failed.original, ArchiveDamaged):
            raise failed.original from None
        problems.append(f"the archive is damaged: {failed.original}")
    except Error as exc:  # a manifest this version cannot read
        problems.append(exc.message)
    except (*READ_ERRORS, ArchiveDamaged) as exc:
        problems.append(f"the archive is damaged: {exc}")
    if manifest is None:
        problems.append("the archive has no readable manifest")
        return None, problems
    for name, entry in manifest.files.items():
        got = seen.get(name)
        if got is None:
            problems.append(f"{name}: missing from the archive")
        elif got != entry:
            problems.append(f"{name}: checksum mismatch (manifest {entry.sha256[:12]}, archive {got.sha256[:12]})")
    problems += [f"{name}: not listed in the manifest" for name in seen.keys() - manifest.files.keys()]
    return manifest, problems
