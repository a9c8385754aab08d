"""The in-process ``EventBus``.

Publishers are store commits and the reconciler; they must never wait for a slow subscriber. Each
subscriber therefore owns a bounded queue: when it is full the event is dropped for that subscriber
only, and counted. A subscriber that needs the truth after a drop re-reads the store.

Everything runs on one event loop; ``publish`` is a plain function so that it can be called from
synchronous code (a ``finally`` after commit) as well as from coroutines.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import AsyncIterator

from deploykit.audit import current_actor
from deploykit.bus import Event, EventType

log = logging.getLogger(__name__)


class Subscription:
    """An async iterator of events; ends (``StopAsyncIteration``) after ``close()``."""

    def __init__(
        self,
        bus: EventBus,
        types: frozenset[EventType] | None,
        project_id: str | None,
        maxsize: int,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._bus = bus
        self.types = types
        self.project_id = project_id
        self.maxsize = maxsize
        self._queue: deque[Event] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._dropped = 0

    @property
    def dropped(self) -> int:
        """Events lost because this subscriber's queue was full."""
        return self._dropped

    @property
    def closed(self) -> bool:
        return self._closed

    def pending(self) -> int:
        """Events queued and not yet consumed."""
        return len(self._queue)

    def wants(self, event: Event) -> bool:
        if self.types is not None and event.type not in self.types:
            return False
        return self.project_id is None or event.project_id == self.project_id

    def offer(self, event: Event) -> None:
        """Queue ``event`` or drop it when full. Called by the bus only."""
        if self._closed:
            return
        if len(self._queue) >= self.maxsize:
            self._dropped += 1
            return
        self._queue.append(event)
        self._wakeup.set()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    def close(self) -> None:
        """Stop receiving; a consumer waiting in ``__anext__`` gets ``StopAsyncIteration`` once
        the events already queued are consumed. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._bus._unsubscribe(self)
        self._wakeup.set()


class EventBus:
    """Implements ``deploykit.bus.EventBus``."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._closed = False
        self.published = 0

    def publish(self, event: Event) -> None:
        """Never blocks and never raises; a full subscriber queue drops the event for it."""
        if self._closed:
            return
        self.published += 1
        if event.actor is None:
            actor = current_actor()  # the request being served, for the audit log
            if actor is not None:
                event = dataclasses.replace(event, actor=actor)
        for sub in tuple(self._subscriptions):
            try:
                if sub.wants(event):
                    sub.offer(event)
            except Exception:  # a publisher must never see a subscriber's failure
                log.exception("event subscriber failed to accept %s", event.type)

    def subscribe(
        self,
        types: frozenset[EventType] | None = None,
        project_id: str | None = None,
        maxsize: int = 1000,
    ) -> Subscription:
        """Events of the given types (all when None) and project (all when None). A subscription
        made after ``close()`` is already closed."""
        sub = Subscription(self, types, project_id, maxsize)
        if self._closed:
            sub.close()
        else:
            self._subscriptions.append(sub)
        return sub

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def close(self) -> None:
        """End every subscription; later publishes are ignored. Idempotent."""
        self._closed = True
        for sub in tuple(self._subscriptions):
            sub.close()

    def _unsubscribe(self, sub: Subscription) -> None:
        try:
            self._subscriptions.remove(sub)
        except ValueError:
            pass
