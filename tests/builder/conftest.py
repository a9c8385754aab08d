"""Fixtures for build tests: real git repositories, a real sshd on loopback, a DockerBuilder, and
cleanup of every image and container a test makes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploykit_docker.builder import BuildSettings, DockerBuilder
from deploykit_docker.git import GitSettings

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


LOCAL = BuildSettings(git=GitSettings(allow_local=True))
"""The tests' repositories and sshd are on this host: what ``--allow-local-repos`` allows."""


def run(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=check, timeout=60)


@dataclass
class Repo:
    """A work tree whose commits a test adds; ``url`` is its file:// URL."""

    path: Path

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def commit(self, files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        run("git", "add", "-A", cwd=self.path)
        run("git", "commit", "-q", "-m", message, cwd=self.path)
        return run("git", "rev-parse", "HEAD", cwd=self.path).stdout.strip()


def dockerfile(image: str, *steps: str) -> str:
    return "\n".join([f"FROM {image}", "COPY index.html /www/index.html", *steps, ""])


@pytest.fixture
def make_repo(tmp_path: Path, test_image: str) -> Callable[..., Repo]:
    """A fresh repository on branch main with a Dockerfile (FROM the test image, COPY index.html)."""

    def make(content: str = "hello v1\n", *steps: str, name: str = "repo") -> Repo:
        repo = Repo(tmp_path / name)
        run("git", "init", "-q", "-b", "main", str(repo.path))
        repo.commit({"Dockerfile": dockerfile(test_image, *steps), "index.html": content}, "first commit")
        return repo

    return make


@dataclass
class Images:
    """Tags and containers to remove when the test ends."""

    tags: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)

    def tag(self, name: str = "svc") -> str:
        tag = f"deploykit/test-{name}:{uuid.uuid4().hex[:12]}"
        self.tags.append(tag)
        return tag


@pytest.fixture
def images() -> Iterator[Images]:
    made = Images()
    yield made
    for cid in made.containers:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, timeout=60)
    for tag in made.tags:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)


@pytest.fixture
async def builder(tmp_path: Path) -> AsyncIterator[DockerBuilder]:
    async with DockerBuilder(work_dir=tmp_path / "builds", settings=LOCAL) as b:
        yield b


def run_image(images: Images, tag: str, *cmd: str) -> str:
    """Run ``cmd`` in a throwaway container of ``tag``; its stdout."""
    name = f"dk-test-{uuid.uuid4().hex[:12]}"
    images.containers.append(name)
    out = subprocess.run(["docker", "run", "--name", name, tag, *cmd], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    """A real OpenSSH server on loopback serving the bare repositories under ``dir``."""

    dir: Path
    port: int
    authorized_keys: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def url(self, repo: Path) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{repo}"

    def start(self, host_key: Path) -> None:
        """(Re)start the server with ``host_key``; returns once it listens."""
        self.stop()
        config = self.dir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    "StrictModes no",
                    "UsePAM no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "",
                ]
            )
        )
        proc = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        listening = threading.Event()
        lines: list[str] = []

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append(line)
                if "Server listening" in line:
                    listening.set()

        threading.Thread(target=read, daemon=True).start()
        if not listening.wait(timeout=10):
            self.stop()
            pytest.fail("sshd did not start: " + "".join(lines))

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=10)
        self.procs.clear()


def host_key(path: Path) -> Path:
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path))
    return path


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    if shutil.which("/usr/sbin/sshd") is None:
        pytest.skip("no /usr/sbin/sshd (apt-get install openssh-server)")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    d = tmp_path / "sshd"
    d.mkdir()
    server = Sshd(dir=d, port=free_port(), authorized_keys=d / "authorized_keys")
    server.authorized_keys.write_text("")
    server.start(host_key(d / "host_key_1"))
    yield server
    server.stop()
