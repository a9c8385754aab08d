"""The in-process EventBus: publish never blocks, bounded queues drop and count, close ends iteration."""

from __future__ import annotations

import asyncio

import pytest

from deploykit.bus import Event, EventType
from deploykit_events import EventBus


def event(type: EventType = EventType.SERVICE_CREATED, project_id: str | None = "p1") -> Event:
    return Event(type=type, project_id=project_id, service_id="s1")


async def test_subscriber_receives_published_events_in_order() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish(event(EventType.SERVICE_CREATED))
    bus.publish(event(EventType.SERVICE_DELETED))
    assert [(await anext(sub)).type, (await anext(sub)).type] == [
        EventType.SERVICE_CREATED,
        EventType.SERVICE_DELETED,
    ]


@pytest.mark.parametrize(
    ("types", "project_id", "published", "received"),
    [
        (None, None, [("service.created", "p1"), ("service.deleted", "p2")], 2),
        (frozenset({EventType.SERVICE_DELETED}), None, [("service.created", "p1"), ("service.deleted", "p2")], 1),
        (None, "p1", [("service.created", "p1"), ("service.deleted", "p2")], 1),
        (frozenset({EventType.SERVICE_DELETED}), "p1", [("service.created", "p1"), ("service.deleted", "p2")], 0),
    ],
)
async def test_subscription_filters_by_type_and_project(
    types: frozenset[EventType] | None, project_id: str | None, published: list[tuple[str, str]], received: int
) -> None:
    bus = EventBus()
    sub = bus.subscribe(types, project_id)
    for type, pid in published:
        bus.publish(event(EventType(type), pid))
    assert sub.pending() == received


async def test_full_queue_drops_and_counts_without_blocking_the_publisher() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=2)
    fast = bus.subscribe(maxsize=100)
    for _ in range(5):
        bus.publish(event())
    assert slow.pending() == 2
    assert slow.dropped == 3
    assert fast.pending() == 5
    assert fast.dropped == 0


async def test_close_ends_iteration_after_queued_events() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish(event())
    sub.close()
    bus.publish(event())
    got = [e async for e in sub]
    assert len(got) == 1
    assert bus.subscriber_count == 0


async def test_close_wakes_a_waiting_consumer() -> None:
    bus = EventBus()
    sub = bus.subscribe()

    received = asyncio.Event()

    async def consume() -> list[Event]:
        got = []
        async for e in sub:
            got.append(e)
            received.set()
        return got

    task = asyncio.create_task(consume())
    bus.publish(event())
    await asyncio.wait_for(received.wait(), 2)  # the consumer has taken it and waits for the next
    sub.close()
    assert len(await asyncio.wait_for(task, 2)) == 1


async def test_publish_after_bus_close_is_harmless() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.close()
    bus.publish(event())
    assert [e async for e in sub] == []
    late = bus.subscribe()
    assert late.closed
    assert [e async for e in late] == []


def test_publish_without_a_running_loop_does_not_raise() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish(event())
    assert sub.pending() == 1
