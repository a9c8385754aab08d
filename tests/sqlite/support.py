"""Fakes and helpers for the SQLite store tests: a recording bus, a manual clock, staging shortcuts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from deploykit.bus import Event, EventType, Subscription
from deploykit.canvas import CanvasNode, NodeType
from deploykit.pending_change import ApplyResult, ChangeKind, PendingChange, PendingChangeCreate
from deploykit.service import Service
from deploykit_sqlite import Store

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class RecordingBus:
    """Records what is published; subscribing is not needed by the store."""

    events: list[Event] = field(default_factory=list)

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def subscribe(
        self, types: frozenset[EventType] | None = None, project_id: str | None = None, maxsize: int = 1000
    ) -> Subscription:
        raise AssertionError("the store never subscribes")

    def types(self) -> list[EventType]:
        return [e.type for e in self.events]

    def of(self, kind: EventType) -> list[Event]:
        return [e for e in self.events if e.type == kind]

    def clear(self) -> None:
        self.events.clear()


@dataclass
class ManualClock:
    current: datetime = START
    mono: float = 0.0

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.mono

    def advance(self, delta: timedelta) -> None:
        self.current += delta
        self.mono += delta.total_seconds()


def image_service(name: str, image: str = "nginx:1.27", port: int | None = 80, **extra: Any) -> dict[str, Any]:
    """A ``service.create`` payload."""
    return {"name": name, "source": {"type": "image", "image": image}, "port": port, **extra}


async def stage(
    store: Store,
    project_id: str,
    kind: ChangeKind,
    payload: dict[str, Any] | None = None,
    *,
    target_id: str | None = None,
    target_temp_id: str | None = None,
) -> PendingChange:
    return await store.pending_changes.append_pending_change(
        PendingChangeCreate(
            project_id=project_id,
            kind=kind,
            payload=payload or {},
            target_id=target_id,
            target_temp_id=target_temp_id,
        )
    )


async def deploy_services(
    store: Store, project_id: str, *payloads: dict[str, Any]
) -> tuple[list[Service], ApplyResult]:
    """Stage a create per payload and apply; the services in payload order."""
    temps = [(await stage(store, project_id, ChangeKind.SERVICE_CREATE, p)).target_temp_id for p in payloads]
    result = await store.pending_changes.apply_pending_changes(project_id, None)
    services = [await store.services.get_service(result.temp_id_to_service_id[str(t)]) for t in temps]
    return services, result


async def add_group(store: Store, project_id: str, id: str = "group-1") -> CanvasNode:
    return await store.canvas.upsert_node(CanvasNode(id=id, project_id=project_id, type=NodeType.GROUP))
