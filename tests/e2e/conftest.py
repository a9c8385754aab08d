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
