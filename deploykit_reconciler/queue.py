"""A keyed work queue: the reconciler's unit of concurrency.

- Adding a key that is already queued does nothing (coalescing); adding a key that is being
  worked on marks it dirty, and it runs once more right after (never twice at once).
- A bounded number of workers take keys in order, so one slow key (an image pull) holds one
  worker, never the others.
- A failing key is retried with exponential backoff (``backoff_min_s`` doubling up to
  ``backoff_max_s``), reset by its next success. While a key waits for its retry, ordinary adds
  coalesce into that retry; ``add(key, force=True)`` (a user's action) runs it now.
- A handler may return a delay in seconds to be run again after it, without counting a failure.
- ``stop()`` drains: no new work starts, running work gets ``timeout_s`` to finish, then it is
  cancelled.

Its idle cost is small per key, since a daemon whose engine is away holds a retry for every
service: retries wait in one heap behind one timer (not a timer each), and a key's lock exists
only while somebody holds it or waits for it.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from deploykit.errors import error_code, error_message

log = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[float | None]]


@dataclass(frozen=True)
class Backoff:
    min_s: float = 1.0
    max_s: float = 30.0

    def delay(self, failures: int) -> float:
        return float(min(self.max_s, self.min_s * 2 ** max(0, failures - 1)))


class WorkQueue:
    def __init__(self, handler: Handler, *, workers: int, backoff: Backoff, name: str = "reconcile") -> None:
        self._handler = handler
        self._workers_wanted = max(1, workers)
        self._backoff = backoff
        self._name = name
        self._queue: asyncio.Queue[str] | None = None
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._failures: dict[str, int] = {}
        self._due: dict[str, float] = {}
        """Keys waiting for a retry, and when (loop time); ``_heap`` orders them, ``_timer`` wakes
        for the soonest. The heap may hold stale entries (a key since run or rescheduled sooner):
        an entry counts only while ``_due`` agrees with it."""
        self._heap: list[tuple[float, str]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._closed = False

    # -- adding work ------------------------------------------------------------------------------

    def add(self, key: str, *, force: bool = False) -> None:
        """Never blocks."""
        if self._closed:
            return
        if key in self._due:
            if not force:
                return
            del self._due[key]
        if key in self._running:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._idle.clear()
        if self._queue is not None:
            self._queue.put_nowait(key)

    def add_after(self, key: str, delay_s: float) -> None:
        """Run ``key`` after ``delay_s`` unless a retry is already scheduled sooner."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay_s
        existing = self._due.get(key)
        if existing is not None and existing <= when:
            return
        self._idle.clear()
        self._due[key] = when
        if len(self._heap) > 2 * len(self._due) + 64:  # mostly stale: rebuild from what is due
            self._heap = [(w, k) for k, w in self._due.items()]
            heapq.heapify(self._heap)
        else:
            heapq.heappush(self._heap, (when, key))
        self._arm(loop)

    def retry_now(self) -> None:
        """Run every key that waits for a retry now (the cause of the failures went away)."""
        due, self._due = self._due, {}
        self._disarm()
        for key in due:
            self.add(key)

    @property
    def waiting(self) -> int:
        """How many keys wait for a retry."""
        return len(self._due)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        heap = self._heap
        while heap and self._due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        if not heap:
            self._disarm()
            return
        soonest = heap[0][0]
        if self._timer is not None:
            if self._timer.when() <= soonest:
                return
            self._timer.cancel()
        self._timer = loop.call_at(soonest, self._fire)

    def _disarm(self) -> None:
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            if self._due.get(key) == when:
                del self._due[key]
                self.add(key)
        self._arm(loop)

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        """Held by a worker while it handles ``key``; hold it to exclude the worker. The lock
        is forgotten once nobody holds or waits for it."""
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    @property
    def busy(self) -> bool:
        return bool(self._queued or self._running or self._dirty)

    async def wait_idle(self) -> None:
        """Until nothing is queued or running (scheduled retries do not count)."""
        while self.busy:
            self._idle.clear()
            await self._idle.wait()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._queue is not None:
            return
        self._closed = False
        self._queue = asyncio.Queue()
        for key in self._queued:
            self._queue.put_nowait(key)
        for i in range(self._workers_wanted):
            self._workers.append(asyncio.create_task(self._work(), name=f"{self._name}-worker-{i}"))

    async def stop(self, timeout_s: float) -> None:
        self._closed = True
        self._due.clear()
        self._disarm()
        workers, self._workers = self._workers, []
        if not workers:
            return
        # Idle workers wait on the queue: wake them with a sentinel each.
        assert self._queue is not None
        for _ in workers:
            self._queue.put_nowait("")
        _, pending = await asyncio.wait(workers, timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if pending:
            log.warning("%s: cancelled %d unfinished work items on shutdown", self._name, len(pending))
        self._queue = None
        self._queued.clear()
        self._running.clear()
        self._dirty.clear()
        self._idle.set()

    # -- workers ----------------------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            key = await queue.get()
            if key == "" or self._closed:
                return
            self._queued.discard(key)
            self._running.add(key)
            try:
                async with self.lock(key):
                    again = await self._run(key)
            finally:
                self._running.discard(key)
            if again is not None:
                self.add_after(key, again)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            if not self.busy:
                self._idle.set()

    async def _run(self, key: str) -> float | None:
        try:
            again = await self._handler(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            delay = self._backoff.delay(failures)
            if error_code(exc) == "internal":
                log.exception("%s %s failed (attempt %d); retrying in %.1f s", self._name, key, failures, delay)
            else:
                log.warning(
                    "%s %s failed (attempt %d): %s; retrying in %.1f s",
                    self._name,
                    key,
                    failures,
                    error_message(exc),
                    delay,
                )
            self._dirty.discard(key)
            self.add_after(key, delay)
            return None
        self._failures.pop(key, None)
        return again
