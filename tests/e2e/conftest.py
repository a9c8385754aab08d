"""Fixtures for end-to-end tests against the real daemon (see support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import Account, Daemon, register_admin, running


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon per test module, with a fresh data directory."""
    with running(tmp_path_factory.mktemp("deploykitd")) as d:
        yield d


@pytest.fixture(scope="module")
def admin(daemon: Daemon) -> Account:
    """The first user of the module's daemon."""
    return register_admin(daemon)


@pytest.fixture
def fresh_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def docker_daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon of its own on the real engine, resyncing every 2 s; what it created goes with it."""
    daemon = Daemon(tmp_path / "data", docker=True, extra_args=["--reconcile-interval", "2s"])
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.terminate(clean_engine=True)
