"""Volume names through the real daemon and engine. Before, service ``db`` with volume ``x-data`` and
service ``db-x`` with volume ``data`` both mounted ``dk-<project>-db-x-data``: one read the other's
data, and deleting one removed the other's. Now every engine name is unambiguous, a volume made
under the old name keeps it (with its data) after an upgrade, and a service never mounts nor
removes a volume that carries another service's id."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_IMAGE
from tests.e2e.support import Account, Daemon, create_project, login, register_admin
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SERVICES = (("db", "x-data"), ("db-x", "data"))
"""Two services whose volumes had the same engine name before."""


def docker(*args: str) -> str:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def volume_labels(name: str) -> dict[str, str]:
    return dict(json.loads(docker("volume", "inspect", name))[0]["Labels"] or {})


def volumes_of(instance: str) -> set[str]:
    return set(docker("volume", "ls", "-q", "--filter", f"label=deploykit.instance={instance}").split())


def container_of(service_id: str) -> str | None:
    ids = docker("ps", "-q", "--filter", f"label=deploykit.service-id={service_id}").split()
    return ids[0] if len(ids) == 1 else None


def read(service_id: str, path: str) -> str:
    cid = wait_for_sync(
        lambda: container_of(service_id), within=60, message="the service's container", retry_on=(Exception,)
    )
    out = subprocess.run(["docker", "exec", cid, "cat", path], capture_output=True, text=True, timeout=30)
    return out.stdout if out.returncode == 0 else ""


def write(service_id: str, path: str, text: str) -> None:
    cid = wait_for_sync(
        lambda: container_of(service_id), within=60, message="the service's container", retry_on=(Exception,)
    )
    docker("exec", cid, "sh", "-c", f"echo {text} > {path}")


def stage_services(admin: Account, pid: str) -> dict[str, str]:
    """Stage and apply both services (each mounting its volume at /data); their ids by name."""
    with admin.client() as c:
        temps = {}
        for name, volume in SERVICES:
            body = {
                "name": name,
                "source": {"type": "image", "image": TEST_IMAGE},
                "command": ["sleep", "3600"],
                "volumes": [{"name": volume, "mount_path": "/data"}],
            }
            r = c.post(f"/projects/{pid}/services", json=body)
            assert r.status_code == 200, r.text
            temps[name] = r.json()["target_temp_id"]
        applied = c.post(f"/projects/{pid}/deploy")
        assert applied.status_code == 200, applied.text
        ids = applied.json()["temp_id_to_service_id"]
    return {name: ids[temp] for name, temp in temps.items()}


def healthy(admin: Account, pid: str, sid: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        with admin.client() as c:
            svc = c.get(f"/projects/{pid}/services/{sid}").json()
        return dict(svc) if svc["status"] == "running" and container_of(sid) else None

    return wait_for_sync(check, within=60, message="the service to run", retry_on=(Exception,))


def delete_service(admin: Account, pid: str, sid: str) -> None:
    with admin.client() as c:
        assert c.delete(f"/projects/{pid}/services/{sid}").status_code == 200
        assert c.post(f"/projects/{pid}/deploy").status_code == 200


def test_services_whose_old_volume_names_collide_get_a_volume_each(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "data", docker=True).start()
    try:
        admin = register_admin(daemon)
        project = create_project(admin, "Collide")
        pid, slug = project["id"], project["slug"]
        ids = stage_services(admin, pid)
        for sid in ids.values():
            healthy(admin, pid, sid)
        write(ids["db"], "/data/owner", "db")
        assert read(ids["db-x"], "/data/owner") == ""  # not db's data
        assert volumes_of(daemon.instance_id) == {f"dk_{slug}_db_x-data", f"dk_{slug}_db-x_data"}
        assert volume_labels(f"dk_{slug}_db_x-data")["deploykit.service-id"] == ids["db"]

        write(ids["db-x"], "/data/owner", "db-x")
        delete_service(admin, pid, ids["db"])
        wait_for_sync(
            lambda: f"dk_{slug}_db_x-data" not in volumes_of(daemon.instance_id),
            within=60,
            message="db's volume to go",
            retry_on=(Exception,),
        )
        assert read(ids["db-x"], "/data/owner") == "db-x\n"
    finally:
        daemon.terminate(clean_engine=True)


def test_an_upgrade_keeps_each_volume_made_under_the_old_name_with_its_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # The store as an older daemon left it: services applied (the engine was down, so nothing ran yet)...
    offline = Daemon(data).start()
    admin = register_admin(offline)
    project = create_project(admin, "Upgrade")
    pid, slug = project["id"], project["slug"]
    ids = stage_services(admin, pid)
    offline.terminate()
    db = sqlite3.connect(data / "deploykit.db")
    with db:
        db.execute("ALTER TABLE services DROP COLUMN volume_names")
        db.execute("DELETE FROM schema_migrations WHERE name = '0006_volume_names.sql'")
    db.close()
    # ... and the one volume both services mounted under the old name, created by db (its labels).
    instance = offline.instance_id
    legacy = f"dk-{slug}-db-x-data"
    docker("volume", "create", legacy, "--label", "managed-by=deploykit", "--label", f"deploykit.project-id={pid}",
           "--label", f"deploykit.service-id={ids['db']}", "--label", f"deploykit.instance={instance}")  # fmt: skip
    docker("run", "--rm", "-v", f"{legacy}:/data", TEST_IMAGE, "sh", "-c", "echo precious > /data/file")

    daemon = Daemon(data, docker=True).start()
    try:
        admin = login(daemon, admin.email)
        for sid in ids.values():
            healthy(admin, pid, sid)
        assert read(ids["db"], "/data/file") == "precious\n"  # the same volume, every byte
        assert read(ids["db-x"], "/data/file") == ""  # a volume of its own now
        assert volumes_of(instance) == {legacy, f"dk_{slug}_db-x_data"}

        write(ids["db-x"], "/data/file", "mine")
        delete_service(admin, pid, ids["db"])
        wait_for_sync(
            lambda: legacy not in volumes_of(instance), within=60, message="db's volume to go", retry_on=(Exception,)
        )
        assert read(ids["db-x"], "/data/file") == "mine\n"
    finally:
        daemon.terminate(clean_engine=True)


def test_a_volume_that_carries_another_services_id_is_never_mounted(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path / "data", docker=True).start()
    try:
        admin = register_admin(daemon)
        project = create_project(admin, "Squat")
        pid, slug = project["id"], project["slug"]
        # A volume under the name db's volume will get, labelled as another service's.
        squatted = f"dk_{slug}_db_x-data"
        docker("volume", "create", squatted, "--label", "managed-by=deploykit", "--label",
               f"deploykit.instance={daemon.instance_id}", "--label", "deploykit.service-id=someone-else")  # fmt: skip
        docker("run", "--rm", "-v", f"{squatted}:/data", TEST_IMAGE, "sh", "-c", "echo theirs > /data/file")
        ids = stage_services(admin, pid)

        def failed() -> dict[str, Any] | None:
            with admin.client() as c:
                deps = c.get(f"/projects/{pid}/services/{ids['db']}/deployments").json()["data"]
            return dict(deps[0]) if deps and deps[0]["status"] == "failed" else None

        dep = wait_for_sync(failed, within=60, message="db's deployment to fail", retry_on=(Exception,))
        assert f"Volume {squatted} belongs to another service." in (dep["failure_reason"] or ""), dep
        assert container_of(ids["db"]) is None
        assert volume_labels(squatted)["deploykit.service-id"] == "someone-else"
    finally:
        daemon.terminate(clean_engine=True)
