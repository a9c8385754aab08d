"""With a real Docker engine: deploy through the API, watch the canvas hear the deployment,
stream the container's logs over SSE, stop the service and see the stream end."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_IMAGE
from tests.e2e.support import UNSETTLED, CanvasClient, Daemon, create_project, register_admin
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SCRIPT = "echo hello-from-deploykit; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"


def containers_of(project_id: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=deploykit.project-id={project_id}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.split()


async def test_deploy_stream_logs_and_stop(docker_daemon: Daemon) -> None:
    admin = register_admin(docker_daemon)
    pid = create_project(admin, "Docker")["id"]
    try:
        async with CanvasClient(docker_daemon, pid, admin.token) as ws:
            with admin.client() as c:
                assert c.get("/health").json()["services"]["docker"] is True
                body = {
                    "name": "ticker",
                    "source": {"type": "image", "image": TEST_IMAGE},
                    "command": ["sh", "-c", SCRIPT],
                }
                temp = c.post(f"/projects/{pid}/services", json=body).json()["target_temp_id"]
                sid = c.post(f"/projects/{pid}/deploy").json()["temp_id_to_service_id"][temp]
            healthy = await ws.expect("deployment:healthy", lambda p: p["service_id"] == sid, deadline_s=90)
            assert healthy["service_id"] == sid
        with admin.client() as c:
            records = c.get(f"/projects/{pid}/services/{sid}/containers").json()["data"]
            assert [r["state"] for r in records] == ["running"]

        lines: list[dict[str, Any]] = []
        events: list[str] = []
        headers = {"Authorization": f"Bearer {admin.token}"}
        url = f"{docker_daemon.base}/api/projects/{pid}/services/{sid}/logs?tail=100"
        with httpx.stream("GET", url, headers=headers, timeout=60) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            stopped = False
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    lines.append(json.loads(line[6:]))
                elif line.startswith("event: "):
                    events.append(line[7:])
                    break
                if not stopped and any(x.get("line") == "hello-from-deploykit" for x in lines):
                    with admin.client() as c:
                        assert c.post(f"/projects/{pid}/services/{sid}/stop").json()["stopped"] is True
                    stopped = True
        assert {"stream", "line", "ts", "container_id"} <= set(lines[0])
        assert any(x.get("event") == "container_exited" for x in lines)
        assert events == ["end"]
    finally:
        with admin.client() as c:
            c.delete(f"/projects/{pid}")
        wait_for_sync(
            lambda: containers_of(pid) == [],
            within=60,
            message="the project's containers to be removed",
            retry_on=UNSETTLED,
        )
