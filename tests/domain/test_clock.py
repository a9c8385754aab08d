"""wait_event: the wake-up wait of every supervised loop."""

from __future__ import annotations

import asyncio

import pytest

from deploykit.clock import wait_event


async def test_wait_event_returns_true_when_set_and_false_on_timeout() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 0.01) is True
    assert await wait_event(event, None) is True


async def test_a_cancelled_loop_stops_even_when_its_event_is_set_at_the_same_moment() -> None:
    # asyncio.wait_for on Python 3.11 can swallow such a cancellation; the loop would run forever.
    event = asyncio.Event()
    turns = 0

    async def loop() -> None:
        nonlocal turns
        while True:
            turns += 1
            event.clear()
            await wait_event(event, 10)

    for _ in range(200):
        task = asyncio.create_task(loop())
        await asyncio.sleep(0)  # the loop is waiting now
        event.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
    assert turns >= 200
