"""Apply -> healthy for an HTTP service, beside `docker run` -> first HTTP 200 of the same image.

10 runs each; prints both medians and the difference (goal: DeployKit adds <= 0.3 s). Runs the
real reconciler with its production settings (only labelled with a private instance id) against
the local engine and the offline test image, and removes everything it created.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import HTTPD_SCRIPT, TEST_IMAGE, engine_reconciler, http_ok
from deploykit.bus import EventType
from deploykit.pending_change import ChangeKind, PendingChangeCreate
from deploykit.project import ProjectCreate
from deploykit.runtime import LABEL_INSTANCE
from deploykit_docker import DockerRuntime
from deploykit_events.bus import EventBus
from deploykit_reconciler import ReconcilerSettings
from deploykit_sqlite import Store

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
CHECK = {"type": "http", "path": "/", "interval_s": 1.0, "timeout_s": 1.0}


async def docker(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec("docker", *args, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return out.decode().strip()


async def docker_run_once(network: str, instance: str) -> float:
    started = time.perf_counter()
    cid = await docker(
        "run", "-d", "--network", network, "--label", "managed-by=deploykit", "--label", f"{LABEL_INSTANCE}={instance}",
        TEST_IMAGE, "sh", "-c", HTTPD_SCRIPT,
    )  # fmt: skip
    ip = json.loads(await docker("inspect", cid))[0]["NetworkSettings"]["Networks"][network]["IPAddress"]
    while True:
        if await http_ok(ip, 8080):
            return time.perf_counter() - started
        await asyncio.sleep(0.005)


async def main() -> None:
    instance = f"bench-{uuid.uuid4().hex[:8]}"
    bus = EventBus()
    store = Store(path=":memory:", bus=bus, bcrypt_rounds=4)
    await store.open()
    runtime = DockerRuntime()
    await runtime.open()
    reconciler = engine_reconciler(
        store, runtime, bus, ReconcilerSettings(instance_id=instance, pull_mutable_tags=False)
    )
    await reconciler.start()
    project = await store.projects.create_project(ProjectCreate(name="bench latency"))
    healthy = bus.subscribe(frozenset({EventType.DEPLOYMENT_HEALTHY}))
    dk: list[float] = []
    plain: list[float] = []
    try:
        # Warm up: the project network and the image's first use.
        await runtime.ensure_network(project.network_name, {"managed-by": "deploykit", LABEL_INSTANCE: instance})
        await docker_run_once(project.network_name, instance)
        for i in range(RUNS):
            plain.append(await docker_run_once(project.network_name, instance))
            payload = {
                "name": f"web{i}",
                "source": {"type": "image", "image": TEST_IMAGE},
                "port": 8080,
                "command": ["sh", "-c", HTTPD_SCRIPT],
                "health_check": CHECK,
            }
            await store.pending_changes.append_pending_change(
                PendingChangeCreate(project_id=project.id, kind=ChangeKind.SERVICE_CREATE, payload=payload)
            )
            started = time.perf_counter()
            result = await store.pending_changes.apply_pending_changes(project.id, None)
            (deployment_id,) = result.created_deployments
            async for event in healthy:
                if event.payload.get("id", event.payload.get("deployment_id")) == deployment_id or (
                    event.service_id in result.temp_id_to_service_id.values()
                ):
                    break
            dk.append(time.perf_counter() - started)
    finally:
        healthy.close()
        await reconciler.stop()
        for c in await runtime.list_containers():
            if c.labels.get(LABEL_INSTANCE) == instance:
                await runtime.remove_container(c.id)
        await runtime.remove_network(project.network_name)
        await runtime.close()
        await store.close()
    dk_median, plain_median = statistics.median(dk), statistics.median(plain)
    print(f"deploy_latency: {RUNS} runs each")
    print(
        f"  docker run -> first HTTP 200      median {plain_median:.3f} s  (min {min(plain):.3f}, max {max(plain):.3f})"
    )
    print(f"  DeployKit Apply -> healthy        median {dk_median:.3f} s  (min {min(dk):.3f}, max {max(dk):.3f})")
    print(f"  DeployKit adds                    {dk_median - plain_median:+.3f} s  (goal <= 0.300 s)")


if __name__ == "__main__":
    asyncio.run(main())
