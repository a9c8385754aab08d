"""300 one-replica services in steady state: Docker API calls and duration of one full resync.

Goal: <= 2 list calls, 0 inspects when nothing changed, <= 0.5 s. Setting up 300 containers
takes a minute or two; everything is removed afterwards. BENCH_SERVICES changes the count.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import TEST_IMAGE, engine_reconciler
from deploykit.pending_change import ChangeKind, PendingChangeCreate
from deploykit.project import ProjectCreate
from deploykit.runtime import LABEL_INSTANCE
from deploykit.service import ServiceFilter, ServiceStatus
from deploykit_docker import DockerRuntime
from deploykit_events.bus import EventBus
from deploykit_reconciler import ReconcilerSettings
from deploykit_sqlite import Store

SERVICES = int(os.environ.get("BENCH_SERVICES", "300"))
PER_PROJECT = 50
RESYNCS = 5


async def main() -> None:
    instance = f"bench-{uuid.uuid4().hex[:8]}"
    bus = EventBus()
    store = Store(path=":memory:", bus=bus, bcrypt_rounds=4)
    await store.open()
    runtime = DockerRuntime()
    await runtime.open()
    # Fast set-up only: a short readiness window and many workers. The resync is the same code.
    settings = ReconcilerSettings(
        instance_id=instance, pull_mutable_tags=False, min_ready_s=0.5, workers=32, stop_grace_s=0, interval_s=3600
    )
    reconciler = engine_reconciler(store, runtime, bus, settings)
    projects = []
    timings: list[float] = []
    calls: list[dict[str, int]] = []
    queued: list[int] = []
    setup_started = time.perf_counter()
    await reconciler.start()
    try:
        for p in range(0, SERVICES, PER_PROJECT):
            project = await store.projects.create_project(ProjectCreate(name=f"bench scale {p // PER_PROJECT}"))
            projects.append(project)
            for i in range(p, min(SERVICES, p + PER_PROJECT)):
                payload = {
                    "name": f"s{i}",
                    "source": {"type": "image", "image": TEST_IMAGE},
                    "command": ["sleep", "86400"],
                }
                await store.pending_changes.append_pending_change(
                    PendingChangeCreate(project_id=project.id, kind=ChangeKind.SERVICE_CREATE, payload=payload)
                )
            await store.pending_changes.apply_pending_changes(project.id, None)
        while True:
            services, _ = await store.services.list_services(ServiceFilter(limit=1000))
            running = sum(s.status == ServiceStatus.RUNNING for s in services)
            if running == SERVICES:
                break
            await asyncio.sleep(0.5)
        await reconciler.wait_idle()
        # One pass to settle anything still catching up (records, statuses).
        await reconciler.resync()
        await reconciler.wait_idle()
        setup_s = time.perf_counter() - setup_started
        for _ in range(RESYNCS):
            runtime.api_calls.clear()
            started = time.perf_counter()
            report = await reconciler.resync()
            timings.append(time.perf_counter() - started)
            calls.append(dict(runtime.api_calls))
            queued.append(len(report.queued))
            await reconciler.wait_idle()
    finally:
        await reconciler.stop()
        mine = [c for c in await runtime.list_containers() if c.labels.get(LABEL_INSTANCE) == instance]
        for chunk in range(0, len(mine), 20):
            await asyncio.gather(*(runtime.remove_container(c.id) for c in mine[chunk : chunk + 20]))
        for project in projects:
            await runtime.remove_network(project.network_name)
        await runtime.close()
        await store.close()
    lists = [sum(n for op, n in c.items() if op.endswith("_list")) for c in calls]
    inspects = [sum(n for op, n in c.items() if "inspect" in op) for c in calls]
    print(f"reconcile_scale: {SERVICES} one-replica services in steady state (set-up {setup_s:.1f} s)")
    print(f"  Docker API calls per full resync: {calls[-1]} (lists {max(lists)}, inspects {max(inspects)})")
    print(f"  services queued by a steady resync: {max(queued)}")
    print(
        f"  resync duration median {statistics.median(timings) * 1000:.0f} ms "
        f"(min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f}; goal <= 500 ms, <= 2 lists, 0 inspects)"
    )


if __name__ == "__main__":
    asyncio.run(main())
