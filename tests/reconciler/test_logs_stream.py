"""The runtime logs SSE stream over the real runtime: lines a deployed container printed."""

from __future__ import annotations

import asyncio
import json

import pytest

from deploykit_http.sse import runtime_logs
from tests.reconciler.support import Harness

pytestmark = pytest.mark.docker


async def test_logs_stream_shows_lines_the_container_printed_then_its_exit(harness: Harness) -> None:
    project = await harness.project("Logs")
    script = "echo hello-stdout; echo hello-stderr >&2; sleep 1; echo bye; sleep 3600"
    service = await harness.create_service(project, "talker", command=["sh", "-c", script])
    await harness.wait_status(service.id, "running")
    (c,) = await harness.running(service.id)
    shutdown = asyncio.Event()
    events: list[dict[str, str]] = []

    async def read() -> None:
        async for chunk in runtime_logs(harness.runtime, [c.id], tail=100, ping_s=15, shutdown=shutdown):
            if chunk.startswith("data: "):
                events.append(json.loads(chunk[len("data: ") :]))
            if any(e.get("line") == "bye" for e in events):
                # The container keeps running: stop it and expect the stream to say so, then end.
                await harness.runtime.stop_container(c.id, grace_s=0)

    await asyncio.wait_for(read(), 30)

    lines = [(e["stream"], e["line"]) for e in events if "line" in e]
    assert ("stdout", "hello-stdout") in lines
    assert ("stderr", "hello-stderr") in lines
    assert lines.index(("stdout", "hello-stdout")) < lines.index(("stdout", "bye"))
    assert all(e["container_id"] == c.id[:12] for e in events)
    assert events[-1] == {"container_id": c.id[:12], "event": "container_exited"}
