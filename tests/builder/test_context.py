"""The build context: .dockerignore rules as the docker CLI reads them, and paths that must stay
inside the repository."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from deploykit import Error
from deploykit_docker.build_context import MAX_DOCKERIGNORE_BYTES, OUTSIDE_DOCKERFILE, DockerIgnore, write_context


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*.log"], "a.log", True),
        (["*.log"], "dir/a.log", False),
        (["**/*.log"], "dir/sub/a.log", True),
        (["**/*.log"], "a.log", True),
        (["node_modules"], "node_modules/x/y.js", True),
        (["/build"], "build/out", True),
        (["build/"], "build/out", True),
        (["docs/*.md", "!docs/README.md"], "docs/README.md", False),
        (["docs/*.md", "!docs/README.md"], "docs/other.md", True),
        (["!keep", "*"], "keep", True),  # the last matching rule wins
        (["# comment", ""], "anything", False),
        (["te?t"], "test", True),
        (["[a-c]*"], "bee", True),
        (["[a-c]*"], "dee", False),
    ],
)
def test_dockerignore_rules(patterns: list[str], path: str, excluded: bool) -> None:
    assert DockerIgnore(patterns).excluded(path) is excluded


def names(tar_path: Path) -> list[str]:
    with tarfile.open(tar_path) as tar:
        return sorted(m.name for m in tar.getmembers())


def test_context_is_the_subdirectory_with_a_dockerfile_from_elsewhere(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "main.py").write_text("print()")
    (repo / "ops").mkdir()
    (repo / "ops" / "Dockerfile").write_text("FROM x")
    dockerfile = write_context(repo, "app", "ops/Dockerfile", tmp_path / "c.tar", (".git",))
    assert dockerfile == OUTSIDE_DOCKERFILE
    assert names(tmp_path / "c.tar") == [OUTSIDE_DOCKERFILE, "main.py"]


def test_dockerfile_path_relative_to_the_context_is_found(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "Dockerfile").write_text("FROM x")
    assert write_context(repo, "app", "Dockerfile", tmp_path / "c.tar", ()) == "Dockerfile"


def test_ignored_dockerfile_is_still_sent(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM x")
    (repo / ".dockerignore").write_text("*\n")
    (repo / "big.bin").write_text("x")
    write_context(repo, ".", "Dockerfile", tmp_path / "c.tar", ())
    assert names(tmp_path / "c.tar") == [".dockerignore", "Dockerfile"]


def test_symlinks_are_sent_as_links_not_followed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM x")
    (repo / "passwd").symlink_to("/etc/passwd")
    (repo / "etc").symlink_to("/etc")
    write_context(repo, ".", "Dockerfile", tmp_path / "c.tar", ())
    with tarfile.open(tmp_path / "c.tar") as tar:
        links = {m.name: (m.issym(), m.linkname) for m in tar.getmembers() if m.name != "Dockerfile"}
    assert links == {"passwd": (True, "/etc/passwd"), "etc": (True, "/etc")}


@pytest.mark.parametrize(
    ("context", "dockerfile", "message"),
    [
        ("escape", "Dockerfile", "docker build failed: context 'escape' leaves the repository."),
        (".", "escape/passwd", "docker build failed: dockerfile_path 'escape/passwd' leaves the repository."),
        ("missing", "Dockerfile", "docker build failed: the context 'missing' is not a directory in the repository."),
    ],
)
def test_paths_must_stay_inside_the_repository(tmp_path: Path, context: str, dockerfile: str, message: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM x")
    (repo / "escape").symlink_to("/etc")
    with pytest.raises(Error) as info:
        write_context(repo, context, dockerfile, tmp_path / "c.tar", ())
    assert (info.value.code, info.value.message) == ("invalid", message)


def context_with_ignore(tmp_path: Path, make: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM scratch\n")
    ignore = repo / ".dockerignore"
    if make == "symlink":
        ignore.symlink_to("/proc/kmsg")
    elif make == "fifo":
        os.mkfifo(ignore)  # opening it for reading would wait for a writer forever
    elif make == "directory":
        ignore.mkdir()
    elif make == "huge":
        ignore.write_text("x\n" * (MAX_DOCKERIGNORE_BYTES // 2 + 1))
    return repo


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("symlink", "docker build failed: .dockerignore is a symlink; it must be a regular file."),
        ("fifo", "docker build failed: .dockerignore must be a regular file."),
        ("directory", "docker build failed: .dockerignore must be a regular file."),
        ("huge", "docker build failed: .dockerignore is larger than 1024 KiB."),
    ],
)
def test_a_dockerignore_that_is_not_a_small_regular_file_is_refused(tmp_path: Path, make: str, message: str) -> None:
    repo = context_with_ignore(tmp_path, make)
    with pytest.raises(Error) as info:
        write_context(repo, ".", "Dockerfile", tmp_path / "context.tar", (".git",))
    assert (info.value.code, info.value.message) == ("invalid", message)
