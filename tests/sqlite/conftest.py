"""Fixtures for the SQLite store: a fresh in-memory store per test, a recording bus, a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from deploykit.project import Project, ProjectCreate
from deploykit_sqlite import Store
from tests.sqlite.support import ManualClock, RecordingBus


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(bus: RecordingBus, clock: ManualClock) -> AsyncIterator[Store]:
    s = Store(path=":memory:", data_dir=None, bus=bus, clock=clock, base_domain="example.test", bcrypt_rounds=4)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def project(store: Store) -> Project:
    return await store.projects.create_project(ProjectCreate(name="Shop"))
