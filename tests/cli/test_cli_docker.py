"""``dk`` with a real daemon on the real Docker engine: deploy and follow to healthy, a failing
deployment (exit 6 with its reason), logs (also ``-f`` as a real process), stop/start,
redeploy, rollback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builder.conftest import Repo, dockerfile, run
from tests.cli.conftest import Dk
from tests.conftest import TEST_IMAGE
from tests.e2e.support import UNSETTLED, Account, Daemon, create_project, register_admin
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TICKER = "echo hello-from-dk; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"


@pytest.fixture(scope="module")
def docker_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    args = ["--reconcile-interval", "2s", "--allow-local-repos"]
    daemon = Daemon(tmp_path_factory.mktemp("dk-docker"), docker=True, extra_args=args)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.terminate(clean_engine=True)


@pytest.fixture(scope="module")
def owner(docker_daemon: Daemon) -> Account:
    return register_admin(docker_daemon)


@pytest.fixture
def dkd(docker_daemon: Daemon, owner: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dk:
    monkeypatch.chdir(tmp_path)
    return Dk(docker_daemon.base, tmp_path / "config", owner.token)


def running_containers(service_id: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=deploykit.service-id={service_id}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.split()


def started_at(container: str) -> str:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.StartedAt}}", container], capture_output=True, text=True, timeout=30
    )
    return out.stdout.strip()


def test_deploy_wait_follow_logs_stop_start_and_redeploy(dkd: Dk, owner: Account) -> None:
    project = create_project(owner, "Dk Docker")
    dkd.ok("use", project["slug"])
    dkd.ok("add", "ticker", "--image", TEST_IMAGE, "--command", f"sh -c '{TICKER}'")
    deployed = dkd.ok("deploy", "--wait", "--timeout", "120")
    assert "✓ ticker is healthy" in deployed.stderr
    assert "Applied 1 change(s); deploying ticker" in deployed.stdout

    services = json.loads(dkd.ok("services", "--json").stdout)
    sid = services[0]["id"]
    assert services[0]["status"] == "running"
    assert len(running_containers(sid)) == 1
    status = dkd.ok("status").stdout
    assert "ticker" in status
    assert "running" in status

    printed = dkd.ok("logs", "ticker", "--tail", "1000").stdout
    assert "hello-from-dk" in printed
    lines = [json.loads(x) for x in dkd.ok("logs", "ticker", "--tail", "3", "--json").stdout.splitlines()]
    ticks = [int(x["line"].split()[1]) for x in lines]
    assert ticks == [ticks[0], ticks[0] + 1, ticks[0] + 2]  # the last three: new lines are left out
    assert {"container_id", "stream", "line", "ts"} <= set(lines[0])

    # dk logs -f as a real process: it prints new lines as they come and ends when the service stops.
    env = {**os.environ, **{k: v for k, v in dkd.env().items() if v is not None}}
    for key in ("DK_PROJECT",):
        env.pop(key, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploykit_cli", "logs", "ticker", "-f", "--tail", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for_sync(
            lambda: sum("tick" in line for line in seen) >= 5,
            within=60,
            message="dk logs -f to print new lines",
            retry_on=UNSETTLED,
        )
        assert proc.poll() is None
        dkd.ok("stop", "ticker")
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    ticks = [int(line.split("tick ")[1]) for line in seen if "tick " in line]
    assert ticks == sorted(ticks)
    assert len(ticks) >= 5
    wait_for_sync(
        lambda: running_containers(sid) == [],
        within=60,
        message="the stopped service's container to stop",
        retry_on=UNSETTLED,
    )
    assert json.loads(dkd.ok("services", "--json").stdout)[0]["stopped"] is True

    dkd.ok("start", "ticker")
    (container,) = wait_for_sync(
        lambda: running_containers(sid), within=60, message="the started service to run", retry_on=UNSETTLED
    )
    started = started_at(container)
    assert dkd.ok("restart", "ticker").stdout.strip() == "Restarted ticker."
    wait_for_sync(
        lambda: any(started_at(c) != started for c in running_containers(sid)),
        within=60,
        message="a restarted replica",
        retry_on=UNSETTLED,
    )

    redeployed = dkd.ok("redeploy", "ticker", "--wait", "--timeout", "120")
    assert "✓ ticker is healthy" in redeployed.stderr
    history = json.loads(dkd.ok("deployments", "ticker", "--json").stdout)
    assert [d["status"] for d in history] == ["healthy", "superseded"]


def test_deploy_wait_on_a_failing_deployment_exits_6_with_the_reason(dkd: Dk, owner: Account) -> None:
    project = create_project(owner, "Dk Failing")
    p = ["--project", project["id"]]
    dkd.ok("add", "broken", "--image", TEST_IMAGE, "--command", "sh -c 'echo boom-$((6*7)); exit 3'", *p)
    result = dkd("deploy", "--wait", "--timeout", "120", *p)
    assert result.exit_code == 6, result.stderr
    assert "✗ broken failed" in result.stderr
    assert "exited with code 3" in result.stderr
    assert "boom-42" in result.stderr  # the last log lines come with the reason
    assert "1 deployment(s) failed." in result.stderr
    history = json.loads(dkd.ok("deployments", "broken", "--json", *p).stdout)
    assert [d["status"] for d in history] == ["failed"]
    assert "exited with code 3" in history[0]["failure_reason"]


def test_rollback_runs_the_previous_healthy_deployment_again(dkd: Dk, owner: Account) -> None:
    project = create_project(owner, "Dk Rollback")
    p = ["--project", project["id"]]
    dkd.ok("add", "app", "--image", TEST_IMAGE, "--command", "sh -c 'echo v1; sleep 3600'", *p)
    dkd.ok("deploy", "--wait", "--timeout", "120", *p)
    dkd.ok("set", "app", "command=sh -c 'echo v2; sleep 3600'", *p)
    dkd.ok("deploy", "--wait", "--timeout", "120", *p)
    first, second = reversed(json.loads(dkd.ok("deployments", "app", "--json", *p).stdout))
    assert (first["status"], second["status"]) == ("superseded", "healthy")

    # As in a terminal: the live view of the deployment (Rich draws it on stderr).
    dkd.extra_env = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}
    rolled = dkd.ok("rollback", "app", "--wait", "--timeout", "120", *p)
    dkd.extra_env = {}
    assert f"Rolling back to {first['id'].replace('-', '')[:8]}" in rolled.stdout
    assert "✓ app is healthy" in rolled.stderr
    assert "app | " not in rolled.stderr  # log lines go into the live view, not line by line
    newest = json.loads(dkd.ok("deployments", "app", "--json", *p).stdout)[0]
    assert (newest["status"], newest["rollback_of"], newest["config"]["command"]) == (
        "healthy",
        first["id"],
        ["sh", "-c", "echo v1; sleep 3600"],
    )
    unknown = dkd("rollback", "app", "ffffffff", *p)
    assert unknown.exit_code == 4
    assert "Deployment 'ffffffff' of 'app' not found." in unknown.stderr


def test_diff_shows_settings_and_variables_that_differ_from_what_runs(dkd: Dk, owner: Account) -> None:
    project = create_project(owner, "Dk Drift")
    p = ["--project", project["id"]]
    dkd.ok("add", "app", "--image", TEST_IMAGE, "--command", "sh -c 'sleep 3600'", "-e", "TOKEN=one", *p)
    dkd.ok("deploy", "--wait", "--timeout", "120", *p)
    dkd.ok("set", "app", "command=sh -c 'exit 3'", *p)
    dkd.ok("env", "set", "TOKEN=two", "--service", "app", *p)
    assert dkd("deploy", "--wait", "--timeout", "120", *p).exit_code == 6

    # Nothing is staged, yet the diff says what the next deploy would change in what runs.
    text = dkd.ok("diff", *p).stdout
    assert "~ service app" in text
    assert "differs from running: command: ['sh', '-c', 'sleep 3600'] -> ['sh', '-c', 'exit 3']" in text
    assert "differs from running: env ~ TOKEN: 'one' -> 'two'" in text
    history = json.loads(dkd.ok("deployments", "app", "--json", *p).stdout)
    assert [(d["status"], d["actor"]) for d in history] == [("failed", "Ada Admin"), ("healthy", "Ada Admin")]


def test_git_services_build_and_a_failing_build_exits_6_with_its_reason(
    dkd: Dk, owner: Account, tmp_path: Path
) -> None:
    repo = Repo(tmp_path / "repo")
    repo.path.mkdir()
    run("git", "init", "-q", "-b", "main", str(repo.path))
    repo.commit({"Dockerfile": dockerfile(TEST_IMAGE), "index.html": "from git\n"}, "first")
    project = create_project(owner, "Dk Git")
    p = ["--project", project["id"]]
    serve = "httpd -f -p 8080 -h /www"
    dkd.ok("add", "site", "--git", repo.url, "--branch", "main", "--port", "8080", "--command", serve, *p)
    built = dkd.ok("deploy", "--wait", "--timeout", "240", *p)
    assert "✓ site is healthy" in built.stderr
    assert "COPY index.html" in built.stderr  # the build log, line by line, off a terminal
    (deployment,) = json.loads(dkd.ok("deployments", "site", "--json", *p).stdout)
    assert deployment["image"].startswith("deploykit/")
    assert "site:" in deployment["image"]

    repo.commit({"Dockerfile": dockerfile(TEST_IMAGE, "RUN echo broken-step >&2 && exit 3")}, "break it")
    failed = dkd("redeploy", "site", "--wait", "--timeout", "240", *p)
    assert failed.exit_code == 6, failed.stderr
    assert "✗ site failed" in failed.stderr
    assert "build failed" in failed.stderr
    assert "broken-step" in failed.stderr
    history = json.loads(dkd.ok("deployments", "site", "--json", *p).stdout)
    assert [d["status"] for d in history] == ["failed", "healthy"]  # the previous one keeps serving
