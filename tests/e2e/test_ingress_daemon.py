"""The daemon's ingress flags, and a daemon that keeps serving when its Caddy cannot run."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploykitd.config import build_parser, config_from_args
from tests.e2e.support import Daemon, free_port, register_admin

CADDY_BIN = os.environ.get("DEPLOYKIT_CADDY_BIN") or shutil.which("caddy") or "/usr/bin/caddy"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            [],
            {
                "ingress": True,
                "caddy_bin": None,
                "caddy_admin": None,
                "http_port": 80,
                "https_port": 443,
                "https_redirect": True,
                "public_ips": (),
                "acme_email": None,
            },
        ),
        (
            ["--caddy-bin", "/opt/caddy", "--http-port", "8081", "-https-port=8444", "--acme-email", "ops@example.com"],
            {"caddy_bin": "/opt/caddy", "http_port": 8081, "https_port": 8444, "acme_email": "ops@example.com"},
        ),
        (["-caddy-admin", "http://127.0.0.1:2019"], {"caddy_admin": "http://127.0.0.1:2019"}),
        (["--no-ingress", "-no-https-redirect"], {"ingress": False, "https_redirect": False}),
        (
            ["--public-ip", "203.0.113.7,2001:db8::7", "-public-ip", "198.51.100.1"],
            {"public_ips": ("203.0.113.7", "2001:db8::7", "198.51.100.1")},
        ),
        (["serve", "--http-port", "8080"], {"http_port": 8080}),
    ],
)
def test_ingress_flags_take_both_spellings(argv: list[str], expected: dict[str, object]) -> None:
    config = config_from_args(build_parser().parse_args(argv))
    assert {k: getattr(config, k) for k in expected} == expected


@pytest.mark.parametrize("argv", [["--http-port", "0"], ["--https-port", "65536"], ["--http-port", "web"]])
def test_bad_ports_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Short on purpose: Caddy's admin socket lives in the data directory (sockaddr_un holds 108 bytes).
    path = Path(tempfile.mkdtemp(prefix="dki-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def ingress_of(daemon: Daemon) -> bool:
    with daemon.client() as c:
        return bool(c.get("/health").json()["services"]["ingress"])


def test_a_missing_caddy_binary_leaves_the_daemon_serving(short_dir: Path) -> None:
    flags = ["--caddy-bin", str(short_dir / "no-such-caddy"), "--http-port", str(free_port())]
    daemon = Daemon(short_dir / "data", ingress=True, extra_args=flags)
    try:
        daemon.start()
        assert ingress_of(daemon) is False
        register_admin(daemon)  # the API works
    finally:
        assert daemon.terminate() == 0
    assert "Caddy could not start" in daemon.log()


@pytest.mark.caddy
def test_a_taken_http_port_leaves_the_daemon_serving(short_dir: Path) -> None:
    if not os.access(CADDY_BIN, os.X_OK):
        pytest.skip("no caddy binary")
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # no SO_REUSEPORT: Caddy cannot share it
        taken.listen()
        port = taken.getsockname()[1]
        flags = ["--caddy-bin", CADDY_BIN, "--http-port", str(port), "--https-port", str(port)]
        daemon = Daemon(short_dir / "data", ingress=True, extra_args=flags)
        try:
            daemon.start()  # a daemon stuck in start-up is stopped too
            assert ingress_of(daemon) is False
            register_admin(daemon)
        finally:
            assert daemon.terminate() == 0
    assert "Caddy could not start" in daemon.log()
