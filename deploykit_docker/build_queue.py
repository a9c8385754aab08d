"""A bounded FIFO queue in front of a ``Builder``: at most N builds at once, and a newer build of a
service cancels the older one."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass

from deploykit import CONFLICT, INVALID, Error
from deploykit.build import Builder, BuildRequest, BuildResult

log = logging.getLogger(__name__)

SUPERSEDED = "Cancelled: a newer build of this service started."
CANCELLED = "Cancelled."


@dataclass(eq=False)
class _Ticket:
    service_id: str
    granted: asyncio.Future[bool]
    """True once a build slot is handed over; False when the ticket left the queue without one."""
    task: asyncio.Task[BuildResult] | None = None
    reason: str | None = None
    """Why a newer build or ``cancel()`` ended this one."""


class BuildQueue:
    """At most ``max_concurrent`` builds at once, the rest wait first come, first served; a newer
    build of the same service cancels the older one, queued or running. Implements
    ``deploykit.build.BuildScheduler``. The build runs in a task of its own so that cancelling it
    never cancels the caller.

    A slot is never held past the build's ``timeout_s`` plus ``grace_s``: a build that does not stop
    when told (a thread stuck on a read) is let go of, its slot freed and its caller answered."""

    def __init__(self, builder: Builder, *, max_concurrent: int = 1, grace_s: float = 30.0) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.builder = builder
        self.max_concurrent = max_concurrent
        self.grace_s = grace_s
        self._abandoned: set[asyncio.Task[BuildResult]] = set()
        self._running = 0
        self._waiting: collections.deque[_Ticket] = collections.deque()
        self._latest: dict[str, _Ticket] = {}

    @property
    def running(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return len(self._waiting)

    async def build(self, service_id: str, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        """Wait for a slot, then ``builder.build``. Raises ``conflict`` when a newer build of the same
        service (or ``cancel``) ended this one; otherwise as ``Builder.build``."""
        ticket = _Ticket(service_id, asyncio.get_running_loop().create_future())
        older = self._latest.get(service_id)
        if older is not None:
            self._end(older, SUPERSEDED)
        self._latest[service_id] = ticket
        try:
            await self._acquire(ticket, on_log)
            try:
                return await self._run(ticket, req, on_log)
            finally:
                self._release()
        finally:
            if self._latest.get(service_id) is ticket:
                del self._latest[service_id]

    def cancel(self, service_id: str) -> bool:
        """End the service's queued or running build (its caller gets ``conflict``); False if none."""
        ticket = self._latest.get(service_id)
        if ticket is None:
            return False
        self._end(ticket, CANCELLED)
        return True

    async def _acquire(self, ticket: _Ticket, on_log: Callable[[str], None]) -> None:
        if self._running < self.max_concurrent and not self._waiting:
            self._running += 1
            return
        self._waiting.append(ticket)
        on_log(f"Queued: waiting for a build slot ({len(self._waiting) - 1} ahead, {self._running} running).")
        try:
            granted = await ticket.granted
        except asyncio.CancelledError:
            if ticket.granted.done() and not ticket.granted.cancelled() and ticket.granted.result():
                self._release()  # the slot was handed over just as we were cancelled: pass it on
            elif ticket in self._waiting:
                self._waiting.remove(ticket)
            raise
        if not granted:
            raise Error(CONFLICT, ticket.reason or CANCELLED)

    async def _run(self, ticket: _Ticket, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        if ticket.reason is not None:
            raise Error(CONFLICT, ticket.reason)
        task = asyncio.create_task(self.builder.build(req, on_log), name=f"build {req.deployment_id}")
        ticket.task = task
        try:
            await asyncio.wait([task], timeout=req.timeout_s + self.grace_s)
        except asyncio.CancelledError:
            await self._stop(task, req)  # the slot is free once the engine let go of the build
            raise
        if not task.done():
            await self._stop(task, req)
            if not task.done():
                message = f"build timed out after {req.timeout_s:g} s and did not stop; its slot was freed"
                on_log(message[0].upper() + message[1:] + ".")
                raise Error(INVALID, message)
        if task.cancelled():
            raise Error(CONFLICT, ticket.reason or CANCELLED)
        return task.result()

    async def _stop(self, task: asyncio.Task[BuildResult], req: BuildRequest) -> None:
        """Cancel the build and wait up to ``grace_s`` for it to end; past that, let it go."""
        task.cancel()
        await asyncio.wait([task], timeout=self.grace_s)
        if not task.done():
            log.warning("build %s did not stop %g s after it was cancelled; freeing its slot", req.deployment_id,
                        self.grace_s)  # fmt: skip
            self._abandoned.add(task)  # referenced until it ends, so that it is not collected mid-run
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[BuildResult]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("an abandoned build ended with %r", task.exception())

    def _end(self, ticket: _Ticket, reason: str) -> None:
        ticket.reason = reason
        if ticket in self._waiting:
            self._waiting.remove(ticket)
            ticket.granted.set_result(False)
        elif ticket.task is not None:
            ticket.task.cancel()

    def _release(self) -> None:
        self._running -= 1
        while self._waiting:
            nxt = self._waiting.popleft()
            if not nxt.granted.done():
                nxt.granted.set_result(True)
                self._running += 1
                return
