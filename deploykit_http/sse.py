"""Server-sent event streams: a service's runtime logs, and a deployment's build/start log.

Streams end on their own when their source ends, and at once when the server shuts down
(``shutdown`` is set), so that a graceful stop never waits on a browser tab. ``while_authorized``
also ends a stream within a few seconds of the session or API key that opened it ending (logout,
a new password, the user deleted, a reset behind the server's back): a stream shows what only a
signed-in member may see, for as long as it stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from deploykit.bus import Event, EventBus, EventType
from deploykit.clock import isoformat
from deploykit.deployment import DeploymentService, DeploymentStatus
from deploykit.errors import NOT_FOUND, Error
from deploykit.logs import LogStreamer

log = logging.getLogger("deploykit_http")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def data(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n"


END = "event: end\ndata: {}\n\n"
PING = ": ping\n\n"


async def _next_or_stop(queue: asyncio.Queue[str | None], shutdown: asyncio.Event, idle_s: float) -> str | None:
    """The next item, ``PING`` after ``idle_s`` seconds of silence, or None at shutdown."""
    getter = asyncio.ensure_future(queue.get())
    stopper = asyncio.ensure_future(shutdown.wait())
    try:
        done, _ = await asyncio.wait({getter, stopper}, timeout=idle_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if getter in done:
        return getter.result() or ""
    getter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await getter
    return None if shutdown.is_set() else PING


async def runtime_logs(
    streamer: LogStreamer,
    container_ids: list[str],
    tail: int,
    ping_s: float,
    shutdown: asyncio.Event,
    replicas: Mapping[str, int] | None = None,
) -> AsyncIterator[str]:
    """Interleave the containers' logs; ``container_exited`` as each ends, ``event: end`` after all.

    Every event names its container by the first 12 characters of its id and, when ``replicas``
    knows the container, its replica index as ``"replica"`` (beyond API.md's shape, so that a client
    can tell replicas apart and pick one): ``{"container_id", "replica", "stream", "line", "ts"}``
    and ``{"container_id", "replica", "event": "container_exited"}``."""
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)

    async def follow(cid: str) -> None:
        short = cid[:12]
        who: dict[str, Any] = {"container_id": short}
        if replicas is not None and cid in replicas:
            who["replica"] = replicas[cid]
        try:
            async for line in streamer.follow(cid, tail=tail):
                await queue.put(data({**who, "stream": line.stream, "line": line.line, "ts": isoformat(line.ts)}))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("log stream of %s ended: %r", short, exc)
        await queue.put(data({**who, "event": "container_exited"}))

    tasks = [asyncio.create_task(follow(cid), name=f"logs-{cid[:12]}") for cid in container_ids]
    remaining = len(tasks)
    try:
        while remaining:
            item = await _next_or_stop(queue, shutdown, ping_s)
            if item is None:
                return
            if '"event":"container_exited"' in item:
                remaining -= 1
            yield item
        yield END
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def while_authorized(
    stream: Callable[[asyncio.Event], AsyncIterator[str]],
    shutdown: asyncio.Event,
    authorized: Callable[[], Awaitable[bool]],
    check_s: float,
) -> AsyncIterator[str]:
    """``stream(stop)``'s items until it ends, the server shuts down, or ``authorized`` (asked
    every ``check_s`` seconds) says no. A failing check (the database busy) keeps the stream."""
    stop = asyncio.Event()

    async def watch() -> None:
        while not shutdown.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(shutdown.wait(), check_s)
            if shutdown.is_set():
                break
            try:
                if not await authorized():
                    log.info("event stream ended: its session or key has ended")
                    break
            except Exception:
                log.exception("event stream authorization check failed")
        stop.set()

    watcher = asyncio.create_task(watch(), name="sse-authorization")
    try:
        async for item in stream(stop):
            yield item
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


FINISHED_EVENTS = frozenset({EventType.DEPLOYMENT_HEALTHY, EventType.DEPLOYMENT_FAILED, EventType.DEPLOYMENT_CANCELLED})
FINISHED = frozenset(
    {DeploymentStatus.HEALTHY, DeploymentStatus.SUPERSEDED, DeploymentStatus.FAILED, DeploymentStatus.CANCELLED}
)


def _event_deployment(event: Event) -> str | None:
    value = event.payload.get("deployment_id") or event.payload.get("id")
    return str(value) if value is not None else None


async def deployment_log(
    deployments: DeploymentService,
    bus: EventBus,
    deployment_id: str,
    service_id: str,
    ping_s: float,
    shutdown: asyncio.Event,
) -> AsyncIterator[str]:
    """The stored log so far, then each line stored after it, until the deployment finishes.

    Every line is shown once, in order, whenever the stream starts: it subscribes before it reads
    the stored log, and the store publishes each append once stored with its position
    (``DeploymentLog``), so an event that ends at or before the read's end is already shown and
    is skipped. An event that starts beyond what was shown (the bus dropped some for this stream)
    sends the stream back to the stored log for what it missed. Should the bus drop the event
    that says the deployment finished (a full queue), the stream still ends: at each ping it asks
    the store, and when the deployment has finished it shows the rest of the stored log and ends."""
    sub = bus.subscribe(frozenset({EventType.BUILD_LOG, *FINISHED_EVENTS}), maxsize=5000)
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def put_lines(text: str) -> None:
        for line in text.splitlines():
            await queue.put(data({"line": line}))

    position = 0
    """Where the lines queued so far end in the stored log."""

    async def pump(shown: int) -> None:
        """Queue the lines stored after position ``shown``, then None when the deployment ends."""
        nonlocal position
        try:
            async for event in sub:
                if event.service_id not in (None, service_id) or _event_deployment(event) not in (None, deployment_id):
                    continue
                if event.type != EventType.BUILD_LOG:
                    break
                text = str(event.payload.get("line", event.payload.get("text", ""))) + "\n"
                start, end = event.payload.get("start"), event.payload.get("end")
                if not (isinstance(start, int) and isinstance(end, int)):
                    await put_lines(text)  # a publisher that does not say where its line is
                    continue
                if end <= shown:
                    continue
                if start > shown:
                    stored = await deployments.read_log(deployment_id)
                    first = stored.end - len(stored.text)  # clipping dropped what was before
                    await put_lines(stored.text[max(shown - first, 0) :])
                    shown = position = stored.end
                    continue  # this line was stored before that read, so it was in it
                await put_lines(text)
                shown = position = end
        except Exception:
            log.exception("following the log of deployment %s failed", deployment_id[:8])
        await queue.put(None)

    async def finished() -> bool:
        """Whether the store says the deployment has finished (or is gone); a failing look (the
        database busy) keeps the stream."""
        try:
            return (await deployments.get_deployment(deployment_id)).status in FINISHED
        except Error as err:
            if err.code == NOT_FOUND:
                return True
            log.warning("deployment %s's status: %s", deployment_id[:8], err.message)
            return False

    task: asyncio.Task[None] | None = None
    try:
        # The status before the log: a deployment that finished before this read has stored the
        # lines printed before it finished; one that finishes later says so on the bus.
        status = (await deployments.get_deployment(deployment_id)).status
        stored = await deployments.read_log(deployment_id)
        for line in stored.text.splitlines():
            yield data({"line": line})
        if status in FINISHED:
            yield END
            return
        # Events published meanwhile wait in the subscription's queue.
        position = stored.end
        task = asyncio.create_task(pump(stored.end), name=f"deployment-log-{deployment_id[:8]}")
        while True:
            item = await _next_or_stop(queue, shutdown, ping_s)
            if item is None or item == "":
                break
            if item == PING and await finished():
                # Finished, and the bus has not said so (it dropped the event): the rest is stored.
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                while not queue.empty():
                    if queued := queue.get_nowait():
                        yield queued
                try:
                    rest = await deployments.read_log(deployment_id)
                except Error:  # gone meanwhile (its service deleted): nothing more to show
                    break
                first = rest.end - len(rest.text)
                for line in rest.text[max(position - first, 0) :].splitlines():
                    yield data({"line": line})
                break
            yield item
        if not shutdown.is_set():
            yield END
    finally:
        sub.close()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
