"""Backups through the API of the real daemon: admins only, a failed run listed with its reason,
the schedule validated and kept, and a run on the real engine that verifies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import UNSETTLED, Account, Daemon, create_member
from tests.e2e.test_backup import deploy_with_volume, deploykitd
from tests.wait import wait_for_sync


def finished(account: Account) -> dict[str, Any] | None:
    with account.client() as c:
        newest = c.get("/system/backups").json()["data"]
    return newest[0] if newest and newest[0]["status"] != "running" else None


def test_backups_are_for_admins_only(admin: Account) -> None:
    member = create_member(admin, "member-backups@example.com")
    with member.client() as c:
        assert c.get("/system/backups").status_code == 403
        assert c.post("/system/backups").status_code == 403
        assert c.put("/system/backups/schedule", json={"enabled": True}).status_code == 403


def test_a_failed_backup_is_listed_with_its_reason(admin: Account) -> None:
    with admin.client() as c:
        r = c.post("/system/backups")
        assert r.status_code == 202, r.text
        started = r.json()
    assert (started["status"], started["trigger"], started["created_by"]) == ("running", "manual", admin.user["id"])
    done = wait_for_sync(lambda: finished(admin), within=20, message="the backup to end", retry_on=UNSETTLED)
    assert done["id"] == started["id"]
    assert done["status"] == "failed"
    assert done["error"] == "The Docker engine is not reachable."  # this daemon has none: its volumes are out of reach
    assert done["location"] is None


def test_the_schedule_is_validated_and_kept(admin: Account) -> None:
    schedule = {"enabled": False, "interval_hours": 12, "keep": 3, "destination": "", "s3_endpoint": ""}
    with admin.client() as c:
        assert c.put("/system/backups/schedule", json=schedule).json() == schedule
        bad = c.put("/system/backups/schedule", json={**schedule, "keep": 0, "destination": "/mnt"})
        assert bad.status_code == 422
        assert set(bad.json()["fields"]) == {"keep", "destination"}
        assert c.get("/system/backups/schedule").json() == schedule


@pytest.mark.docker
@pytest.mark.slow
def test_a_backup_run_through_the_api_holds_the_volume_and_verifies(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "data", docker=True).start()
    try:
        d = deploy_with_volume(daemon)
        with d.admin.client() as c:
            assert c.post("/system/backups").status_code == 202
        done = wait_for_sync(lambda: finished(d.admin), within=60, message="the backup to end", retry_on=UNSETTLED)
    finally:
        daemon.terminate(clean_engine=True)
    assert done["status"] == "succeeded", done["error"]
    assert done["volumes"] == 1
    archive = Path(done["location"])
    assert archive.parent == daemon.data_dir / "backups"
    assert done["size_bytes"] == archive.stat().st_size
    verified = deploykitd("backup", "--data-dir", str(tmp_path / "v"), "--verify", str(archive))
    assert verified.returncode == 0, verified.stdout
