"""The keeper port of a project network's bridge (``deploykit_docker.keeper``), on the real engine
and kernel: the bridge keeps its carrier when its only container leaves, the keeper carries no
traffic, comes back when it was lost, and goes with its network."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploykit.runtime import LABEL_INSTANCE, ContainerSpec, container_labels, managed_labels
from deploykit_docker import DockerRuntime
from deploykit_docker.keeper import BridgeKeepers, bridge_of, keeper_names
from tests.reconciler.support import docker_cli, http_get
from tests.wait import wait_for

pytestmark = pytest.mark.docker

SYS = Path("/sys/class/net")
HTTPD = ["sh", "-c", "mkdir -p /www; echo ok > /www/index.html; exec httpd -f -p 8080 -h /www"]
IFF_NOARP = 0x80


def read(path: Path) -> str:
    return path.read_text().strip()


@pytest.fixture
async def network(runtime: DockerRuntime, test_image: str) -> AsyncIterator[tuple[str, str, str]]:
    """A managed network: (name, id, bridge); removed (containers first) afterwards."""
    tag = f"k{uuid.uuid4().hex[:10]}"
    name = f"dk-{tag}-net"
    await runtime.ensure_network(name, {**managed_labels(), LABEL_INSTANCE: tag})
    network_id = (await docker_cli("network", "inspect", "-f", "{{.Id}}", name)).strip()
    try:
        yield name, network_id, f"br-{network_id[:12]}"
    finally:
        for c in await runtime.list_containers():
            if c.labels.get(LABEL_INSTANCE) == tag:
                await runtime.remove_container(c.id)
        await runtime.remove_network(name)


def spec(network: str, name: str, image: str) -> ContainerSpec:
    tag = network.split("-")[1]
    return ContainerSpec(
        name=f"{network}-{name}",
        image=image,
        labels={**container_labels("p", "s", "d", 0), LABEL_INSTANCE: tag},
        network=network,
        command=HTTPD,
        stop_grace_s=0,
    )


def test_the_bridge_of_a_docker_network_is_named_as_the_engine_names_it() -> None:
    assert bridge_of({"Id": "0123456789abcdef", "Driver": "bridge"}) == "br-0123456789ab"
    named = {"Id": "0123456789abcdef", "Driver": "bridge", "Options": {"com.docker.network.bridge.name": "docker9"}}
    assert bridge_of(named) == "docker9"
    assert bridge_of({"Id": "0123456789abcdef", "Driver": "overlay"}) is None
    assert keeper_names("0123456789abcdef") == ("dkk0123456789ab", "dkp0123456789ab")
    assert all(len(n) <= 15 for n in keeper_names("f" * 64))


async def test_a_network_bridge_keeps_its_carrier_when_its_only_container_leaves(
    runtime: DockerRuntime, network: tuple[str, str, str], test_image: str
) -> None:
    name, network_id, bridge = network
    port, peer = keeper_names(network_id)
    assert os.path.basename(os.readlink(SYS / port / "master")) == bridge
    # Inert: the bridge neither learns from it nor floods to it, and neither end speaks ARP or IPv6.
    for flag in ("learning", "unicast_flood", "multicast_flood", "broadcast_flood", "multicast_router"):
        assert read(SYS / port / "brport" / flag) == "0", flag
    for end in (port, peer):
        assert int(read(SYS / end / "flags"), 16) & IFF_NOARP
        assert read(SYS / end / "operstate") == "up"
    assert "inet6" not in await ip_cli("-6", "addr", "show", "dev", peer)

    state = await runtime.run_container(spec(name, "only", test_image))
    assert state.ip_address is not None

    async def answers() -> bool:
        return await http_get(state.ip_address or "", 8080, "/") == (200, "ok\n")

    await wait_for(answers, within=20, message="the container to answer through the bridge")
    await runtime.remove_container(state.id)

    await wait_for(lambda: os.listdir(SYS / bridge / "brif") == [port], within=10, message="the container's port to go")
    assert read(SYS / bridge / "carrier") == "1"


async def test_a_bridge_without_a_keeper_loses_its_carrier_with_its_last_container(test_image: str) -> None:
    """Why the keeper exists: the kernel's behaviour on a plain Docker network."""
    name = f"dk-plain-{uuid.uuid4().hex[:8]}"
    network_id = (await docker_cli("network", "create", name)).strip()
    bridge = f"br-{network_id[:12]}"
    try:
        cid = await docker_cli("run", "-d", "--network", name, test_image, "sleep", "300")
        await wait_for(lambda: read(SYS / bridge / "carrier") == "1", within=10, message="the bridge's carrier")
        await docker_cli("rm", "-f", cid)
        await wait_for(
            lambda: read(SYS / bridge / "carrier") == "0", within=10, message="the bridge to lose its carrier"
        )
    finally:
        await docker_cli("network", "rm", name, check=False)


async def test_a_lost_keeper_comes_back_at_the_next_ensure_and_goes_with_its_network(
    runtime: DockerRuntime, test_image: str
) -> None:
    tag = f"k{uuid.uuid4().hex[:10]}"
    name = f"dk-{tag}-net"
    labels = {**managed_labels(), LABEL_INSTANCE: tag}
    await runtime.ensure_network(name, labels)
    network_id = (await docker_cli("network", "inspect", "-f", "{{.Id}}", name)).strip()
    port, peer = keeper_names(network_id)
    try:
        await ip_cli("link", "del", port)  # a reboot, or the engine recreating the bridge
        assert not (SYS / port).exists()
        await runtime.ensure_network(name, labels)
        assert os.path.basename(os.readlink(SYS / port / "master")) == f"br-{network_id[:12]}"
        await ip_cli("link", "set", port, "nomaster")  # a leftover of a bridge the engine recreated
        await runtime.ensure_network(name, labels)
        assert os.path.basename(os.readlink(SYS / port / "master")) == f"br-{network_id[:12]}"
        assert read(SYS / port / "brport" / "learning") == "0"
    finally:
        await runtime.remove_network(name)
    assert not (SYS / port).exists()
    assert not (SYS / peer).exists()


async def test_a_keeper_whose_network_was_removed_behind_its_back_is_swept(runtime: DockerRuntime) -> None:
    orphan = f"{uuid.uuid4().hex[:12]}"
    port, peer = keeper_names(orphan)
    await ip_cli("link", "add", port, "type", "veth", "peer", "name", peer)
    keepers = BridgeKeepers()
    assert port in keepers.orphans()

    await keepers.remove(f"{uuid.uuid4().hex}")

    assert not (SYS / port).exists()


async def test_a_bridge_not_on_this_host_is_left_alone(tmp_path: Path) -> None:
    """An engine on another host (or in another network namespace): no device, no keeper."""
    keepers = BridgeKeepers(sys_net=tmp_path)
    assert await keepers.ensure("0123456789abcdef", "br-0123456789ab") is False
    assert os.listdir(tmp_path) == []


async def ip_cli(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()
