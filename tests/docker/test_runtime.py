"""DockerRuntime against the real engine: every object carries a per-test instance label and is
removed afterwards."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploykit.errors import CONFLICT, NOT_FOUND, UNAVAILABLE, Error
from deploykit.health import HealthCheck, HealthCheckType
from deploykit.logs import LogLine
from deploykit.runtime import (
    LABEL_INSTANCE,
    ContainerSpec,
    RuntimeEvent,
    VolumeMount,
    container_labels,
    managed_labels,
)
from deploykit_docker import DockerRuntime, SocketHealthProbe
from tests.reconciler.support import docker_cli
from tests.wait import wait_for


@dataclass
class Engine:
    runtime: DockerRuntime
    image: str
    tag: str

    def labels(self, replica: int = 0) -> dict[str, str]:
        return {
            **container_labels("p-" + self.tag, "s-" + self.tag, "d-" + self.tag, replica),
            LABEL_INSTANCE: self.tag,
        }

    def name(self, what: str) -> str:
        return f"dk-{self.tag}-{what}"

    def spec(self, what: str, command: list[str], **kw: Any) -> ContainerSpec:
        return ContainerSpec(
            name=self.name(what),
            image=self.image,
            labels=self.labels(),
            network=self.name("net"),
            command=command,
            stop_grace_s=0,
            **kw,
        )


@pytest.fixture
async def engine(test_image: str) -> AsyncIterator[Engine]:
    tag = f"t{uuid.uuid4().hex[:10]}"
    runtime = DockerRuntime()
    await runtime.open()
    e = Engine(runtime=runtime, image=test_image, tag=tag)
    await runtime.ensure_network(e.name("net"), {**managed_labels(), LABEL_INSTANCE: tag})
    try:
        yield e
    finally:
        for c in await runtime.list_containers():
            if c.labels.get(LABEL_INSTANCE) == tag:
                await runtime.remove_container(c.id)
        for v in await runtime.list_volume_infos():
            if v.labels.get(LABEL_INSTANCE) == tag:
                await runtime.remove_volume(v.name)
        for n in await runtime.list_networks():
            if n.labels.get(LABEL_INSTANCE) == tag:
                await runtime.remove_network(n.name)
        await runtime.close()


async def docker_inspect(id: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(await docker_cli("inspect", id))
    return data[0]


pytestmark = pytest.mark.docker


async def test_run_container_applies_name_labels_alias_env_command_limits_and_volumes(engine: Engine) -> None:
    rt = engine.runtime
    volume = engine.name("data")
    await rt.ensure_volume(volume, {**managed_labels(), LABEL_INSTANCE: engine.tag})
    spec = engine.spec(
        "web",
        ["sh", "-c", "echo $GREETING > /data/g.txt; exec sleep 3600"],
        aliases=["web"],
        env={"GREETING": "hi there"},
        port=8080,
        cpus=0.5,
        memory_mb=64,
        restart_policy="on-failure",
        volumes=[VolumeMount(volume=volume, mount_path="/data")],
    )

    state = await rt.run_container(spec)

    assert state.state == "running"
    assert state.name == spec.name
    assert state.labels == spec.labels
    assert state.ip_address
    raw = await docker_inspect(state.id)
    host = raw["HostConfig"]
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 0}
    networks = raw["NetworkSettings"]["Networks"]
    assert "web" in networks[engine.name("net")]["Aliases"]
    assert "GREETING=hi there" in raw["Config"]["Env"]
    assert await docker_cli("exec", state.id, "cat", "/data/g.txt") == "hi there\n"
    assert [v.name for v in await rt.list_volume_infos() if v.name == volume] == [volume]

    with pytest.raises(Error) as taken:
        await rt.run_container(spec)
    assert taken.value.code == CONFLICT
    with pytest.raises(Error) as in_use:
        await rt.remove_volume(volume)
    assert in_use.value.code == CONFLICT


async def test_list_is_one_call_and_reports_exit_codes(engine: Engine) -> None:
    rt = engine.runtime
    done = await rt.run_container(engine.spec("done", ["sh", "-c", "exit 7"], restart_policy="no"))

    async def exited() -> bool:
        return (await rt.inspect_container(done.id)).state == "exited"

    await wait_for(exited, within=20, message="the container to exit")
    rt.api_calls.clear()

    listed = {c.id: c for c in await rt.list_containers()}

    assert dict(rt.api_calls) == {"container_list": 1}
    assert listed[done.id].state == "exited"
    assert listed[done.id].exit_code == 7
    inspected = await rt.inspect_container(done.id)
    assert (inspected.exit_code, inspected.restart_count) == (7, 0)


async def test_stop_start_restart_and_remove_are_idempotent_where_promised(engine: Engine) -> None:
    rt = engine.runtime
    state = await rt.run_container(engine.spec("cycle", ["sleep", "3600"]))
    await rt.stop_container(state.id, grace_s=0)
    assert (await rt.inspect_container(state.id)).state == "exited"
    await rt.stop_container(state.id, grace_s=0)
    await rt.start_container(state.id)
    assert (await rt.inspect_container(state.id)).state == "running"
    await rt.restart_container(state.id, grace_s=0)
    assert (await rt.inspect_container(state.id)).state == "running"
    await rt.remove_container(state.id)
    await rt.remove_container(state.id)
    await rt.stop_container(state.id)
    with pytest.raises(Error) as missing:
        await rt.inspect_container(state.id)
    assert missing.value.code == NOT_FOUND
    assert missing.value.message == f"container {state.id[:12]} not found."
    with pytest.raises(Error) as gone:
        await rt.start_container(state.id)
    assert gone.value.code == NOT_FOUND


async def test_networks_are_created_once_even_concurrently_and_removed_idempotently(engine: Engine) -> None:
    rt = engine.runtime
    name = engine.name("extra")
    labels = {**managed_labels(), LABEL_INSTANCE: engine.tag}
    await asyncio.gather(*(rt.ensure_network(name, labels) for _ in range(5)))
    assert [n.name for n in await rt.list_networks()].count(name) == 1
    await rt.remove_network(name)
    await rt.remove_network(name)
    assert name not in [n.name for n in await rt.list_networks()]


async def test_unmanaged_network_is_never_removed(engine: Engine) -> None:
    name = engine.name("foreign")
    await docker_cli("network", "create", name)
    try:
        with pytest.raises(Error) as refused:
            await engine.runtime.remove_network(name)
        assert refused.value.code == CONFLICT
        assert name not in [n.name for n in await engine.runtime.list_networks()]
    finally:
        await docker_cli("network", "rm", name, check=False)


async def test_images_local_are_used_missing_ones_fail_clearly(engine: Engine) -> None:
    rt = engine.runtime
    await rt.ensure_image(engine.image)
    # A mutable tag that cannot be refreshed offline still runs from the local copy.
    await rt.ensure_image(engine.image, pull=True)
    with pytest.raises(Error) as missing:
        await rt.ensure_image(f"deploykit-test/missing-{engine.tag}:1.0")
    assert missing.value.code in {UNAVAILABLE, NOT_FOUND}
    assert f"deploykit-test/missing-{engine.tag}:1.0" in missing.value.message
    assert await rt.has_image(engine.image) is True
    pulls = rt.api_calls["image_pull"]
    assert await rt.has_image(f"deploykit-test/missing-{engine.tag}:1.0") is False
    assert rt.api_calls["image_pull"] == pulls  # a presence check never pulls


async def test_events_report_die_with_exit_code_for_managed_containers(engine: Engine) -> None:
    rt = engine.runtime
    seen: list[RuntimeEvent] = []
    stream = rt.events()

    async def collect() -> None:
        async for event in stream:
            if event.labels.get(LABEL_INSTANCE) == engine.tag:
                seen.append(event)
                if event.action == "die":
                    return

    task = asyncio.create_task(collect())
    # The subscription opens asynchronously: start containers until one's death is seen.
    started: list[str] = []
    for i in range(20):
        state = await rt.run_container(engine.spec(f"dies-{i}", ["sh", "-c", "exit 4"], restart_policy="no"))
        started.append(state.id)
        done, _ = await asyncio.wait([task], timeout=1.0)
        if done:
            break
    await asyncio.wait_for(task, 5)
    assert isinstance(stream, AsyncGenerator)
    await stream.aclose()

    die = seen[-1]
    assert (die.action, die.exit_code) == ("die", 4)
    assert die.container_id in started
    assert die.labels[LABEL_INSTANCE] == engine.tag
    assert "start" in [e.action for e in seen if e.container_id == die.container_id]


async def test_logs_follow_separates_streams_with_timestamps_and_end_with_the_container(engine: Engine) -> None:
    rt = engine.runtime
    script = "for i in 1 2 3; do echo out-$i; echo err-$i >&2; done; sleep 0.5; echo last; exit 0"
    state = await rt.run_container(engine.spec("logs", ["sh", "-c", script], restart_policy="no"))

    lines: list[LogLine] = []

    async def follow() -> None:
        async for line in rt.follow(state.id, tail=100):
            lines.append(line)

    await asyncio.wait_for(follow(), 20)

    assert [(x.stream, x.line) for x in lines if x.stream == "stdout"] == [
        ("stdout", "out-1"),
        ("stdout", "out-2"),
        ("stdout", "out-3"),
        ("stdout", "last"),
    ]
    assert [x.line for x in lines if x.stream == "stderr"] == ["err-1", "err-2", "err-3"]
    assert all(x.ts is not None and x.container_id == state.id[:12] for x in lines)
    tail = await rt.tail(state.id, 2)
    assert len(tail) == 2
    assert tail[0].line in {"out-3", "err-3"}  # written in the same instant: either order
    assert (tail[1].stream, tail[1].line) == ("stdout", "last")


async def test_stats_are_one_shot(engine: Engine) -> None:
    state = await engine.runtime.run_container(engine.spec("stats", ["sleep", "3600"], memory_mb=32))
    stats = await engine.runtime.stats(state.id)
    assert stats.container_id == state.id
    assert stats.memory_limit_bytes == 32 * 1024 * 1024
    assert 0 < stats.memory_bytes <= stats.memory_limit_bytes


async def test_stats_of_a_stopped_container_are_not_found_not_zero(engine: Engine) -> None:
    # The engine answers blank stats for a container that is not running; a metrics sample of
    # them would show the replica's memory falling to 0.
    state = await engine.runtime.run_container(engine.spec("stopped-stats", ["sleep", "3600"]))
    await engine.runtime.stop_container(state.id, grace_s=0)
    with pytest.raises(Error) as caught:
        await engine.runtime.stats(state.id)
    assert caught.value.code == NOT_FOUND
    assert caught.value.message == f"Container {state.id[:12]} is not running."


async def test_probe_http_and_tcp_against_a_container(engine: Engine) -> None:
    cmd = ["sh", "-c", "mkdir -p /www; echo ok > /www/health; exec httpd -f -p 8080 -h /www"]
    state = await engine.runtime.run_container(engine.spec("probe", cmd, port=8080))
    assert state.ip_address is not None
    probe = SocketHealthProbe()
    ok = HealthCheck(type=HealthCheckType.HTTP, path="/health", timeout_s=1)

    async def first_ok() -> bool:
        return (await probe.probe(state.ip_address or "", 8080, ok)).ok

    await wait_for(first_ok, within=20, message="httpd to answer")
    result = await probe.probe(state.ip_address, 8080, ok)
    assert (result.ok, result.status_code, result.error) == (True, 200, None)
    missing = await probe.probe(state.ip_address, 8080, HealthCheck(path="/nope", timeout_s=1))
    assert (missing.ok, missing.status_code, missing.error) == (False, 404, "HTTP 404")
    tcp = await probe.probe(state.ip_address, 8080, HealthCheck(type=HealthCheckType.TCP, timeout_s=1))
    assert tcp.ok
    refused = await probe.probe(state.ip_address, 9, HealthCheck(type=HealthCheckType.TCP, timeout_s=1))
    assert not refused.ok
    assert refused.error


async def test_unreachable_engine_is_unavailable_and_ping_is_false(tmp_path: Path) -> None:
    async with DockerRuntime(url=f"unix://{tmp_path}/no.sock") as rt:
        assert await rt.ping() is False
        with pytest.raises(Error) as down:
            await rt.list_containers()
    assert (down.value.code, down.value.message) == (UNAVAILABLE, "The Docker engine is not reachable.")


async def test_events_report_a_dk_network_losing_a_container(engine: Engine) -> None:
    rt = engine.runtime
    network = engine.name("net")
    seen: list[RuntimeEvent] = []
    stream = rt.events()
    started: list[str] = []

    async def collect() -> None:
        async for event in stream:
            if event.action == "network_disconnect" and event.container_id in started:
                seen.append(event)
                return

    task = asyncio.create_task(collect())
    # The subscription opens asynchronously: disconnect containers until one is seen.
    for i in range(20):
        state = await rt.run_container(engine.spec(f"net-{i}", ["sleep", "3600"]))
        started.append(state.id)
        await docker_cli("network", "disconnect", "-f", network, state.id)
        done, _ = await asyncio.wait([task], timeout=1.0)
        if done:
            break
    await asyncio.wait_for(task, 5)
    assert isinstance(stream, AsyncGenerator)
    await stream.aclose()

    assert seen[0].labels == {"network": network}
