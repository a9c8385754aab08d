"""The audit log's producer: a bus subscriber that appends an entry for every audited event.

Events carry who caused them (``Event.actor``, stamped by the bus inside a request), so nothing
here or in the handlers asks who acted. The subscription's queue is large: the bus drops events
for a subscriber that falls behind, and an audit entry lost that way is not coming back (a drop
is logged with the count).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from deploykit.audit import AuditService, audit_entry, audited
from deploykit.bus import EventBus, Subscription
from deploykit.clock import Clock
from deploykit.errors import error_message

log = logging.getLogger(__name__)

QUEUE = 20_000


class AuditRecorder:
    def __init__(self, *, bus: EventBus, audit: AuditService, clock: Clock) -> None:
        self._bus = bus
        self._audit = audit
        self._clock = clock
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self.recorded = 0

    def start(self) -> None:
        if self._task is None:
            self._subscription = self._bus.subscribe(maxsize=QUEUE)
            self._task = asyncio.create_task(self._follow(self._subscription), name="audit-recorder")

    async def close(self) -> None:
        """Record what is already queued, then stop."""
        if self._subscription is not None:
            self._subscription.close()  # the loop drains the queue, then ends
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except TimeoutError:
                log.warning("audit entries still queued at shutdown were not recorded")
            self._task = None

    async def _follow(self, sub: Subscription) -> None:
        dropped = 0
        async for event in sub:
            if sub.dropped != dropped:
                log.error("the audit log missed %d events (its queue was full)", sub.dropped - dropped)
                dropped = sub.dropped
            if not audited(event):
                continue
            try:
                await self._audit.append(audit_entry(event, id=str(uuid.uuid4()), at=self._clock.now()))
                self.recorded += 1
            except Exception as exc:
                log.error("recording %s in the audit log failed: %s", event.type, error_message(exc))
