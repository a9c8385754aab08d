"""The Notifier: a bus subscriber that turns domain events into notifications, sends each to the
channels that hear it, retries with exponential backoff and records every delivery's outcome.

It never blocks the bus (its subscription has its own bounded queue) and never lets a slow
receiver hold up another: each delivery is its own tracked task, cancelled and awaited on
``close()``. A test notification is sent once, at once, and its outcome returned.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deploykit.bus import Event, EventBus, Subscription
from deploykit.clock import Clock, SystemClock, wait_event
from deploykit.deployment import DeploymentService
from deploykit.errors import error_message
from deploykit.notification import (
    NOTIFYING_TYPES,
    Channel,
    ChannelFilter,
    ChannelKind,
    ChannelService,
    Delivery,
    DeliveryOutcome,
    Notification,
    NotificationKind,
    Sender,
    notification_kind,
)
from deploykit.project import ProjectService
from deploykit.service import ServiceService
from deploykit_notify.messages import describe
from deploykit_notify.senders import EmailSender, HTTPSender

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class NotifierSettings:
    public_url: str = ""
    """The UI's address (``https://deploy.example.com``) for links in notifications; none when empty."""
    attempts: int = 5
    """Tries per delivery: the first and four retries."""
    backoff_s: float = 2.0
    """The first retry's delay; doubled for each later one."""
    backoff_max_s: float = 120.0
    timeout_s: float = 10.0
    """Per HTTP request or SMTP conversation."""


class Notifier:
    """Implements ``deploykit.notification.ChannelTester``; ``start()`` subscribes to the bus."""

    def __init__(
        self,
        *,
        bus: EventBus,
        channels: ChannelService,
        projects: ProjectService,
        services: ServiceService,
        deployments: DeploymentService,
        settings: NotifierSettings | None = None,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._bus = bus
        self._channels = channels
        self._projects = projects
        self._services = services
        self._deployments = deployments
        self.settings = settings or NotifierSettings()
        self._clock = clock or SystemClock()
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._senders: dict[ChannelKind, Sender] = {}
        self._subscription: Subscription | None = None
        self._follower: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[Delivery]] = set()
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        if self._follower is not None:
            return
        http = HTTPSender(self._http_client)
        self._senders = {
            ChannelKind.WEBHOOK: http,
            ChannelKind.SLACK: http,
            ChannelKind.DISCORD: http,
            ChannelKind.EMAIL: EmailSender(timeout_s=self.settings.timeout_s),
        }
        self._stopping.clear()
        self._subscription = self._bus.subscribe(NOTIFYING_TYPES, maxsize=2000)
        self._follower = asyncio.create_task(self._follow(self._subscription), name="notifier")

    async def close(self) -> None:
        """Stop following the bus; deliveries still retrying are cancelled (their record stays
        ``pending`` with the attempts made)."""
        self._stopping.set()
        if self._subscription is not None:
            self._subscription.close()
        tasks = [t for t in (self._follower, *self._deliveries) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._follower = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http_client(self) -> httpx.AsyncClient:
        """The HTTP channels' shared client, made (and httpx imported) on the first HTTP delivery."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=self.settings.timeout_s, transport=self._transport)
        return self._client

    async def idle(self) -> None:
        """Wait until every delivery started so far has finished (for tests and shutdown)."""
        while self._deliveries:
            await asyncio.gather(*tuple(self._deliveries), return_exceptions=True)

    async def _follow(self, sub: Subscription) -> None:
        async for event in sub:
            try:
                await self.notify(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notifying %s failed", event.type)

    async def notify(self, event: Event) -> list[asyncio.Task[Delivery]]:
        """Start a delivery to every channel that hears ``event``; the delivery tasks."""
        kind = notification_kind(event)
        if kind is None:
            return []
        note = await self._notification(kind, event)
        started = []
        for channel in await self._channels.list_channels(ChannelFilter(project_id=event.project_id)):
            if channel.hears(note):
                task = asyncio.create_task(self._deliver(channel, note), name=f"notify-{channel.id[:8]}")
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
                started.append(task)
        return started

    async def send_test(self, channel_id: str) -> Delivery:
        channel = await self._channels.get_channel(channel_id)
        note = Notification(
            event=NotificationKind.TEST,
            message=f"A test notification for the channel {channel.name!r}. It works.",
            at=self._clock.now(),
            url=self.settings.public_url or None,
        )
        return await self._deliver(channel, note, attempts=1)

    async def _deliver(self, channel: Channel, note: Notification, attempts: int | None = None) -> Delivery:
        total = attempts or max(1, self.settings.attempts)
        delivery = Delivery(
            id=str(uuid.uuid4()),
            channel_id=channel.id,
            event=note.event,
            outcome=DeliveryOutcome.PENDING,
            message=note.message,
            created_at=self._clock.now(),
        )
        delivery = await self._channels.record_delivery(delivery)
        sender = self._senders[channel.kind]
        for attempt in range(1, total + 1):
            delivery.attempts = attempt
            try:
                await sender.send(channel, note)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delivery.error = error_message(exc)
                log.warning(
                    "notification to %s (attempt %d/%d) failed: %s", channel.name, attempt, total, delivery.error
                )
            else:
                delivery.outcome, delivery.error = DeliveryOutcome.SUCCESS, None
                break
            if attempt < total:
                await self._channels.record_delivery(delivery)
                delay = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** (attempt - 1))
                if await wait_event(self._stopping, delay):
                    return delivery
        else:
            delivery.outcome = DeliveryOutcome.FAILED
        delivery.finished_at = self._clock.now()
        return await self._channels.record_delivery(delivery)

    async def _notification(self, kind: NotificationKind, event: Event) -> Notification:
        """The notification for ``event``, with the project's and service's names (looked up: an
        event carries ids) and the deployment's failure reason."""
        project = service = None
        deployment = None
        p = event.payload
        try:
            if event.project_id:
                project = await self._projects.get_project(event.project_id)
            if event.service_id:
                service = await self._services.get_service(event.service_id)
            if p.get("deployment_id"):
                deployment = await self._deployments.get_deployment(str(p["deployment_id"]))
        except Exception as exc:  # deleted meanwhile: tell what is known
            log.info("notification for %s without some names: %s", event.type, error_message(exc))
        url = None
        if self.settings.public_url and event.project_id:
            url = f"{self.settings.public_url.rstrip('/')}/projects/{event.project_id}"
            if event.service_id:
                url += f"?service={event.service_id}"
        return Notification(
            event=kind,
            message=describe(kind, p, service.name if service else None, deployment),
            at=event.at or self._clock.now(),
            project_id=event.project_id,
            project=project.name if project else None,
            service_id=event.service_id,
            service=service.name if service else None,
            deployment_id=str(p["deployment_id"]) if p.get("deployment_id") else None,
            url=url,
            details={k: v for k, v in p.items() if isinstance(v, str | int | float | bool) or v is None},
        )
