"""The daemon as a program: flags, subcommands, CORS and origins, graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.typing import Origin

from deploykitd.config import build_parser, config_from_args
from tests.e2e.support import PASSWORD, CanvasClient, Daemon, create_project, register_admin, running

DEPLOYKITD = [sys.executable, "-m", "deploykitd"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DEPLOYKITD, *args], capture_output=True, text=True, timeout=60)


def test_version_and_help() -> None:
    assert run("version").stdout.strip() == "deploykitd 0.1.0"
    help_text = run("--help").stdout
    for flag in (
        "--addr",
        "--db",
        "--data-dir",
        "--log-level",
        "--log-format",
        "--cors-origin",
        "--reconcile-interval",
        "--base-domain",
        "-addr",
    ):
        assert flag in help_text


def test_migrate_then_reset_password_ends_sessions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    migrated = run("migrate", "-data-dir", str(data))
    assert migrated.returncode == 0, migrated.stderr
    assert (data / "deploykit.db").exists()
    assert run("migrate", "--data-dir", str(data)).stdout.strip() == "The database is up to date."
    with running(data) as d:
        admin = register_admin(d)
    reset = run("reset-password", "--data-dir", str(data), "--email", admin.email, "--password", "a new password!")
    assert reset.returncode == 0, reset.stderr
    unknown = run("reset-password", "-data-dir", str(data), "-email", "x@example.com", "-password", "whatever1")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "deploykitd: User not found."
    with running(data) as d, d.client() as c:
        assert c.get("/auth/me", headers={"Authorization": f"Bearer {admin.token}"}).status_code == 401
        assert c.post("/auth/login", json={"email": admin.email, "password": PASSWORD}).status_code == 401
        assert c.post("/auth/login", json={"email": admin.email, "password": "a new password!"}).status_code == 200


def test_sigterm_closes_sockets_with_1001_and_exits_promptly(tmp_path: Path) -> None:
    daemon = Daemon(
        tmp_path / "data",
        extra_args=["--db", str(tmp_path / "elsewhere.db"), "--log-format", "json", "--log-level", "info"],
    )
    daemon.start()
    try:
        admin = register_admin(daemon)
        pid = create_project(admin, "Shutdown")["id"]

        async def scenario() -> tuple[int, float]:
            async with CanvasClient(daemon, pid, admin.token) as ws:
                started = time.monotonic()
                assert daemon.proc is not None
                daemon.proc.terminate()
                code = await ws.closed_with(10)
                return code, started

        code, started = asyncio.run(scenario())
        assert code == 1001
        assert daemon.proc is not None
        assert daemon.proc.wait(10) == 0
        assert time.monotonic() - started < 10
        assert (tmp_path / "elsewhere.db").exists()
        lines = [json.loads(line) for line in daemon.log().splitlines() if line.startswith("{")]
        assert any(entry["message"] == "stopped" for entry in lines)
        # The access log, on by default, in the chosen (JSON) format.
        created = [e for e in lines if e.get("logger") == "deploykit.access" and e.get("path") == "/api/projects"]
        assert [(e["method"], e["status"], e["user"]) for e in created] == [("POST", 201, admin.user["id"])]
        assert len(created[0]["request_id"]) == 16
    finally:
        daemon.terminate()


def test_cors_and_websocket_origins_follow_the_setting(tmp_path: Path) -> None:
    with running(tmp_path / "data", "--cors-origin", "https://ui.example.com") as d:
        admin = register_admin(d)
        pid = create_project(admin, "Origins")["id"]
        ok = httpx.options(
            f"{d.base}/api/projects",
            headers={"Origin": "https://ui.example.com", "Access-Control-Request-Method": "GET"},
        )
        assert ok.headers["access-control-allow-origin"] == "https://ui.example.com"
        bad = httpx.get(f"{d.base}/api/health", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in bad.headers

        async def connect(origin: str) -> str:
            url = f"{d.ws_base}/api/projects/{pid}/canvas/ws"
            try:
                async with websockets.connect(url, origin=Origin(origin)) as ws:
                    await ws.send(json.dumps({"type": "auth", "payload": {"token": admin.token}}))
                    return str(json.loads(await asyncio.wait_for(ws.recv(), 5))["type"])
            except websockets.InvalidStatus as exc:
                return f"refused {exc.response.status_code}"

        assert asyncio.run(connect("https://ui.example.com")) == "canvas:state"
        assert asyncio.run(connect("https://evil.example.com")) == "refused 403"


def test_the_spa_or_its_placeholder_is_served_outside_api(daemon: Daemon) -> None:
    r = httpx.get(f"{daemon.base}/projects/some/deep/link")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "DeployKit" in r.text
    assert httpx.get(f"{daemon.base}/api/openapi.json").json()["openapi"] == "3.1.0"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            [],
            {
                "addr": ":8080",
                "data_dir": Path("data"),
                "db_path": Path("data/deploykit.db"),
                "cors_origins": ("*",),
                "reconcile_interval_s": 30.0,
                "base_domain": "localhost",
                "log_format": "text",
            },
        ),
        (
            ["-addr", "127.0.0.1:9000", "-data-dir", "/srv/dk"],
            {"host_port": ("127.0.0.1", 9000), "db_path": Path("/srv/dk/deploykit.db")},
        ),
        (["serve", "--addr=:7000", "-db=/tmp/x.db"], {"host_port": ("0.0.0.0", 7000), "db_path": Path("/tmp/x.db")}),
        (
            ["-reconcile-interval", "1m30s", "--log-format", "json"],
            {"reconcile_interval_s": 90.0, "log_format": "json"},
        ),
        (["--reconcile-interval", "500ms"], {"reconcile_interval_s": 0.5}),
        (["--metrics-interval", "5s"], {"metrics_interval_s": 5.0}),
        (
            ["-cors-origin", "https://a.example, https://b.example"],
            {"cors_origins": ("https://a.example", "https://b.example")},
        ),
        (
            ["-base-domain", "apps.example.com", "-addr", "[::1]:8443"],
            {"base_domain": "apps.example.com", "host_port": ("::1", 8443)},
        ),
        ([], {"max_builds": 1, "build_timeout_s": 900.0, "build_memory_mb": 2048, "instance_id": None}),
        (
            ["-max-builds", "3", "--build-timeout", "2m", "-build-memory=512", "--instance-id", "ci-7"],
            {"max_builds": 3, "build_timeout_s": 120.0, "build_memory_mb": 512, "instance_id": "ci-7"},
        ),
        ([], {"trusted_proxies": (), "api_rate": 50.0, "access_log": True, "keep_caddy": True}),
        (["--no-access-log", "--stop-caddy"], {"access_log": False, "keep_caddy": False}),
        (
            ["--trusted-proxy", "10.0.0.1, 10.1.0.0/16", "-trusted-proxy=::1", "--api-rate-limit", "0"],
            {"trusted_proxies": ("10.0.0.1", "10.1.0.0/16", "::1"), "api_rate": 0.0},
        ),
        ([], {"registry": None, "runtime": "docker"}),
        (
            ["--runtime", "swarm", "-registry", "http://10.0.0.5:5000/"],
            {"runtime": "swarm", "registry": "10.0.0.5:5000"},
        ),
    ],
)
def test_flags_take_both_spellings(argv: list[str], expected: dict[str, object]) -> None:
    config = config_from_args(build_parser().parse_args(argv))
    assert {k: getattr(config, k) for k in expected} == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["-reconcile-interval", "5x"],
        ["-addr", "nowhere"],
        ["-reconcile-interval", "0s"],
        ["--max-builds", "0"],
        ["--build-memory", "lots"],
        ["--build-timeout", "-1m"],
        ["--trusted-proxy", "proxy.example.com"],
        ["--api-rate-limit", "-1"],
        ["--api-rate-limit", "nan"],
        ["--registry", "10.0.0.5:5000/path"],
        ["--runtime", "kubernetes"],
    ],
)
def test_bad_flag_values_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        config_from_args(build_parser().parse_args(argv))
