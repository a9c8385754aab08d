"""Backups under ``--runtime swarm`` on the real single-node swarm: ``deploykitd backup`` pauses the
Swarm *task* container that mounts the volume while it is copied (and Swarm keeps that very task:
no restart, no new task), and a restore over the volume, which a running task holds, is refused
with the Swarm way out (scale the service to 0; stopping the task container would only make Swarm
start another); after that, the restore puts the old data back and ``serve`` starts the service
again with it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import Daemon, instance_id_for, remove_engine_objects
from tests.e2e.test_backup import PAYLOAD, deploy_with_volume, deploykitd, docker, running_container
from tests.e2e.test_swarm_traffic import remove_swarm_services
from tests.runtime_contract.conftest import swarm_problem
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.slow]

FLAGS = ["--runtime", "swarm", "--reconcile-interval", "2s"]


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    problem = swarm_problem()
    if problem is not None:
        if os.environ.get("DEPLOYKIT_REQUIRE_DOCKER") == "1":
            pytest.fail(f"DEPLOYKIT_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    instance = instance_id_for(tmp_path / "a")
    with contextlib.ExitStack() as stack:
        stack.callback(remove_engine_objects, instance)
        stack.callback(remove_swarm_services, instance)  # first: removing a task container restarts it
        yield tmp_path


def swarm_service(instance: str, service_id: str) -> str:
    names = docker(
        "service",
        "ls",
        "--format",
        "{{.Name}}",
        "--filter",
        f"label=deploykit.instance={instance}",
        "--filter",
        f"label=deploykit.service-id={service_id}",
    ).stdout.split()
    assert len(names) == 1, names
    return names[0]


def task_ids(service: str) -> list[str]:
    return docker("service", "ps", "-q", service).stdout.split()


def actions_of(container: str, since: int) -> list[str]:
    until = int(time.time()) + 1
    out = docker(
        "events",
        "--since",
        str(since),
        "--until",
        str(until),
        "--filter",
        f"container={container}",
        "--format",
        "{{.Action}}",
    ).stdout.split()
    return [a for a in out if a in {"pause", "unpause", "die", "kill", "stop"}]


def test_backup_pauses_the_task_and_restore_refuses_a_volume_swarm_holds(workdir: Path) -> None:
    first = Daemon(workdir / "a", docker=True, extra_args=FLAGS).start()
    instance = first.instance_id
    try:
        d = deploy_with_volume(first)
        service = swarm_service(instance, d.service_id)
        labels = json.loads(docker("inspect", d.container).stdout)[0]["Config"]["Labels"]
        assert labels["com.docker.swarm.service.name"] == service, "the replica runs as a Swarm task"
        written = docker("exec", d.container, "sh", "-c", f"printf '{PAYLOAD}' > /data/hello.txt")
        assert written.returncode == 0, written.stderr
        tasks = task_ids(service)

        archive = workdir / "backup.tar.zst"
        since = int(time.time()) - 1
        result = deploykitd(
            "backup", "--data-dir", str(first.data_dir), "--instance-id", instance, "--out", str(archive)
        )
        assert result.returncode == 0, result.stderr
        assert "1 volume(s)" in result.stdout
        assert actions_of(d.container, since) == ["pause", "unpause"]
        assert json.loads(docker("inspect", d.container).stdout)[0]["State"]["Status"] == "running"
        assert task_ids(service) == tasks, "Swarm kept the paused task: nothing was restarted or replaced"

        changed = docker("exec", d.container, "sh", "-c", "echo written after the backup > /data/hello.txt")
        assert changed.returncode == 0, changed.stderr
    finally:
        first.terminate()  # the Swarm services outlive the daemon, as containers do

    # The task still runs (the daemon is gone, Swarm is not) and holds the volume.
    assert running_container(instance, d.service_id) == d.container
    args = ["restore", str(archive), "--data-dir", str(first.data_dir), "--instance-id", instance, "--force"]
    refused = deploykitd(*args)
    assert refused.returncode == 1
    assert f"in use by the Swarm service(s) {service}" in refused.stderr, refused.stderr
    assert f"docker service scale {service}=0" in refused.stderr

    scaled = subprocess.run(["docker", "service", "scale", f"{service}=0"], capture_output=True, text=True, timeout=120)
    assert scaled.returncode == 0, scaled.stderr
    wait_for_sync(
        lambda: not docker("ps", "-aq", "--filter", f"volume={volume_of(instance)}").stdout.split(),
        within=60,
        message="the scaled-down task's container to go",
    )
    result = deploykitd(*args)
    assert result.returncode == 0, result.stderr + result.stdout

    second = Daemon(workdir / "a", docker=True, extra_args=FLAGS).start()
    try:
        container = wait_for_sync(
            lambda: running_container(instance, d.service_id),
            within=120,
            message="serve to start the service again",
            retry_on=(Exception,),
        )
        assert docker("exec", container, "cat", "/data/hello.txt").stdout == PAYLOAD
        labels = json.loads(docker("inspect", container).stdout)[0]["Config"]["Labels"]
        assert "com.docker.swarm.service.name" in labels, "a Swarm task again"
    finally:
        second.terminate()


def volume_of(instance: str) -> str:
    names = docker("volume", "ls", "-q", "--filter", f"label=deploykit.instance={instance}").stdout.split()
    assert len(names) == 1, names
    return names[0]
