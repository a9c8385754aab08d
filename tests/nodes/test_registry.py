"""Pushing built images to a registry every swarm node pulls from (``deploykit_swarm.registry``),
against a real registry the test starts (Debian's docker-registry) and the real engine: the pushed
image is pulled back by its digest after the local copy is gone."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest

from deploykit.build import BuildRequest, BuildResult
from deploykit.errors import INVALID, NOT_FOUND, UNAVAILABLE, Error
from deploykit.service import GitSource
from deploykit_swarm.registry import RegistryBuilder, RegistryPusher, local_ref, parse_registry, split_tag
from tests.conftest import TEST_IMAGE
from tests.nodes.second_node import run

pytestmark = pytest.mark.docker


def image_id(ref: str) -> str:
    return str(json.loads(run("docker", "image", "inspect", ref))[0]["Id"])


@pytest.fixture
def unique_image() -> Iterator[str]:
    """An image of its own (the test image plus a unique label: a new id), removed after."""
    tag = uuid.uuid4().hex[:12]
    ref = f"deploykit-nodes-test/app:{tag}"
    subprocess.run(
        ["docker", "build", "-q", "-t", ref, "-"],
        input=f"FROM {TEST_IMAGE}\nLABEL deploykit-test.unique={tag}\n".encode(),
        capture_output=True,
        check=True,
        timeout=120,
        env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    yield ref
    ids = run("docker", "image", "ls", "-q", "--filter", f"label=deploykit-test.unique={tag}").split()
    for i in set(ids):
        run("docker", "image", "rm", "-f", i, check=False)


@pytest.fixture
async def pusher(registry: str) -> AsyncIterator[RegistryPusher]:
    p = RegistryPusher(registry)
    await p.open()
    try:
        yield p
    finally:
        await p.close()


async def test_a_pushed_image_is_pulled_back_by_its_digest(
    pusher: RegistryPusher, registry: str, unique_image: str
) -> None:
    built = image_id(unique_image)
    pushed = await pusher.push(unique_image)
    repository = f"{registry}/deploykit-nodes-test/app"
    assert pushed.startswith(f"{repository}@sha256:")
    digest = pushed.partition("@")[2]
    # The registry holds it under that digest.
    manifest = run(
        "curl", "-sf", "-o", "/dev/null", "-w", "%{http_code}",
        "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json",
        f"http://{registry}/v2/deploykit-nodes-test/app/manifests/{digest}",
    )  # fmt: skip
    assert manifest == "200"
    # With every local name gone, the engine pulls the very image back by digest.
    _, tag = split_tag(unique_image)
    run("docker", "image", "rm", unique_image, f"{repository}:{tag}")
    assert built not in run("docker", "image", "ls", "-q", "--no-trunc")
    run("docker", "pull", "-q", pushed)
    assert image_id(pushed) == built


async def test_pushing_to_a_registry_nobody_serves_is_unavailable(unique_image: str) -> None:
    p = RegistryPusher("127.0.0.1:1")
    await p.open()
    try:
        with pytest.raises(Error) as err:
            await p.push(unique_image)
    finally:
        await p.close()
    assert err.value.code == UNAVAILABLE
    assert err.value.message.startswith("The registry 127.0.0.1:1 is not reachable: ")


async def test_pushing_a_missing_image_is_not_found(pusher: RegistryPusher) -> None:
    with pytest.raises(Error) as err:
        await pusher.push(f"deploykit-nodes-test/none:{uuid.uuid4().hex[:8]}")
    assert err.value.code == NOT_FOUND


@dataclass
class FakeBuilder:
    built: list[BuildRequest] = field(default_factory=list)

    async def build(self, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        self.built.append(req)
        on_log("built")
        return BuildResult(image=req.tag, commit_sha="abc", commit_message="m")


async def test_the_builder_records_the_pushed_image_and_builds_into_the_local_tag(
    pusher: RegistryPusher, registry: str, unique_image: str
) -> None:
    inner = FakeBuilder()
    lines: list[str] = []
    source = GitSource(repo_url="https://example.com/r.git")
    # A rollback rebuilds the image it recorded: into the local tag it was pushed from.
    recorded = f"{registry}/{unique_image.split(':')[0]}@sha256:{'0' * 64}"
    req = BuildRequest(deployment_id="d1", source=source, tag=unique_image)
    rebuild = BuildRequest(deployment_id="d2", source=source, tag=f"{registry}/{unique_image}")
    result = await RegistryBuilder(inner, pusher).build(req, lines.append)
    again = await RegistryBuilder(inner, pusher).build(rebuild, lines.append)
    assert [r.tag for r in inner.built] == [unique_image, unique_image]
    assert result.image.startswith(f"{registry}/deploykit-nodes-test/app@sha256:")
    assert again.image == result.image  # the same image, the same digest
    assert (result.commit_sha, result.commit_message) == ("abc", "m")
    assert (lines[0], lines[-1]) == ("built", f"Pushed {result.image}")
    assert local_ref(recorded, registry) == unique_image.split(":")[0]


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("10.0.0.5:5000", "10.0.0.5:5000"),
        ("registry.example.com", "registry.example.com"),
        ("http://127.0.0.1:5000/", "127.0.0.1:5000"),
    ],
)
def test_a_registry_address_is_host_and_port(value: str, want: str) -> None:
    assert parse_registry(value) == want


@pytest.mark.parametrize("value", ["", "10.0.0.5:5000/path", "host:port", "a b"])
def test_a_bad_registry_address_is_refused_with_the_reason(value: str) -> None:
    with pytest.raises(Error) as err:
        parse_registry(value)
    assert err.value.code == INVALID
    assert err.value.message.startswith("--registry must be host:port (e.g. 10.0.0.5:5000), not ")
