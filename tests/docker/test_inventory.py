"""DockerInventory against the real engine: every object with its size and owner (from labels
only), and pruning dangling images of this installation only."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from deploykit.engine import EngineObjectKind, PruneRequest
from deploykit.errors import UNAVAILABLE, Error, ValidationError
from deploykit.runtime import (
    LABEL_INSTANCE,
    ContainerSpec,
    built_images,
    container_labels,
    image_repository,
    image_tag,
    managed_labels,
    volume_labels,
)
from deploykit_docker import DockerRuntime
from deploykit_docker.inventory import DockerInventory, objects_from_df
from deploykit_docker.inventory import managed as inventory_managed
from tests.conftest import TEST_IMAGE
from tests.reconciler.support import docker_cli

pytestmark = pytest.mark.docker


async def build(tag: str, labels: dict[str, str]) -> str:
    """An image of ``tag`` with ``labels`` (a new id for new labels: the old one is left dangling)."""
    flags = [arg for k, v in labels.items() for arg in ("--label", f"{k}={v}")]
    proc = await asyncio.create_subprocess_exec(
        "docker", "build", "-q", "-t", tag, *flags, "-",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(f"FROM {TEST_IMAGE}\n".encode()), 120)
    assert proc.returncode == 0, err.decode(errors="replace")
    return out.decode().strip()


async def test_usage_lists_every_kind_with_size_and_owner_from_labels(runtime: DockerRuntime) -> None:
    tag = f"t{uuid.uuid4().hex[:10]}"
    owned = f"dk-{tag}-data"
    foreign = f"{tag}-not-ours"  # a name like ours means nothing without the label
    await runtime.ensure_volume(owned, {**volume_labels("p-" + tag, "s-" + tag), LABEL_INSTANCE: tag})
    await docker_cli("volume", "create", "--label", "deploykit.project-id=p-forged", foreign)
    await runtime.ensure_network(f"dk-{tag}", {**managed_labels(), LABEL_INSTANCE: tag})
    labels = {**container_labels("p-" + tag, "s-" + tag, "d-" + tag, 0), LABEL_INSTANCE: tag}
    command = ["sh", "-c", "echo hi > /f; exec sleep 60"]
    container = await runtime.run_container(
        ContainerSpec(
            name=f"dk-{tag}-web", image=TEST_IMAGE, labels=labels, network=f"dk-{tag}", command=command, stop_grace_s=0
        )
    )
    try:
        usage = await DockerInventory(runtime).engine_usage()
        by_name = {(o.kind, o.name): o for o in usage.objects}

        web = by_name[(EngineObjectKind.CONTAINER, f"dk-{tag}-web")]
        assert (web.id, web.managed, web.project_id, web.service_id, web.detail) == (
            container.id,
            True,
            "p-" + tag,
            "s-" + tag,
            "running",
        )
        assert isinstance(web.size_bytes, int)
        data = by_name[(EngineObjectKind.VOLUME, owned)]
        assert (data.managed, data.project_id, data.service_id) == (True, "p-" + tag, "s-" + tag)
        stranger = by_name[(EngineObjectKind.VOLUME, foreign)]
        assert (stranger.managed, stranger.project_id, stranger.service_id) == (False, None, None)
        network = by_name[(EngineObjectKind.NETWORK, f"dk-{tag}")]
        assert (network.managed, network.project_id, network.size_bytes) == (True, None, None)
        image = by_name[(EngineObjectKind.IMAGE, TEST_IMAGE)]
        assert (image.size_bytes or 0) > 0
        assert (EngineObjectKind.NETWORK, "bridge") not in by_name  # the engine's own
        kinds = [o.kind for o in usage.objects]
        assert kinds == sorted(kinds, key=list(EngineObjectKind).index)
    finally:
        await runtime.remove_container(container.id)
        await runtime.remove_network(f"dk-{tag}")
        await runtime.remove_volume(owned)
        await docker_cli("volume", "rm", foreign, check=False)


async def test_prune_removes_only_this_installations_dangling_images(runtime: DockerRuntime) -> None:
    tag = f"t{uuid.uuid4().hex[:10]}"
    mine, theirs = f"dk-{tag}-mine", f"dk-{tag}-theirs"
    ref = f"deploykit/{tag}:1"
    old_mine = await build(ref, {**managed_labels(), LABEL_INSTANCE: mine, "v": "1"})
    await build(ref, {**managed_labels(), LABEL_INSTANCE: mine, "v": "2"})  # old_mine is dangling now
    other = f"deploykit/{tag}-other:1"
    old_theirs = await build(other, {**managed_labels(), LABEL_INSTANCE: theirs, "v": "1"})
    await build(other, {**managed_labels(), LABEL_INSTANCE: theirs, "v": "2"})
    try:
        inventory = DockerInventory(runtime, instance_id=mine)
        before = await inventory.engine_usage()
        assert old_mine in {o.id for o in before.objects if o.name == "<none>"}
        assert before.dangling_images >= 2

        result = await inventory.prune_engine(PruneRequest(dangling_images=True, build_cache=False))

        assert result.images_deleted >= 1
        assert result.build_cache_deleted == 0
        images = {o.id for o in (await inventory.engine_usage()).objects if o.kind is EngineObjectKind.IMAGE}
        assert old_mine not in images
        assert old_theirs in images  # another installation's garbage is its own to prune
    finally:
        await docker_cli("rmi", "-f", ref, other, old_theirs, check=False)


async def test_a_prune_of_nothing_is_refused_with_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        PruneRequest(dangling_images=False, build_cache=False).validate()
    assert raised.value.fields == {"dangling_images": ["choose at least one of dangling_images and build_cache"]}


async def test_remove_images_takes_every_tag_and_spares_an_image_in_use(runtime: DockerRuntime) -> None:
    tag = f"t{uuid.uuid4().hex[:10]}"
    labels = {**managed_labels(), "deploykit.project-id": f"p-{tag}", LABEL_INSTANCE: tag}
    idle, used = f"deploykit/{tag}_a:1", f"deploykit/{tag}_b:1"
    await build(idle, {**labels, "which": "idle"})
    await docker_cli("tag", idle, f"deploykit/{tag}_a:2")
    await build(used, {**labels, "which": "used"})
    running = await runtime.run_container(
        ContainerSpec(
            name=f"dk-{tag}-user",
            image=used,
            labels={**managed_labels(), LABEL_INSTANCE: tag},
            network="bridge",
            command=["sleep", "60"],
            stop_grace_s=0,
        )
    )
    try:
        removed = await runtime.remove_images(labels)

        assert sorted(removed) == [idle, f"deploykit/{tag}_a:2"]
        assert not (await docker_cli("image", "ls", "-q", f"deploykit/{tag}_a")).strip()
        assert (await docker_cli("image", "ls", "-q", used)).strip()
    finally:
        await runtime.remove_container(running.id)
        await docker_cli("rmi", "-f", used, check=False)


async def test_built_images_are_recognised_by_name_and_removed_by_name_alone(runtime: DockerRuntime) -> None:
    """Built images carry no label: their name (installation, project slug, service slug, a
    deployment's 12 hex digits) is what makes them DeployKit's. Removal by that name takes only
    those tags of services that are gone: never a kept service's, another name of the same image,
    another installation's, nor one an earlier version labelled (its labels say whose it is)."""
    tag = f"t{uuid.uuid4().hex[:10]}"
    dep = uuid.uuid4().hex
    mine = image_tag(f"p-{tag}", "web", dep, tag)
    second = image_tag(f"p-{tag}", "worker", uuid.uuid4().hex, tag)
    theirs = image_tag(f"p-{tag}", "web", dep, f"{tag}-other")
    lookalike = f"deploykit/{tag}/p-{tag}_web:latest"  # not a tag DeployKit gives
    plain = f"deploykit/{tag}-plain:1"
    labelled = image_tag(f"p-{tag}", "old", uuid.uuid4().hex, tag)
    await build(labelled, {**managed_labels(), LABEL_INSTANCE: "someone-else"})
    await build(mine, {"v": tag})  # an image of its own (FROM alone would be the base image's id)
    for ref in (second, theirs):
        await docker_cli("tag", mine, ref)
    await build(lookalike, {"v": "lookalike"})
    await build(plain, {"v": "plain"})
    try:
        images = [
            o for o in (await DockerInventory(runtime).engine_usage()).objects if o.kind is EngineObjectKind.IMAGE
        ]
        by_name = {o.name: o for o in images}
        (built,) = [o for o in images if o.name in (mine, second, theirs)]
        assert (built.managed, built.project_id) == (True, None)  # its owner is not in its name
        assert (by_name[lookalike].managed, by_name[plain].managed) == (False, False)

        kept = {image_repository(f"p-{tag}", "web", tag)}  # a service that still exists
        removed = await runtime.remove_images({}, reference=built_images(tag), keep=kept)

        assert removed == [second]
        left = (await docker_cli("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "deploykit/*/*")).split()
        assert {mine, second, theirs, lookalike, labelled} & set(left) == {mine, theirs, lookalike, labelled}
        assert (await docker_cli("image", "ls", "-q", plain)).strip()
    finally:
        await docker_cli("rmi", "-f", mine, second, theirs, lookalike, plain, labelled, check=False)


@pytest.mark.parametrize(
    ("kind", "labels", "managed"),
    [
        (
            EngineObjectKind.CONTAINER,
            {"deploykit.runtime": "swarm", "com.docker.swarm.service.name": "dk_a_web_0"},
            True,
        ),
        (EngineObjectKind.CONTAINER, {"deploykit.runtime": "swarm"}, False),  # not a Swarm task after all
        (EngineObjectKind.CONTAINER, {"deploykit.runtime": "edge"}, False),
        (EngineObjectKind.NETWORK, {"deploykit.runtime": "edge", "deploykit.project-id": "p"}, True),
        (EngineObjectKind.NETWORK, {"deploykit.runtime": "swarm"}, False),
        (EngineObjectKind.VOLUME, {"deploykit.runtime": "edge"}, False),
    ],
)
def test_swarm_task_containers_and_edge_networks_are_deploykits(
    kind: EngineObjectKind, labels: dict[str, str], managed: bool
) -> None:
    assert inventory_managed(kind, "x", labels) is managed


def test_a_task_containers_detail_names_its_swarm_service_and_a_swarm_network_its_scope() -> None:
    task = {"deploykit.runtime": "swarm", "com.docker.swarm.service.name": "dk_a_web_0", "deploykit.project-id": "p"}
    df = {"Containers": [{"Id": "c1", "Names": ["/dk_a_web_0.1.x"], "State": "running", "Labels": task}]}
    networks = [{"Id": "n1", "Name": "dk-a_edge", "Driver": "bridge", "Scope": "swarm", "Labels": {}}]
    container, network = objects_from_df(df, networks)
    assert (container.managed, container.project_id, container.detail) == (
        True,
        "p",
        "running, task of Swarm service dk_a_web_0",
    )
    assert (network.managed, network.detail) == (False, "bridge, swarm scope")


def test_swarm_services_are_listed_with_their_owner_replicas_and_pin() -> None:
    labels = {
        "managed-by": "deploykit",
        "deploykit.project-id": "p",
        "deploykit.service-id": "s",
        "deploykit.node": "n" * 25,
    }
    services = [
        {"ID": "sv1", "Spec": {"Name": "dk_a_db_0", "Labels": labels, "Mode": {"Replicated": {"Replicas": 1}}}},
        {"ID": "sv2", "Spec": {"Name": "theirs", "Mode": {"Global": {}}}},
    ]
    ours, theirs = objects_from_df({}, [], services)
    assert (ours.kind, ours.name, ours.managed, ours.project_id, ours.service_id, ours.detail) == (
        EngineObjectKind.SERVICE,
        "dk_a_db_0",
        True,
        "p",
        "s",
        f"1 replica(s), pinned to node {'n' * 12}",
    )
    assert (theirs.managed, theirs.project_id, theirs.detail) == (False, None, "global")


NOT_A_MANAGER = (
    b'{"message": "This node is not a swarm manager. Use \\"docker swarm init\\" or \\"docker swarm join\\" '
    b'to connect this node to swarm and try again."}'
)


class _Engine(BaseHTTPRequestHandler):
    """An engine API whose ``GET /services`` answers ``services`` (status, body)."""

    services: tuple[int, bytes] = (503, NOT_A_MANAGER)

    def do_GET(self) -> None:
        status, body = self.services if "/services" in self.path else (200, b'{"ApiVersion": "1.41"}')
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("answer", "expected"),
    [((503, NOT_A_MANAGER), []), ((200, b'[{"ID": "sv1"}]'), [{"ID": "sv1"}]), ((500, b'{"message": "boom"}'), None)],
)
async def test_swarm_services_are_none_on_an_engine_that_is_not_a_manager(
    answer: tuple[int, bytes], expected: list[dict[str, str]] | None
) -> None:
    handler = type("Engine", (_Engine,), {"services": answer})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rt = DockerRuntime(f"tcp://127.0.0.1:{server.server_address[1]}")
    await rt.open()
    try:
        if expected is None:
            with pytest.raises(Error) as err:
                await rt.swarm_services()
            assert err.value.code == UNAVAILABLE
        else:
            assert await rt.swarm_services() == expected
    finally:
        await rt.close()
        server.shutdown()
        server.server_close()
