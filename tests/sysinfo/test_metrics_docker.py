"""The metrics sampler against the real engine: a running container's CPU and memory against its
limit are sampled, stored in SQLite and read back per replica and summed; a stopped one is not."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from deploykit.clock import SystemClock
from deploykit.metrics import MetricsRange
from deploykit.runtime import LABEL_INSTANCE, ContainerSpec, container_labels, managed_labels
from deploykit_docker import DockerRuntime
from deploykit_events import EventBus
from deploykit_sqlite import Store
from deploykit_sysinfo import MetricsSampler, MetricsSettings

pytestmark = pytest.mark.docker


async def test_a_running_container_s_stats_are_stored_and_read_back(runtime: DockerRuntime, test_image: str) -> None:
    tag = f"t{uuid.uuid4().hex[:10]}"
    service_id = f"s-{tag}"
    network = f"dk-{tag}-net"
    await runtime.ensure_network(network, {**managed_labels(), LABEL_INSTANCE: tag})
    ids = []
    store = Store(path=":memory:", bus=EventBus(), bcrypt_rounds=4)
    await store.open()
    try:
        for replica, command in enumerate((["sh", "-c", "while :; do :; done"], ["sleep", "3600"])):
            state = await runtime.run_container(
                ContainerSpec(
                    name=f"dk-{tag}-{replica}",
                    image=test_image,
                    labels={**container_labels(f"p-{tag}", service_id, f"d-{tag}", replica), LABEL_INSTANCE: tag},
                    network=network,
                    command=command,
                    memory_mb=32,
                    stop_grace_s=0,
                )
            )
            ids.append(state.id)
        stopped = await runtime.run_container(
            ContainerSpec(
                name=f"dk-{tag}-stopped",
                image=test_image,
                labels={**container_labels(f"p-{tag}", service_id, f"d-{tag}", 2), LABEL_INSTANCE: tag},
                network=network,
                command=["true"],
                stop_grace_s=0,
            )
        )
        await runtime.stop_container(stopped.id, 0)
        clock = SystemClock()
        sampler = MetricsSampler(
            runtime=runtime, store=store.metrics, clock=clock, settings=MetricsSettings(interval_s=1, host=False)
        )
        await sampler.tick()
        samples, _ = await sampler.tick()  # the second has rates

        ours = sorted((s for s in samples if s.service_id == service_id), key=lambda s: s.replica_index)
        assert [s.container_id for s in ours] == ids, "both running replicas, never the stopped one"
        assert all(s.memory_limit_bytes == 32 * 1024 * 1024 for s in ours)
        assert all(0 < s.memory_bytes <= s.memory_limit_bytes for s in ours)
        assert ours[0].cpu_percent > ours[1].cpu_percent, "the busy loop uses more CPU than sleep"

        now = clock.now()
        got = await store.metrics.service_metrics(
            service_id, MetricsRange(now - timedelta(minutes=5), now + timedelta(seconds=1), 300)
        )
        assert [(r.replica_index, r.container_ids) for r in got.replicas] == [(0, [ids[0]]), (1, [ids[1]])]
        [total] = got.total
        assert total.memory_limit_bytes == 2 * 32 * 1024 * 1024
        assert total.memory_bytes == sum(r.points[0].memory_bytes for r in got.replicas)
    finally:
        await store.close()
        for c in await runtime.list_containers():
            if c.labels.get(LABEL_INSTANCE) == tag:
                await runtime.remove_container(c.id)
        await runtime.remove_network(network)
