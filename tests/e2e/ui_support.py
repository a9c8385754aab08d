"""Shared pieces of the browser tests and the canvas benchmark: the real daemon on a free port,
Debian's Chromium through Playwright, an API client, signing a browser in, and screenshots on failure.

Test modules import the fixtures by name (pytest only sees fixtures in a module's namespace).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import httpx
import pytest

from tests.e2e.support import instance_args, instance_id_for, remove_engine_objects, stop_caddy
from tests.wait import wait_for_sync

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SPA_INDEX = ROOT / "deploykit_http" / "spa_assets" / "index.html"
CHROMIUM = os.environ.get("DEPLOYKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKENS_KEY = "deploykit.tokens"
PASSWORD = "correct-horse-battery"
TEST_IMAGE = "deploykit-test/busybox:latest"


def deploykitd_command() -> list[str]:
    exe = Path(sys.executable).with_name("deploykitd")
    if exe.exists():
        return [str(exe)]
    venv = ROOT / ".venv" / "bin" / "deploykitd"
    if venv.exists():
        return [str(venv)]
    return [sys.executable, "-m", "deploykitd"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_spa() -> None:
    """Build the SPA if its sources changed (a no-op stamp check otherwise)."""
    subprocess.run([str(ROOT / "scripts" / "build-frontend.sh")], check=True, cwd=ROOT)


@dataclass
class Daemon:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def health(self) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/api/health", timeout=5)
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data


def start_daemon(
    data_dir: Path, *, port: int | None = None, timeout_s: float = 30.0, extra_args: list[str] | None = None
) -> Daemon:
    """Start ``deploykitd`` (on a free port unless given) and wait until ``/api/health`` answers."""
    port = port or free_port()
    log_path = data_dir / "deploykitd.log"
    log = log_path.open("ab")
    extra = extra_args or []
    cmd = [
        *deploykitd_command(),
        "--addr",
        f"127.0.0.1:{port}",
        "--data-dir",
        str(data_dir),
        *instance_args(data_dir, extra),
        *extra,
    ]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    daemon = Daemon(url=url, data_dir=data_dir, proc=proc, log_path=log_path)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"deploykitd exited with {proc.returncode}:\n{daemon.log_tail()}")
        return httpx.get(f"{url}/api/health", timeout=1).status_code == 200

    try:
        wait_for_sync(
            healthy,
            within=timeout_s,
            interval=0.1,
            message="deploykitd to answer /api/health",
            retry_on=(httpx.HTTPError,),
        )
    except AssertionError as exc:
        stop_daemon(daemon)
        raise RuntimeError(f"{exc}:\n{daemon.log_tail()}") from None
    return daemon


def stop_daemon(d: Daemon) -> None:
    if d.proc.poll() is None:
        d.proc.terminate()
        try:
            d.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            d.proc.kill()
            d.proc.wait(timeout=5)
    stop_caddy(d.data_dir / "caddy")  # a supervised Caddy outlives its daemon by design


@dataclass
class Api:
    """A small synchronous client for seeding and checking state from tests."""

    base: str
    tokens: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"} if self.tokens else {}

    def call(self, method: str, path: str, body: Any = None, expect: int | tuple[int, ...] = (200, 201, 204)) -> Any:
        r = httpx.request(method, f"{self.base}/api{path}", json=body, headers=self.headers, timeout=30)
        ok = (expect,) if isinstance(expect, int) else expect
        assert r.status_code in ok, f"{method} {path} -> {r.status_code}: {r.text}"
        return r.json() if r.content else None

    def register(self, name: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
        res = self.call("POST", "/auth/register", {"name": name, "email": email, "password": password}, expect=201)
        self.tokens = res["tokens"]
        return dict(res["user"])

    def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        self.tokens = self.call("POST", "/auth/login", {"email": email, "password": password}, expect=200)
        return self.tokens

    def as_user(self, email: str, password: str = PASSWORD) -> Api:
        other = Api(self.base)
        other.login(email, password)
        return other


def docker_ready(d: Daemon) -> tuple[bool, str]:
    """Whether deployments can really run: Docker answers and the test image exists."""
    try:
        health = d.health()
    except httpx.HTTPError as exc:
        return False, f"health check failed: {exc}"
    if not health.get("services", {}).get("docker"):
        return False, "the daemon reports Docker unavailable (/api/health services.docker is false)"
    try:
        out = subprocess.run(["docker", "image", "inspect", TEST_IMAGE], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"docker CLI unavailable: {exc}"
    if out.returncode != 0:
        return False, f"the test image {TEST_IMAGE} is missing (built by the scripts that set up Docker tests)"
    return True, ""


def require_docker(d: Daemon) -> None:
    ok, why = docker_ready(d)
    if not ok:
        if os.environ.get("DEPLOYKIT_REQUIRE_DOCKER") == "1":
            pytest.fail(f"Docker is required (DEPLOYKIT_REQUIRE_DOCKER=1) but {why}")
        pytest.skip(f"needs Docker: {why}")


# --- browser -------------------------------------------------------------------------------------

_open_pages: list[Any] = []


def launch_browser(playwright: Any) -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def expect(*, timeout_ms: int = 15_000) -> Any:
    """Playwright's ``expect`` with this suite's patience (a loaded 2-core CI machine)."""
    from playwright.sync_api import expect as pw_expect

    pw_expect.set_options(timeout=timeout_ms)
    return pw_expect


def new_page(browser: Any, *, width: int = 1280, height: int = 720) -> Any:
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.goto = _through_network_changes(page.goto)
    _open_pages.append(page)
    return page


def _through_network_changes(goto: Callable[..., Any]) -> Callable[..., Any]:
    """Chromium aborts a navigation with ``net::ERR_NETWORK_CHANGED`` whenever an interface of
    the host comes or goes, which the suite's other tests do all the time (Docker networks,
    namespaces): such a navigation is made again, at most twice more. Any other failure stands."""

    def goto_again(url: str, **kwargs: Any) -> Any:
        for attempt in range(3):
            try:
                return goto(url, **kwargs)
            except Exception as exc:
                if "ERR_NETWORK_CHANGED" not in str(exc) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    return goto_again


def sign_in(page: Any, base: str, tokens: dict[str, Any], path: str = "/") -> None:
    """Put a session into the SPA's storage and open ``path`` (set once, not on every load, so that
    token rotation by the SPA is not undone by the test)."""
    page.goto(f"{base}/login")
    page.evaluate("([k, v]) => localStorage.setItem(k, v)", [TOKENS_KEY, json.dumps(tokens)])
    page.goto(f"{base}{path}")


def open_canvas(browser: Any, daemon: Daemon, api: Api, project_id: str) -> Any:
    """A new page signed in as ``api``'s user on the project's canvas, once it has synced."""
    page = new_page(browser)
    sign_in(page, daemon.url, api.tokens, f"/projects/{project_id}")
    expect()(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    return page


def new_project_canvas(
    browser: Any, daemon: Daemon, api: Api, name: str, *, email: str = "ada@example.com"
) -> tuple[Any, str]:
    """Ada Admin registered through ``api`` (``email``: one per test on a shared daemon), a new
    project ``name``, and a page on its synced canvas; (the page, the project's id)."""
    api.register("Ada Admin", email)
    pid = str(api.call("POST", "/projects", {"name": name}, expect=201)["id"])
    return open_canvas(browser, daemon, api, pid), pid


P = ParamSpec("P")
R = TypeVar("R")


def screenshot_on_failure(fn: Callable[P, R]) -> Callable[P, R]:
    """Save a full-page screenshot of every page the test opened when it fails."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        _open_pages.clear()
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            if isinstance(exc, pytest.skip.Exception):
                raise
            ARTIFACTS.mkdir(exist_ok=True)
            for i, page in enumerate(_open_pages):
                with contextlib.suppress(Exception):
                    path = ARTIFACTS / f"{fn.__name__}-{i}.png"
                    page.screenshot(path=str(path), full_page=True)
                    print(f"screenshot: {path}", file=sys.stderr)
            raise
        finally:
            _open_pages.clear()

    return wrapper


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spa_built() -> None:
    build_spa()
    assert SPA_INDEX.is_file(), "the SPA build did not produce index.html"


@pytest.fixture
def daemon(spa_built: None) -> Iterator[Daemon]:
    if not any(Path(p).exists() for p in deploykitd_command()[:1]) and "-m" not in deploykitd_command():
        pytest.skip("deploykitd is not installed")
    with tempfile.TemporaryDirectory(prefix="dk-ui-") as tmp:
        d = start_daemon(Path(tmp), extra_args=["--metrics-interval", "2s"])  # charts fill within seconds
        try:
            yield d
        finally:
            stop_daemon(d)
            remove_engine_objects(instance_id_for(d.data_dir))


# Module scope: every test module re-exports these fixtures, which makes each its own fixture
# definition, and two sync Playwright instances cannot be alive in one thread at the same time.
@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright_instance: Any) -> Iterator[Any]:
    b = launch_browser(playwright_instance)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def api(daemon: Daemon) -> Api:
    return Api(daemon.url)
