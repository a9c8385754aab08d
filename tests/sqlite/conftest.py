"""Fixtures for the SQLite store: a fresh store per test, a recording bus, a manual clock.

Every store test runs twice: on an in-memory database, where reads share the writer's connection,
and on a file, as the daemon runs it, where reads go through the read-only inline reader."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

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


@pytest.fixture(params=["memory", "file"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, bus: RecordingBus, clock: ManualClock
) -> AsyncIterator[Store]:
    if request.param == "memory":
        path, data_dir = ":memory:", None
    else:
        path, data_dir = str(tmp_path / "deploykit.db"), tmp_path
    s = Store(path=path, data_dir=data_dir, bus=bus, clock=clock, base_domain="example.test", bcrypt_rounds=4)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def project(store: Store) -> Project:
    return await store.projects.create_project(ProjectCreate(name="Shop"))
