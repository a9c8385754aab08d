"""The HTTP adapter over fakes: auth, error rendering, optional collaborators, SSE, SPA."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from datetime import timedelta

import pytest

from deploykit.auth import Identity
from deploykit.deployment import Deployment, DeploymentLog, DeploymentStatus, DeploymentTrigger
from deploykit.errors import UNAUTHORIZED, Error
from deploykit.logs import LogLine
from deploykit.service import Service
from deploykit_http.context import HTTPSettings
from deploykit_http.identity import Identities
from deploykit_http.ratelimit import LoginLimiter, RequestLimiter
from tests.http.conftest import client_for, context_of, make_app
from tests.http.fakes import (
    ADMIN,
    SERVICE,
    FakeAuth,
    FakeClock,
    FakeLogs,
    FakeRestarter,
    FakeRuntime,
    World,
    container,
)


async def test_a_foreign_error_is_500_internal_error_and_logged_with_the_request_id(
    world: World, settings: HTTPSettings, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(filt: object) -> None:
        raise RuntimeError("database file /secret/path is locked")

    world.projects.list_projects_fn = boom
    async with client_for(make_app(world, settings)) as c:
        with caplog.at_level(logging.ERROR, logger="deploykit_http"):
            r = await c.get("/projects")
    assert r.status_code == 500
    assert r.json() == {"error": "internal", "message": "Internal error."}
    assert "secret" not in r.text
    assert any(r.headers["x-request-id"] in rec.getMessage() for rec in caplog.records)


@pytest.mark.parametrize(
    ("token", "status", "body"),
    [
        (None, 401, {"error": "unauthorized", "message": "Authentication required."}),
        ("bogus", 401, {"error": "unauthorized", "message": "The token is invalid or expired."}),
        ("member-token", 403, {"error": "forbidden", "message": "Only admins may do this."}),
    ],
)
async def test_admin_routes_check_the_bearer_and_the_role(
    world: World, settings: HTTPSettings, token: str | None, status: int, body: dict[str, str]
) -> None:
    async with client_for(make_app(world, settings), token) as c:
        r = await c.get("/users")
    assert r.status_code == status
    assert r.json() == body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/projects/p1/services/s1/redeploy"),
        ("POST", "/projects/p1/services/s1/stop"),
        ("POST", "/projects/p1/services/s1/restart"),
        ("GET", "/projects/p1/services/s1/logs"),
        ("GET", "/system/about"),
        ("GET", "/system/status"),
    ],
)
async def test_routes_of_missing_adapters_answer_503(
    world: World, settings: HTTPSettings, method: str, path: str
) -> None:
    async with client_for(make_app(world, settings)) as c:
        r = await c.request(method, path)
    assert r.status_code == 503
    assert r.json()["error"] == "unavailable"


async def test_redeploy_creates_a_deployment_and_leaves_the_reconciler_to_the_bus(
    world: World, settings: HTTPSettings
) -> None:
    world.runtime = FakeRuntime()
    world.restarter = FakeRestarter()  # the only part of the reconciler here; any call fails the request
    dep = Deployment(id="d2", service_id="s1", project_id="p1", status=DeploymentStatus.PENDING, config=SERVICE.config)
    asked: list[tuple[str, str | None, str | None]] = []

    def redeploy(service_id: str, created_by: str | None, actor: str | None = None) -> Deployment:
        asked.append((service_id, created_by, actor))
        return dataclasses.replace(dep, actor=actor)

    world.deployments.redeploy_fn = redeploy
    async with client_for(make_app(world, settings)) as c:
        r = await c.post("/projects/p1/services/s1/redeploy")
    assert r.status_code == 201
    assert asked == [("s1", "u-admin", "Ada")]
    assert r.json()["actor"] == "Ada"
    assert r.json()["id"] == "d2"
    assert r.json()["source"] == {"type": "image", "image": "nginx:1.27"}


async def test_a_service_under_another_project_is_404(world: World, settings: HTTPSettings) -> None:
    world.runtime = FakeRuntime()
    async with client_for(make_app(world, settings)) as c:
        for path in ("/projects/p1/services/s2", "/projects/p2/services/s1"):
            r = await c.get(path)
            assert r.status_code == 404, path
        r = await c.post("/projects/p2/services/s1/redeploy")
    assert r.status_code == 404


async def test_runtime_logs_stream_lines_exits_and_end(world: World, settings: HTTPSettings) -> None:
    world.runtime = FakeRuntime(
        list_containers_fn=lambda: [
            container("aaaaaaaaaaaaaaaa"),
            container("bbbbbbbbbbbbbbbb", replica=1),
            container("cccccccccccccccc", service_id="other"),
        ]
    )
    world.logs = FakeLogs(
        lines={
            "aaaaaaaaaaaaaaaa": [LogLine("aaaaaaaaaaaaaaaa", "stdout", "hello")],
            "bbbbbbbbbbbbbbbb": [LogLine("bbbbbbbbbbbbbbbb", "stderr", "oops")],
            "cccccccccccccccc": [LogLine("cccccccccccccccc", "stdout", "not mine")],
        },
        hold={"bbbbbbbbbbbbbbbb": asyncio.sleep(0.3)},  # a live container that stops a little later
    )
    events: list[str] = []
    async with client_for(make_app(world, settings)) as c, c.stream("GET", "/projects/p1/services/s1/logs") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line:
                events.append(line)
    data = [json.loads(e[6:]) for e in events if e.startswith("data: {")]
    assert {"container_id": "aaaaaaaaaaaa", "replica": 0, "stream": "stdout", "line": "hello", "ts": None} in data
    assert {"container_id": "bbbbbbbbbbbb", "replica": 1, "stream": "stderr", "line": "oops", "ts": None} in data
    assert {"container_id": "aaaaaaaaaaaa", "replica": 0, "event": "container_exited"} in data
    assert {"container_id": "bbbbbbbbbbbb", "replica": 1, "event": "container_exited"} in data
    assert all(d.get("line") != "not mine" for d in data)
    assert ": ping" in events
    assert events[-2:] == ["event: end", "data: {}"]


async def test_health_reports_each_dependency(world: World, settings: HTTPSettings) -> None:
    world.runtime = FakeRuntime(ping_fn=lambda: False)
    async with client_for(make_app(world, settings), None) as c:
        r = await c.get("/health")
    assert r.json() == {
        "status": "ok",
        "version": "9.9.9",
        "services": {"database": True, "docker": False, "ingress": False},
        "public_ports": {"http": 80, "https": 443},
    }


async def test_logout_evicts_the_cached_identity_at_once(world: World, settings: HTTPSettings) -> None:
    logged_out: list[str] = []
    world.auth.logout_fn = logged_out.append
    async with client_for(make_app(world, settings)) as c:
        world.projects.list_projects_fn = lambda filt: ([], 0)
        assert (await c.get("/projects")).status_code == 200
        assert (await c.post("/auth/logout")).status_code == 204
        world.auth.authenticate_fn = lambda token: (_ for _ in ()).throw(
            Error(UNAUTHORIZED, "The token is invalid or expired.")
        )
        assert (await c.get("/projects")).status_code == 401
    assert logged_out == ["session-admin-token"]


async def test_identity_cache_expires_after_its_ttl() -> None:
    clock = FakeClock()
    calls: list[str] = []

    def authenticate(token: str) -> Identity:
        calls.append(token)
        return Identity(user=ADMIN, session_id="s")

    identities = Identities(FakeAuth(authenticate_fn=authenticate), clock, ttl_s=5)
    await identities.identify("t")
    await identities.identify("t")
    clock.advance(5.1)
    await identities.identify("t")
    assert calls == ["t", "t"]


def test_login_limiter_counts_attempts_before_they_end_and_per_account_address() -> None:
    clock = FakeClock()
    limiter = LoginLimiter(clock)
    for _ in range(5):
        limiter.attempt("a@example.com", "10.0.0.1")  # still hashing: already counted
        clock.advance(60)
    with pytest.raises(Error) as exc:
        limiter.attempt("A@example.com ", "10.0.0.1")
    assert exc.value.code == "rate_limited"
    assert exc.value.retry_after == pytest.approx(15 * 60 - 5 * 60)
    # The owner, elsewhere, and other accounts from the flooding address are not locked out.
    limiter.attempt("a@example.com", "10.0.0.2").succeeded()
    limiter.attempt("other@example.com", "10.0.0.1").succeeded()
    clock.advance(timedelta(minutes=11).total_seconds())
    limiter.attempt("a@example.com", "10.0.0.1")


def test_login_limiter_caps_one_address_over_all_accounts_and_one_account_over_all_addresses() -> None:
    limiter = LoginLimiter(FakeClock(), per_account_address=5, per_address=8, per_account=12)
    for i in range(8):
        limiter.attempt(f"user{i}@example.com", "10.0.0.1")
    with pytest.raises(Error):
        limiter.attempt("fresh@example.com", "10.0.0.1")
    for i in range(12):
        limiter.attempt("target@example.com", f"10.0.1.{i}")
    with pytest.raises(Error):
        limiter.attempt("target@example.com", "10.0.2.1")


def test_a_successful_or_abandoned_login_is_no_failure() -> None:
    limiter = LoginLimiter(FakeClock(), per_account_address=2)
    limiter.attempt("a@example.com", "10.0.0.1")
    limiter.attempt("a@example.com", "10.0.0.1").abandoned()
    limiter.attempt("a@example.com", "10.0.0.1").succeeded()  # forgives the first failure too
    limiter.attempt("a@example.com", "10.0.0.1")
    limiter.attempt("a@example.com", "10.0.0.1")
    with pytest.raises(Error):
        limiter.attempt("a@example.com", "10.0.0.1")


def test_request_limiter_allows_a_burst_then_the_rate_and_says_when_to_retry() -> None:
    clock = FakeClock()
    limiter = RequestLimiter(clock, rate=10, burst=20)
    for _ in range(20):
        limiter.take("a")
    with pytest.raises(Error) as exc:
        limiter.take("a")
    assert exc.value.code == "rate_limited"
    assert exc.value.retry_after == pytest.approx(0.1)
    limiter.take("b")
    clock.advance(0.1)
    limiter.take("a")
    with pytest.raises(Error):
        limiter.take("a")
    clock.advance(60)
    for _ in range(20):
        limiter.take("a")
    RequestLimiter(clock, rate=0).take("a")  # off


async def test_the_spa_falls_back_to_index_and_caches_hashed_assets(world: World, settings: HTTPSettings) -> None:
    spa = settings.spa_dir
    (spa / "assets").mkdir(parents=True)
    (spa / "index.html").write_text("<html>app</html>")
    (spa / "assets" / "main-abc123.js").write_text("console.log(1)")
    (spa / "favicon.svg").write_text("<svg/>")
    (spa.parent / "secret.txt").write_text("no")
    async with client_for(make_app(world, settings), None) as c:
        c.base_url = "http://test"
        deep = await c.get("/projects/p1/canvas")
        asset = await c.get("/assets/main-abc123.js")
        missing = await c.get("/assets/main-gone.js")
        icon = await c.get("/favicon.svg")
        escape = await c.get("/..%2Fsecret.txt")
    assert deep.text == "<html>app</html>"
    assert deep.headers["cache-control"] == "no-cache"
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-type"].startswith("text/javascript")
    assert missing.status_code == 404
    assert icon.headers["content-type"] == "image/svg+xml"
    assert escape.text == "<html>app</html>"


async def test_a_placeholder_page_stands_in_for_an_unbuilt_spa(world: World, settings: HTTPSettings) -> None:
    async with client_for(make_app(world, settings), None) as c:
        c.base_url = "http://test"
        r = await c.get("/")
    assert r.status_code == 200
    assert "make frontend" in r.text


async def test_the_openapi_document_lists_every_endpoint(world: World, settings: HTTPSettings) -> None:
    app = make_app(world, settings)
    async with client_for(app, None) as c:
        doc = (await c.get("/openapi.json")).json()
    ctx = context_of(app)
    assert doc["info"]["version"] == "9.9.9"
    assert doc["paths"]["/api/users"]["get"]["security"] == [{"bearer": []}]
    assert "403" in doc["paths"]["/api/users"]["get"]["responses"]
    assert "security" not in doc["paths"]["/api/auth/login"]["post"]
    assert ctx.settings.version == "9.9.9"


async def test_a_finished_deployment_log_is_returned_whole(world: World, settings: HTTPSettings) -> None:
    dep = Deployment(id="d1", service_id="s1", project_id="p1", status=DeploymentStatus.FAILED, config=SERVICE.config)
    world.deployments.get_deployment_fn = lambda id: dep
    world.deployments.get_log_fn = lambda id: "pulling\nfailed: exit 1\n"
    async with client_for(make_app(world, settings)) as c:
        r = await c.get("/projects/p1/services/s1/deployments/d1/logs")
    assert r.json() == {"deployment_id": "d1", "status": "failed", "log": "pulling\nfailed: exit 1\n"}


async def test_an_in_flight_deployment_log_streams_until_the_deployment_finishes(
    world: World, settings: HTTPSettings
) -> None:
    from deploykit.bus import Event, EventType

    dep = Deployment(id="d1", service_id="s1", project_id="p1", status=DeploymentStatus.BUILDING, config=SERVICE.config)
    world.deployments.get_deployment_fn = lambda id: dep

    def line(deployment_id: str, text: str, start: int) -> Event:
        payload = {"deployment_id": deployment_id, "line": text, "start": start, "end": start + len(text) + 1}
        return Event(EventType.BUILD_LOG, "p1", "s1", payload)

    async def read_log(id: str) -> DeploymentLog:
        # The build goes on while the client reads: the line just read, a new one, the end.
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, world.bus.publish, line("d1", "step 1", 0))
        loop.call_later(0.05, world.bus.publish, line("d1", "step 2", 7))
        loop.call_later(0.1, world.bus.publish, line("d9", "other", 0))
        loop.call_later(
            0.15, world.bus.publish, Event(EventType.DEPLOYMENT_HEALTHY, "p1", "s1", {"deployment_id": "d1"})
        )
        return DeploymentLog(text="step 1\n", end=7)

    world.deployments.read_log_fn = read_log
    async with client_for(make_app(world, settings)) as c:
        r = await c.get("/projects/p1/services/s1/deployments/d1/logs")
    assert r.headers["content-type"].startswith("text/event-stream")
    data = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith('data: {"')]
    assert data == [{"line": "step 1"}, {"line": "step 2"}]
    assert r.text.rstrip().endswith("event: end\ndata: {}")


async def test_rollback_stop_and_start_are_stored_and_leave_the_reconciler_to_the_bus(
    world: World, settings: HTTPSettings
) -> None:
    world.runtime = FakeRuntime()
    world.restarter = FakeRestarter()  # any call fails the request
    stopped: list[tuple[str, bool]] = []
    rolled: list[tuple[str, str, str | None, str | None]] = []
    dep = Deployment(id="d1", service_id="s1", project_id="p1", status=DeploymentStatus.PENDING, config=SERVICE.config)

    def set_stopped(id: str, value: bool) -> Service:
        stopped.append((id, value))
        return dataclasses.replace(SERVICE, stopped=value)

    def rollback(service_id: str, deployment_id: str, created_by: str | None, actor: str | None) -> Deployment:
        rolled.append((service_id, deployment_id, created_by, actor))
        return dep

    world.services.set_service_stopped_fn = set_stopped
    world.deployments.rollback_fn = rollback
    async with client_for(make_app(world, settings)) as c:
        stop = await c.post("/projects/p1/services/s1/stop")
        start = await c.post("/projects/p1/services/s1/start")
        back = await c.post("/projects/p1/services/s1/rollback", json={"deployment_id": "d0"})
    assert (stop.status_code, start.status_code, back.status_code) == (200, 200, 201), back.text
    assert stopped == [("s1", True), ("s1", False)]
    assert rolled == [("s1", "d0", "u-admin", "Ada")]
    assert back.json()["id"] == "d1"


async def test_retry_and_revert_config_call_their_store_methods(world: World, settings: HTTPSettings) -> None:
    world.runtime = FakeRuntime()
    failed = Deployment(
        id="d0", service_id="s1", project_id="p1", status=DeploymentStatus.FAILED, config=SERVICE.config
    )
    retried = dataclasses.replace(failed, id="d1", status=DeploymentStatus.PENDING, trigger=DeploymentTrigger.RETRY)
    calls: list[tuple[str, ...]] = []

    def retry(service_id: str, deployment_id: str, created_by: str | None, actor: str | None) -> Deployment:
        calls.append(("retry", service_id, deployment_id, str(created_by), str(actor)))
        return retried

    def revert_config(service_id: str) -> Service:
        calls.append(("revert", service_id))
        return SERVICE

    world.deployments.get_deployment_fn = lambda id: failed
    world.deployments.retry_fn = retry
    world.deployments.revert_config_fn = revert_config
    async with client_for(make_app(world, settings)) as c:
        again = await c.post("/projects/p1/services/s1/deployments/d0/retry")
        reverted = await c.post("/projects/p1/services/s1/revert-config")
    assert (again.status_code, reverted.status_code) == (201, 200), again.text
    assert (again.json()["id"], again.json()["trigger"], again.json()["changes"]) == ("d1", "retry", [])
    assert (reverted.json()["id"], reverted.json()["drift"]) == ("s1", [])
    assert calls == [("retry", "s1", "d0", "u-admin", "Ada"), ("revert", "s1")]
