"""The archive without Docker: a real SQLite store in a data directory, backed up, verified,
damaged in the ways that happen (a flipped byte, a truncated upload, a wrong key, a stale
manifest), and restored."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from deploykit.backup import DATABASE_MEMBER, KEY_MEMBER, MANIFEST_MEMBER, BackupReport, Manifest
from deploykit.envvar import EnvVarCreate, EnvVarFilter, Scope
from deploykit.errors import CONFLICT, INVALID, Error
from deploykit.project import ProjectCreate
from deploykit_backup import (
    ArchiveWriter,
    BackupSources,
    S3Location,
    create_backup,
    read_archive,
    restore_backup,
    verify_backup,
)
from deploykit_sqlite import Store
from deploykit_sqlite.cipher import KEY_FILE
from deploykit_sqlite.db import dumps
from deploykit_sqlite.envvar import insert_env_var
from deploykit_sqlite.sealed_config import seal_source
from deploykit_sqlite.snapshot import SQLiteArchiver
from tests.sqlite.support import RecordingBus


async def make_data_dir(data_dir: Path) -> str:
    """A data directory with a project and a sealed env var; the project's id."""
    async with Store(path=str(data_dir / "deploykit.db"), data_dir=data_dir, bus=RecordingBus(), bcrypt_rounds=4) as s:
        project = await s.projects.create_project(ProjectCreate(name="Shop"))
        async with s.db.tx() as tx:
            await insert_env_var(tx, EnvVarCreate(project.id, Scope.PROJECT, project.id, "DB_PASSWORD", "s3cret"))
            config = seal_source(tx, {"source": {"type": "git", "repo_url": "https://me:token@git.example/r.git"}})
            await tx.execute(
                "INSERT INTO services (id, project_id, name, name_key, slug, config, status, created_at, updated_at) "
                "VALUES ('svc-1', ?, 'api', 'api', 'api', ?, 'created', '2026-01-01', '2026-01-01')",
                (project.id, dumps(config)),
            )
    return project.id


async def backup_of(data_dir: Path, out: Path) -> BackupReport:
    sources = BackupSources(database=SQLiteArchiver(data_dir / "deploykit.db"), key_file=data_dir / KEY_FILE)
    return await create_backup(sources, out)


@pytest.fixture
async def archive(tmp_path: Path) -> Path:
    await make_data_dir(tmp_path / "data")
    out = tmp_path / "backup.tar.zst"
    await backup_of(tmp_path / "data", out)
    return out


async def test_a_backup_restores_into_an_empty_directory_with_its_secrets(tmp_path: Path) -> None:
    project_id = await make_data_dir(tmp_path / "data")
    report = await backup_of(tmp_path / "data", tmp_path / "backup.tar.zst")
    assert set(report.manifest.files) == {DATABASE_MEMBER, KEY_MEMBER}
    assert report.manifest.schema_version > 0
    assert report.size_bytes == (tmp_path / "backup.tar.zst").stat().st_size
    assert leftovers(tmp_path) == []

    target = tmp_path / "restored"
    restored = await restore_backup(
        tmp_path / "backup.tar.zst", data_dir=target, database=SQLiteArchiver(target / "deploykit.db"), volumes=None
    )
    assert restored.volumes == []
    assert os.stat(target / KEY_FILE).st_mode & 0o777 == 0o600
    async with Store(path=str(target / "deploykit.db"), data_dir=target, bus=RecordingBus(), bcrypt_rounds=4) as s:
        env = await s.env_vars.list_env_vars(EnvVarFilter(project_id=project_id, scope=Scope.PROJECT))
        assert [(v.key, v.value) for v in env] == [("DB_PASSWORD", "s3cret")]


async def test_a_sound_archive_verifies_without_problems(archive: Path) -> None:
    manifest, problems = await verify_backup(archive, SQLiteArchiver(archive))
    assert problems == []
    assert manifest is not None


async def test_restore_refuses_a_non_empty_directory_unless_forced(archive: Path, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "deploykit.db").write_bytes(b"something of value")
    db = SQLiteArchiver(target / "deploykit.db")
    with pytest.raises(Error) as exc:
        await restore_backup(archive, data_dir=target, database=db, volumes=None)
    assert (exc.value.code, exc.value.message) == (CONFLICT, f"{target} is not empty; pass --force to restore over it.")
    assert (target / "deploykit.db").read_bytes() == b"something of value"

    await restore_backup(archive, data_dir=target, database=db, volumes=None, force=True)
    assert (target / "deploykit.db").read_bytes().startswith(b"SQLite format 3")


def leftovers(folder: Path) -> list[Path]:
    return list(folder.glob("*.partial"))


def truncate(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def flip_byte(path: Path, at: float) -> None:
    raw = bytearray(path.read_bytes())
    raw[int(len(raw) * at)] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("at", [0.3, 0.5, 0.9])
async def test_a_flipped_byte_is_found_and_a_restore_refuses_it(archive: Path, tmp_path: Path, at: float) -> None:
    flip_byte(archive, at)
    _, problems = await verify_backup(archive, SQLiteArchiver(archive))
    assert problems
    target = tmp_path / "target"
    with pytest.raises(Error) as exc:
        await restore_backup(archive, data_dir=target, database=SQLiteArchiver(target / "x.db"), volumes=None)
    assert exc.value.code == INVALID
    assert exc.value.message.startswith("The archive is damaged: ")
    assert not (target / "deploykit.db").exists()


async def test_a_truncated_archive_is_damaged(archive: Path) -> None:
    truncate(archive)
    manifest, problems = await verify_backup(archive, SQLiteArchiver(archive))
    assert manifest is None
    assert any(p.startswith("the archive is damaged") for p in problems)
    assert "the archive has no readable manifest" in problems


def rewrite(archive: Path, out: Path, *, replace: dict[str, bytes], manifest: Manifest | None = None) -> None:
    """Copy an archive member by member, replacing some members' bytes; the manifest recomputed
    from what is written unless one is given."""
    work = out.parent / "members"
    work.mkdir(exist_ok=True)
    contents: dict[str, bytes] = {}
    original, _ = read_archive(archive, lambda name, src: contents.__setitem__(name, src.read()))
    assert original is not None
    with ArchiveWriter(out) as writer:
        for name, data in contents.items():
            (work / "m").write_bytes(replace.get(name, data))
            writer.add_file(name, work / "m")
        writer.finish(manifest or Manifest(**{**original.__dict__, "files": dict(writer.files)}))


async def test_a_key_that_does_not_open_the_secrets_is_found(archive: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-key.tar.zst"
    rewrite(archive, wrong, replace={KEY_MEMBER: os.urandom(32)})
    _, problems = await verify_backup(wrong, SQLiteArchiver(wrong))
    assert problems == [
        "env_vars.value: 1 of 1 sealed values do not decrypt with the archived key",
        "services.config: 1 of 1 sealed repository URLs do not decrypt with the archived key",
    ]


async def test_a_member_that_does_not_match_its_checksum_is_found(archive: Path, tmp_path: Path) -> None:
    original, _ = read_archive(archive)
    assert original is not None
    stale = tmp_path / "stale.tar.zst"
    rewrite(archive, stale, replace={KEY_MEMBER: os.urandom(32)}, manifest=original)
    _, problems = await verify_backup(stale, SQLiteArchiver(stale))
    assert len(problems) == 1
    assert problems[0].startswith(f"{KEY_MEMBER}: checksum mismatch")


async def test_a_plain_tar_archive_is_uncompressed_and_verifies(tmp_path: Path) -> None:
    await make_data_dir(tmp_path / "data")
    out = tmp_path / "backup.tar"
    await backup_of(tmp_path / "data", out)
    with tarfile.open(out) as tar:
        assert tar.getnames() == [DATABASE_MEMBER, KEY_MEMBER, MANIFEST_MEMBER]
    assert (await verify_backup(out, SQLiteArchiver(out)))[1] == []


@pytest.mark.parametrize(
    ("url", "bucket", "prefix", "key"),
    [
        ("s3://backups", "backups", "", "a.tar.zst"),
        ("s3://backups/deploykit/", "backups", "deploykit", "deploykit/a.tar.zst"),
        ("s3://backups/a/b", "backups", "a/b", "a/b/a.tar.zst"),
    ],
)
def test_s3_locations_parse(url: str, bucket: str, prefix: str, key: str) -> None:
    loc = S3Location.parse(url)
    assert (loc.bucket, loc.prefix, loc.key("a.tar.zst")) == (bucket, prefix, key)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/tmp/x", "'/tmp/x' is not an s3://bucket/prefix address."),
        ("s3://", "'s3://' names no bucket."),
    ],
)
def test_bad_s3_locations_are_refused(url: str, message: str) -> None:
    with pytest.raises(Error) as exc:
        S3Location.parse(url)
    assert (exc.value.code, exc.value.message) == (INVALID, message)
