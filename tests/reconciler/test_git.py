"""Git sources: the reconciler drives the build scheduler, then rolls the built image out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import pytest

from deploykit.bus import EventType
from deploykit.runtime import image_tag
from deploykit_docker.build_queue import BuildQueue
from deploykit_docker.builder import DockerBuilder
from tests.builder.conftest import LOCAL
from tests.reconciler.support import Harness, docker_cli, http_get
from tests.wait import wait_for

pytestmark = pytest.mark.docker


async def git(*args: str, cwd: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode().strip()


def write_files(path: Path, image: str, extra: str, page: str = "built from git\n") -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "Dockerfile").write_text(
        f'FROM {image}\n{extra}COPY index.html /www/index.html\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
    )
    (path / "index.html").write_text(page)


async def make_repo(path: Path, image: str, extra: str = "") -> str:
    write_files(path, image, extra)
    await git("init", "-q", "-b", "main", cwd=path)
    await git("-c", "user.email=t@example.test", "-c", "user.name=t", "add", "-A", cwd=path)
    await git("-c", "user.email=t@example.test", "-c", "user.name=t", "commit", "-q", "-m", "first page", cwd=path)
    return await git("rev-parse", "HEAD", cwd=path)


@pytest.fixture
async def building(harness: Harness, tmp_path: Path) -> AsyncIterator[Harness]:
    async with DockerBuilder(work_dir=tmp_path / "builds", settings=LOCAL) as builder:
        harness.builds = BuildQueue(builder, max_concurrent=1)
        await harness.stop()
        await harness.start()
        yield harness
        await harness.stop()


async def test_git_service_is_built_then_rolled_out(building: Harness, tmp_path: Path) -> None:
    harness = building
    head = await make_repo(tmp_path / "repo", harness.image)
    project = await harness.project("Git")
    service = await harness.create_service(
        project, "app", port=8080, source={"type": "git", "repo_url": f"file://{tmp_path / 'repo'}", "branch": "main"}
    )
    (deployment,) = await harness.deployments(service.id)
    tag = image_tag(project.slug, service.slug, deployment.id, harness.instance_id)
    try:
        healthy = await harness.wait_deployment(deployment.id, "healthy", within=120)
        assert (healthy.image, healthy.commit_sha, healthy.commit_message) == (tag, head, "first page")
        assert "COPY index.html" in await harness.store.deployments.get_log(deployment.id)
        (c,) = await harness.running(service.id)
        assert c.ip_address is not None
        ip = c.ip_address

        async def serves() -> bool:
            return await http_get(ip, 8080, "/") == (200, "built from git\n")

        await wait_for(serves, within=20, message="the built page")
    finally:
        await harness.stop()
        await harness.cleanup()
        await docker_cli("rmi", "-f", tag, check=False)


async def test_failing_build_fails_the_deployment_with_the_step_output(building: Harness, tmp_path: Path) -> None:
    harness = building
    await make_repo(tmp_path / "repo", harness.image, extra="RUN echo compiling && echo broken-step >&2 && exit 3\n")
    project = await harness.project("GitFail")
    service = await harness.create_service(
        project, "app", port=8080, source={"type": "git", "repo_url": f"file://{tmp_path / 'repo'}", "branch": "main"}
    )
    (deployment,) = await harness.deployments(service.id)
    failed = await harness.wait_deployment(deployment.id, "failed", within=120)
    assert failed.failure_reason is not None
    assert failed.failure_reason.startswith("build failed:")
    assert failed.log_tail is not None
    assert "broken-step" in failed.log_tail
    assert not await harness.containers(service_id=service.id)
    await harness.wait_status(service.id, "failed")


async def test_rollback_to_a_pruned_image_rebuilds_its_commit(building: Harness, tmp_path: Path) -> None:
    harness = building
    repo = tmp_path / "repo"
    first_sha = await make_repo(repo, harness.image)
    project = await harness.project("GitRollback")
    service = await harness.create_service(
        project, "app", port=8080, source={"type": "git", "repo_url": f"file://{repo}", "branch": "main"}
    )
    (first,) = await harness.deployments(service.id)
    tags = {image_tag(project.slug, service.slug, first.id, harness.instance_id)}
    events = harness.bus.subscribe(
        frozenset({EventType.DEPLOYMENT_BUILDING, EventType.DEPLOYMENT_STARTING, EventType.DEPLOYMENT_HEALTHY}),
        project_id=project.id,
    )
    try:
        first = await harness.wait_deployment(first.id, "healthy", within=120)
        assert first.image is not None
        write_files(repo, harness.image, "", page="second page\n")
        await git("-c", "user.email=t@example.test", "-c", "user.name=t", "commit", "-qam", "second", cwd=repo)
        # A redeploy builds the branch's new head (a config-only change would reuse the image).
        second_id = (await harness.store.deployments.redeploy(service.id, None)).id
        tags.add(image_tag(project.slug, service.slug, second_id, harness.instance_id))
        second = await harness.wait_deployment(second_id, "healthy", within=120)
        assert second.commit_sha != first_sha
        await harness.wait_deployment(first.id, "superseded")
        # The builder pruned it (it keeps a few images per service): gone from the engine.
        async with aiodocker.Docker() as docker:
            await docker.images.delete(first.image, force=True)

        rollback = await harness.store.deployments.rollback(service.id, first.id, None)
        healthy = await harness.wait_deployment(rollback.id, "healthy", within=120)

        assert (healthy.image, healthy.commit_sha) == (first.image, first_sha)
        assert "rebuilding commit" in await harness.store.deployments.get_log(rollback.id)
        statuses: list[str] = []
        async with asyncio.timeout(5):
            async for event in events:
                if event.payload.get("deployment_id") == rollback.id:
                    statuses.append(event.payload["status"])
                if statuses[-1:] == ["healthy"]:
                    break
        assert statuses == ["building", "starting", "healthy"]
        (c,) = await harness.running(service.id, rollback.id)
        assert c.ip_address is not None
        ip = c.ip_address

        async def serves_first_page() -> bool:
            return await http_get(ip, 8080, "/") == (200, "built from git\n")

        await wait_for(serves_first_page, within=20, message="the rebuilt first page")
    finally:
        events.close()
        await harness.stop()
        await harness.cleanup()
        for tag in tags:
            await docker_cli("rmi", "-f", tag, check=False)


async def test_a_deleted_projects_images_go_and_another_installations_stay(building: Harness, tmp_path: Path) -> None:
    """Built images carry no label: a deleted project's are found by their name, which holds the
    project's slug and the installation's id, so that another installation's images of the same
    project and service names are never taken."""
    harness = building
    await make_repo(tmp_path / "repo", harness.image)
    project = await harness.project("GitGone")
    service = await harness.create_service(
        project, "app", port=8080, source={"type": "git", "repo_url": f"file://{tmp_path / 'repo'}", "branch": "main"}
    )
    (deployment,) = await harness.deployments(service.id)
    tag = image_tag(project.slug, service.slug, deployment.id, harness.instance_id)
    other = image_tag(project.slug, service.slug, deployment.id, f"{harness.instance_id}-other")
    unmanaged = f"{tag.rpartition(':')[0]}-mine:latest"  # not a name DeployKit builds
    kept_project = await harness.project("GitKept")
    kept_service = await harness.create_service(
        kept_project, "web", port=8080, source={"type": "image", "image": harness.image}
    )
    kept = image_tag(kept_project.slug, kept_service.slug, str(uuid.uuid4()), harness.instance_id)
    try:
        healthy = await harness.wait_deployment(deployment.id, "healthy", within=120)
        assert healthy.image == tag
        assert "managed-by" not in await docker_cli("image", "inspect", "--format", "{{json .Config.Labels}}", tag)
        for ref in (other, kept):
            await docker_cli("tag", tag, ref)
        await docker_cli("tag", harness.image, unmanaged)

        await harness.store.projects.delete_project(project.id)

        async def gone() -> bool:
            return not await harness.runtime.has_image(tag)

        await wait_for(gone, within=60, message="the deleted project's image to be removed")
        for ref in (other, unmanaged, kept):  # another installation's, not built, a live service's
            assert await harness.runtime.has_image(ref), ref
    finally:
        await harness.stop()
        await harness.cleanup()
        await docker_cli("rmi", "-f", tag, other, unmanaged, kept, check=False)
