"""The tcp_migrate_req switch, on a stand-in for its /proc file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deploykit_caddy import enable_tcp_migrate_req, tcp_migrate_req


@pytest.mark.parametrize(("content", "before", "after"), [("0\n", False, True), ("1\n", True, True)])
def test_enable_tcp_migrate_req_turns_it_on(tmp_path: Path, content: str, before: bool, after: bool) -> None:
    path = tmp_path / "tcp_migrate_req"
    path.write_text(content)
    assert tcp_migrate_req(path) is before
    assert enable_tcp_migrate_req(path) is after
    assert path.read_text().strip() == "1"


def test_a_kernel_without_it_is_none(tmp_path: Path) -> None:
    assert tcp_migrate_req(tmp_path / "missing") is None
    assert enable_tcp_migrate_req(tmp_path / "missing") is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_without_permission_it_stays_off(tmp_path: Path) -> None:
    path = tmp_path / "tcp_migrate_req"
    path.write_text("0\n")
    path.chmod(0o444)
    assert enable_tcp_migrate_req(path) is False
