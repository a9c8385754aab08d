"""The build context of a checkout: a tar of the context directory as the docker CLI would send it,
honouring ``.dockerignore``."""

from __future__ import annotations

import os
import re
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from deploykit import INVALID, Error

OUTSIDE_DOCKERFILE = ".deploykit.Dockerfile"
"""The name a Dockerfile from outside the context gets inside the tar (as the docker CLI does)."""
MAX_DOCKERIGNORE_BYTES = 1024 * 1024


def write_context(
    repo: Path, context: str, dockerfile_path: str, tar_path: Path, default_ignores: tuple[str, ...]
) -> str:
    """Write the build context of a checkout as a tar, honouring ``.dockerignore``; return the
    Dockerfile's path inside the context. Raises ``invalid`` for paths that leave the repository.

    ``dockerfile_path`` is relative to the repository root; when no file is there but one is at
    ``context/dockerfile_path``, that one is used."""
    root = repo.resolve()
    ctx = _inside(root, context, "context")
    if not ctx.is_dir():
        raise Error(INVALID, f"docker build failed: the context {context!r} is not a directory in the repository.")
    dockerfile = _inside(root, dockerfile_path, "dockerfile_path")
    if not dockerfile.is_file():
        alternative = _inside(root, str(PurePosixPath(context) / dockerfile_path), "dockerfile_path")
        if not alternative.is_file():
            raise Error(INVALID, f"docker build failed: no Dockerfile at {dockerfile_path!r} in the repository.")
        dockerfile = alternative
    inside = dockerfile.is_relative_to(ctx)
    name = dockerfile.relative_to(ctx).as_posix() if inside else OUTSIDE_DOCKERFILE
    patterns = [*default_ignores, *read_dockerignore(ctx / ".dockerignore")]
    ignore = DockerIgnore([*patterns, f"!{name}", "!.dockerignore"])
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for path, arcname in ignore.walk(ctx):
            info = tar.gettarinfo(str(path), arcname)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isreg():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
        if not inside:
            info = tar.gettarinfo(str(dockerfile), name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with dockerfile.open("rb") as f:
                tar.addfile(info, f)
    return name


def read_dockerignore(path: Path) -> list[str]:
    """The lines of a context's ``.dockerignore``; none when there is none. Raises ``invalid`` unless it
    is a regular file of at most ``MAX_DOCKERIGNORE_BYTES``: a symlink (to ``/proc/kmsg``, whose
    read never ends, or to a secret of the host) is never followed, nor a FIFO or device opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    except OSError as exc:
        if path.is_symlink():
            raise Error(INVALID, "docker build failed: .dockerignore is a symlink; it must be a regular file.") from exc
        raise Error(INVALID, f"docker build failed: .dockerignore cannot be read ({exc.strerror}).") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Error(INVALID, "docker build failed: .dockerignore must be a regular file.")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_DOCKERIGNORE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_DOCKERIGNORE_BYTES:
        raise Error(INVALID, f"docker build failed: .dockerignore is larger than {MAX_DOCKERIGNORE_BYTES // 1024} KiB.")
    return data.decode(errors="replace").splitlines()


def _inside(root: Path, relative: str, what: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise Error(INVALID, f"docker build failed: {what} {relative!r} leaves the repository.")
    return path


class DockerIgnore:
    """``.dockerignore`` rules as the docker CLI reads them: Go-style globs with ``**``, ``!``
    exceptions, the last matching rule wins, and a rule that matches a directory covers its contents."""

    def __init__(self, lines: list[str]) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = os.path.normpath(line[1:].strip() if negate else line).lstrip("/")
            if pattern in ("", "."):
                continue
            self.rules.append((negate, re.compile(_glob_to_regex(pattern))))
        self.has_exceptions = any(negate for negate, _ in self.rules)

    def excluded(self, path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for negate, regex in self.rules:
            if any(regex.fullmatch(p) for p in prefixes):
                result = not negate
        return result

    def walk(self, ctx: Path) -> Iterator[tuple[Path, str]]:
        """(path, name in the tar) of every entry to send, parents before children; symlinks are
        sent as links, never followed."""
        for dirpath, dirnames, filenames in os.walk(ctx):
            base = Path(dirpath)
            rel = base.relative_to(ctx).as_posix()
            keep_dirs = []
            for name in sorted(dirnames):
                arc = name if rel == "." else f"{rel}/{name}"
                path = base / name
                if path.is_symlink():
                    filenames.append(name)
                    continue
                if self.excluded(arc):
                    if self.has_exceptions:
                        keep_dirs.append(name)  # something below may be re-included
                    continue
                keep_dirs.append(name)
                yield path, arc
            dirnames[:] = keep_dirs
            for name in sorted(filenames):
                arc = name if rel == "." else f"{rel}/{name}"
                if not self.excluded(arc):
                    yield base / name, arc


def _glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                body = "^" + body[1:] if body.startswith("^") else body
                out.append(f"[{body}]")
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)
