"""Backups end to end: ``deploykitd backup`` beside a serving daemon on the real engine, a restore
into an empty data directory, and the restored daemon serving the same projects, users, secrets,
deployments and volume data; ``backup --verify`` on sound and damaged archives."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_IMAGE
from tests.e2e.support import (
    Account,
    Daemon,
    create_member,
    create_project,
    instance_id_for,
    login,
    register_admin,
    remove_engine_objects,
)
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# Exits on SIGTERM at once (a shell as PID 1 has no default SIGTERM action).
SLEEPER = "trap 'exit 0' TERM; while true; do sleep 1; done"
PAYLOAD = "written before the backup\n"


def deploykitd(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploykitd", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=False)


def running_container(instance: str, service_id: str) -> str | None:
    out = docker(
        "ps",
        "-q",
        "--filter",
        f"label=deploykit.instance={instance}",
        "--filter",
        f"label=deploykit.service-id={service_id}",
        "--filter",
        "status=running",
    ).stdout.split()
    return out[0] if out else None


def volumes_of(instance: str) -> list[str]:
    return docker("volume", "ls", "-q", "--filter", f"label=deploykit.instance={instance}").stdout.split()


@dataclass
class Deployed:
    daemon: Daemon
    admin: Account
    project: dict[str, Any]
    service_id: str
    container: str


def deploy_with_volume(daemon: Daemon) -> Deployed:
    admin = register_admin(daemon)
    create_member(admin, "max@example.com")
    project = create_project(admin, "Shop")
    pid = project["id"]
    with admin.client() as c:
        r = c.post(f"/projects/{pid}/env-vars", json={"key": "DB_PASSWORD", "value": "s3cret-value"})
        assert r.status_code == 200, r.text
        body = {
            "name": "db",
            "source": {"type": "image", "image": TEST_IMAGE},
            "command": ["sh", "-c", SLEEPER],
            "volumes": [{"name": "data", "mount_path": "/data"}],
        }
        change = c.post(f"/projects/{pid}/services", json=body).json()
        ids = c.post(f"/projects/{pid}/deploy").json()["temp_id_to_service_id"]
    service_id = ids[change["target_temp_id"]]
    container = wait_for_sync(
        lambda: running_container(daemon.instance_id, service_id),
        within=60,
        message="the service to run",
        retry_on=(Exception,),
    )
    return Deployed(daemon, admin, project, service_id, container)


def snapshot_of(account: Account, project_id: str, service_id: str) -> dict[str, Any]:
    """What a person sees through the API, without the parts that change on their own."""
    with account.client() as c:
        deployments = c.get(f"/projects/{project_id}/services/{service_id}/deployments").json()["data"]
        return {
            "projects": [(p["id"], p["name"]) for p in c.get("/projects").json()["data"]],
            "users": sorted(u["email"] for u in c.get("/users").json()["data"]),
            "env": [(v["key"], v["value"]) for v in c.get(f"/projects/{project_id}/env-vars").json()["data"]],
            "deployments": [(d["id"], d["env_vars"]) for d in deployments],
        }


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for data in ("a", "b"):
        remove_engine_objects(instance_id_for(tmp_path / data))


def test_a_restore_serves_the_same_projects_secrets_and_volume_data(workdir: Path) -> None:
    first = Daemon(workdir / "a", docker=True, extra_args=["--reconcile-interval", "2s"]).start()
    try:
        d = deploy_with_volume(first)
        written = docker(
            "exec", d.container, "sh", "-c", f"printf '{PAYLOAD}' > /data/hello.txt; chown 1234:5678 /data/hello.txt"
        )
        assert written.returncode == 0, written.stderr
        before = snapshot_of(d.admin, d.project["id"], d.service_id)
        assert before["env"] == [("DB_PASSWORD", "s3cret-value")]

        archive = workdir / "backup.tar.zst"
        result = deploykitd(
            "backup", "--data-dir", str(first.data_dir), "--instance-id", first.instance_id, "--out", str(archive)
        )
        assert result.returncode == 0, result.stderr
        assert "1 volume(s)" in result.stdout
        # The daemon served throughout, and its container runs again (paused only for the copy).
        assert first.client().get("/health").status_code == 200
        assert json.loads(docker("inspect", d.container).stdout)[0]["State"]["Status"] == "running"
    finally:
        first.terminate(clean_engine=True)
    assert volumes_of(first.instance_id) == []

    refused = deploykitd("restore", str(archive), "--data-dir", str(first.data_dir))
    assert refused.returncode == 1
    assert "is not empty; pass --force" in refused.stderr

    restored_dir = workdir / "b"
    second_instance = instance_id_for(restored_dir)
    result = deploykitd("restore", str(archive), "--data-dir", str(restored_dir), "--instance-id", second_instance)
    assert result.returncode == 0, result.stderr
    assert volumes_of(second_instance), "the volume is back on the engine"

    second = Daemon(restored_dir, docker=True, extra_args=["--reconcile-interval", "2s"]).start()
    try:
        admin = login(second, "admin@example.com")
        assert login(second, "max@example.com").user["email"] == "max@example.com"
        assert snapshot_of(admin, d.project["id"], d.service_id) == before
        container = wait_for_sync(
            lambda: running_container(second_instance, d.service_id),
            within=60,
            message="the service to run",
            retry_on=(Exception,),
        )
        content = docker("exec", container, "cat", "/data/hello.txt")
        assert content.stdout == PAYLOAD
        owner = docker("exec", container, "stat", "-c", "%u:%g", "/data/hello.txt")
        assert owner.stdout.strip() == "1234:5678"
    finally:
        second.terminate(clean_engine=True)


def test_verify_passes_a_sound_archive_and_fails_a_damaged_one(workdir: Path) -> None:
    daemon = Daemon(workdir / "a", docker=True).start()
    try:
        d = deploy_with_volume(daemon)
        docker("exec", d.container, "sh", "-c", "head -c 300000 /dev/urandom > /data/noise.bin")
        archive = workdir / "sound.tar.zst"
        args = ["--data-dir", str(daemon.data_dir), "--instance-id", daemon.instance_id]
        assert deploykitd("backup", *args, "--out", str(archive)).returncode == 0
    finally:
        daemon.terminate(clean_engine=True)

    sound = deploykitd("backup", "--data-dir", str(workdir / "v"), "--verify", str(archive))
    assert sound.returncode == 0, sound.stdout + sound.stderr
    assert "is sound" in sound.stdout

    damaged = workdir / "damaged.tar.zst"
    raw = bytearray(archive.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 16] = bytes(b ^ 0xFF for b in raw[middle : middle + 16])
    damaged.write_bytes(bytes(raw))
    result = deploykitd("backup", "--data-dir", str(workdir / "v"), "--verify", str(damaged))
    assert result.returncode == 1
    assert "is damaged" in result.stdout

    refused = deploykitd("restore", str(damaged), "--data-dir", str(workdir / "c"), "--no-volumes")
    assert refused.returncode == 1
    assert "The archive is damaged" in refused.stderr
    assert not (workdir / "c" / "deploykit.db").exists()
