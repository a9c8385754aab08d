from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from deploykit_docker import DockerRuntime
from deploykit_events.bus import EventBus
from deploykit_sqlite import Store
from tests.reconciler.support import FAST, Harness


@pytest.fixture
async def harness(test_image: str) -> AsyncIterator[Harness]:
    """A store, a bus, a Docker runtime and a started reconciler; everything removed after."""
    bus = EventBus()
    store = Store(path=":memory:", bus=bus, bcrypt_rounds=4)
    await store.open()
    runtime = DockerRuntime()
    await runtime.open()
    h = Harness(store=store, bus=bus, runtime=runtime, settings=FAST, image=test_image)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
        await h.cleanup()
        await runtime.close()
        await store.close()
