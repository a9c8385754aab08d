"""DockerBuilder against a real engine: builds from real git repositories (file:// and SSH), pinned
commits, failing steps, cancellation, timeouts, the memory cap, and pruning."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deploykit import Error
from deploykit.build import BuildRequest, BuildResult
from deploykit.service import GitSource
from deploykit_docker.build_queue import BuildQueue
from deploykit_docker.builder import DockerBuilder
from deploykit_docker.keys import generate_deploy_key
from tests.builder.conftest import LOCAL, Images, Repo, Sshd, run, run_image
from tests.wait import wait_for

pytestmark = pytest.mark.docker


def request(url: str, tag: str, **kw: Any) -> BuildRequest:
    return BuildRequest(deployment_id=str(uuid.uuid4()), source=GitSource(repo_url=url), tag=tag, **kw)


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def containers_running(token: str) -> list[str]:
    """Containers (any state) whose command mentions ``token``."""
    out = docker("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}")
    return [line.split()[0] for line in out.splitlines() if token in line]


class LogWatch:
    """Collects build log lines and lets a test wait for one (the whole line, so that a step's
    output is not mistaken for the step's header that quotes it)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._seen: dict[str, asyncio.Event] = {}

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if line in self._seen:
            self._seen[line].set()

    async def wait_for(self, text: str, within: float = 20) -> None:
        event = self._seen.setdefault(text, asyncio.Event())
        if text in self.lines:
            return
        await asyncio.wait_for(event.wait(), within)


async def test_build_from_a_file_repo_serves_its_content(
    builder: DockerBuilder, make_repo: Callable[..., Repo], images: Images, test_image: str
) -> None:
    repo = make_repo("hello from git\n")
    head = run("git", "rev-parse", "HEAD", cwd=repo.path).stdout.strip()
    tag = images.tag()
    logs = LogWatch()
    result = await builder.build(request(repo.url, tag), logs)
    assert result == BuildResult(image=tag, commit_sha=head, commit_message="first commit", known_hosts=None)
    assert run_image(images, tag, "cat", "/www/index.html") == "hello from git\n"
    # The Dockerfile's steps and no more: no label step (the image's name says it is DeployKit's).
    assert [line for line in logs.lines if line.startswith("Step ")] == [
        f"Step 1/2 : FROM {test_image}",
        "Step 2/2 : COPY index.html /www/index.html",
    ]
    assert f"Successfully tagged {tag}" in logs.lines
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", tag)) or {}
    assert "managed-by" not in labels
    await builder.cloner.drain()  # the checkout goes beside what follows the build
    assert list((builder.cloner.work_dir).iterdir()) == []


async def test_build_pinned_to_an_older_commit(
    builder: DockerBuilder, make_repo: Callable[..., Repo], images: Images
) -> None:
    repo = make_repo("old page\n")
    old = run("git", "rev-parse", "HEAD", cwd=repo.path).stdout.strip()
    repo.commit({"index.html": "new page\n"}, "newer")
    tag = images.tag()
    result = await builder.build(request(repo.url, tag, commit_sha=old), lambda _: None)
    assert (result.commit_sha, result.commit_message) == (old, "first commit")
    assert run_image(images, tag, "cat", "/www/index.html") == "old page\n"


async def test_build_from_an_ssh_repo_with_the_deploy_key(
    builder: DockerBuilder, sshd: Sshd, make_repo: Callable[..., Repo], images: Images, tmp_path: Path
) -> None:
    work = make_repo("private page\n")
    bare = tmp_path / "private.git"
    run("git", "clone", "-q", "--bare", str(work.path), str(bare))
    key = generate_deploy_key()
    sshd.authorized_keys.write_text(key.public_key + "\n")

    with pytest.raises(Error) as info:
        await builder.build(request(sshd.url(bare), images.tag()), lambda _: None)
    assert info.value.code == "invalid"
    assert "Permission denied (publickey)" in info.value.message

    tag = images.tag()
    result = await builder.build(request(sshd.url(bare), tag, deploy_key=key.private_key), lambda _: None)
    assert result.known_hosts is not None
    assert result.known_hosts.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    assert run_image(images, tag, "cat", "/www/index.html") == "private page\n"


async def test_failing_step_fails_the_build_with_that_steps_output(
    builder: DockerBuilder, make_repo: Callable[..., Repo], images: Images
) -> None:
    token = uuid.uuid4().hex
    repo = make_repo("x\n", f"RUN echo compiling-{token} && echo broken >&2 && exit 3")
    logs = LogWatch()
    with pytest.raises(Error) as info:
        await builder.build(request(repo.url, images.tag()), logs)
    assert info.value.code == "invalid"
    header, *output, error = info.value.message.split("\n")
    assert header == f"docker build failed: Step 3/3 : RUN echo compiling-{token} && echo broken >&2 && exit 3"
    assert sorted(output) == ["broken", f"compiling-{token}"]  # stdout and stderr, in either order
    assert error == (
        f"The command '/bin/sh -c echo compiling-{token} && echo broken >&2 && exit 3' returned a non-zero code: 3"
    )
    assert f"compiling-{token}" in logs.lines
    assert containers_running(token) == []  # forcerm: nothing left behind


async def test_missing_dockerfile_is_invalid(
    builder: DockerBuilder, make_repo: Callable[..., Repo], images: Images
) -> None:
    repo = make_repo()
    req = BuildRequest(
        deployment_id="d", source=GitSource(repo_url=repo.url, dockerfile_path="deploy/Dockerfile"), tag=images.tag()
    )
    with pytest.raises(Error) as info:
        await builder.build(req, lambda _: None)
    assert (info.value.code, info.value.message) == (
        "invalid",
        "docker build failed: no Dockerfile at 'deploy/Dockerfile' in the repository.",
    )


async def test_dockerfile_the_engine_cannot_parse_is_invalid(
    builder: DockerBuilder, make_repo: Callable[..., Repo], images: Images
) -> None:
    repo = make_repo()
    repo.commit({"Dockerfile": "FORM deploykit-test/busybox:latest\n"}, "typo")
    logs = LogWatch()
    with pytest.raises(Error) as info:
        await builder.build(request(repo.url, images.tag()), logs)
    message = "docker build failed: dockerfile parse error line 1: unknown instruction: FORM"
    assert (info.value.code, info.value.message) == ("invalid", message)
    assert logs.lines[-1] == message


async def test_cancelling_a_running_build_stops_it_in_the_engine(
    builder: DockerBuilder, make_repo: Callable[..., Repo], images: Images
) -> None:
    token = uuid.uuid4().hex
    repo = make_repo("x\n", f"RUN echo started-{token} && sleep 60")
    logs = LogWatch()
    task = asyncio.create_task(builder.build(request(repo.url, images.tag()), logs))
    await logs.wait_for(f"started-{token}")
    assert containers_running(token) != []

    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 5
    await wait_for(lambda: containers_running(token) == [], within=15, message="the build container to go")
    assert list(builder.cloner.work_dir.iterdir()) == []


async def test_build_over_its_timeout_is_stopped_and_reported(
    builder: DockerBuilder, make_repo: Callable[..., Repo], images: Images
) -> None:
    token = uuid.uuid4().hex
    repo = make_repo("x\n", f"RUN echo started-{token} && sleep 60")
    logs = LogWatch()
    started = time.monotonic()
    with pytest.raises(Error) as info:
        await builder.build(request(repo.url, images.tag(), timeout_s=4.0), logs)
    assert (info.value.code, info.value.message) == ("invalid", "build timed out after 4 s")
    assert time.monotonic() - started < 10
    assert f"started-{token}" in logs.lines
    assert logs.lines[-1] == "Build timed out after 4 s and was stopped."
    await wait_for(lambda: containers_running(token) == [], within=15, message="the build container to go")


async def test_build_steps_run_under_the_memory_cap(
    builder: DockerBuilder, make_repo: Callable[..., Repo], images: Images
) -> None:
    repo = make_repo(
        "x\n",
        "RUN echo limit=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)",
    )
    logs = LogWatch()
    await builder.build(request(repo.url, images.tag(), memory_mb=96), logs)
    assert f"limit={96 * 1024 * 1024}" in logs.lines


async def test_dockerignore_and_git_metadata_stay_out_of_the_context(
    builder: DockerBuilder, make_repo: Callable[..., Repo], images: Images
) -> None:
    repo = make_repo("x\n", "COPY . /ctx")
    repo.commit(
        {
            ".dockerignore": "secret.txt\nlogs\n!logs/keep.log\n",
            "secret.txt": "s",
            "logs/a.log": "a",
            "logs/keep.log": "k",
        },
        "context files",
    )
    tag = images.tag()
    await builder.build(request(repo.url, tag), lambda _: None)
    listing = run_image(images, tag, "find", "/ctx").split()
    assert sorted(listing) == [
        "/ctx", "/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/index.html", "/ctx/logs", "/ctx/logs/keep.log",
    ]  # fmt: skip


async def test_newer_build_of_a_service_cancels_the_running_older_one(
    builder: DockerBuilder, make_repo: Callable[..., Repo], images: Images
) -> None:
    token = uuid.uuid4().hex
    slow = make_repo("old\n", f"RUN echo started-{token} && sleep 60", name="slow")
    fast = make_repo("new\n", name="fast")
    queue = BuildQueue(builder, max_concurrent=1)
    logs = LogWatch()
    older = asyncio.create_task(queue.build("svc", request(slow.url, images.tag()), logs))
    await logs.wait_for(f"started-{token}")

    tag = images.tag()
    result = await queue.build("svc", request(fast.url, tag), lambda _: None)
    with pytest.raises(Error) as info:
        await older
    assert (info.value.code, info.value.message) == ("conflict", "Cancelled: a newer build of this service started.")
    assert result.image == tag
    assert run_image(images, tag, "cat", "/www/index.html") == "new\n"
    await wait_for(lambda: containers_running(token) == [], within=15, message="the older build's container to go")


async def test_prune_keeps_the_newest_and_the_images_in_use(
    builder: DockerBuilder, make_repo: Callable[..., Repo], images: Images
) -> None:
    repo = make_repo()
    name = f"prune{uuid.uuid4().hex[:8]}"
    tags = [images.tag(name) for _ in range(4)]
    for i, tag in enumerate(tags):  # oldest first, each from a new commit
        repo.commit({"index.html": f"v{i}\n"}, f"v{i}")
        await builder.build(request(repo.url, tag), lambda _: None)
    docker("tag", "deploykit-test/busybox:latest", f"deploykit/test-{name}:unmanaged")
    images.tags.append(f"deploykit/test-{name}:unmanaged")

    removed = await builder.prune_images(f"deploykit/test-{name}", keep=2, in_use={tags[0]})
    assert removed == [tags[1]]
    left = docker("images", "--format", "{{.Repository}}:{{.Tag}}", f"deploykit/test-{name}").split()
    assert sorted(left) == sorted([tags[0], tags[2], tags[3], f"deploykit/test-{name}:unmanaged"])


async def test_unreachable_engine_is_unavailable(tmp_path: Path, make_repo: Callable[..., Repo]) -> None:
    repo = make_repo()
    async with DockerBuilder(
        docker_url=f"unix://{tmp_path}/no-docker.sock", work_dir=tmp_path / "b", settings=LOCAL
    ) as b:
        with pytest.raises(Error) as info:
            await b.build(request(repo.url, "deploykit/test-x:never"), lambda _: None)
    assert (info.value.code, info.value.message) == ("unavailable", "The Docker engine is not reachable.")
