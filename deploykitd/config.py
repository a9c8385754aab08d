"""The daemon's settings and command line.

Flags accept both spellings: ``--addr :8080`` and, for people coming from the Go DeployKit,
``-addr :8080`` (also ``--addr=:8080`` / ``-addr=:8080``).
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from pathlib import Path

DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds from ``30s``, ``1m30s``, ``500ms``, ``2h`` or a bare number of seconds."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pos, value = 0, 0.0
        for match in DURATION_RE.finditer(text):
            if match.start() != pos:
                break
            value += float(match.group(1)) * UNITS[match.group(2)]
            pos = match.end()
        if pos != len(text) or not text:
            raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 30s, 1m30s, 500ms)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("a duration must be positive")
    return value


def parse_addr(addr: str) -> tuple[str, int]:
    """``:8080`` (all interfaces), ``127.0.0.1:8080`` or ``[::1]:8080``."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"invalid address {addr!r} (use host:port or :port)")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def addr_arg(addr: str) -> str:
    parse_addr(addr)
    return addr


@dataclass(frozen=True, kw_only=True)
class Config:
    addr: str = ":8080"
    """Where the HTTP server listens."""
    data_dir: Path = Path("./data")
    """Holds the database, the encryption key file and build work directories."""
    db: Path | None = None
    """The SQLite file; ``<data-dir>/deploykit.db`` when None."""
    log_level: str = "info"
    log_format: str = "text"
    """``text`` or ``json``."""
    cors_origins: tuple[str, ...] = ("*",)
    reconcile_interval_s: float = 30.0
    base_domain: str = "localhost"
    docker_host: str | None = None
    """The Docker engine; DOCKER_HOST or the local socket when None."""
    shutdown_timeout_s: float = 10.0

    @property
    def db_path(self) -> Path:
        return self.db if self.db is not None else self.data_dir / "deploykit.db"

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_addr(self.addr)


def _flag(parser: argparse.ArgumentParser, name: str, **kw: object) -> None:
    parser.add_argument(f"--{name}", f"-{name}", **kw)  # type: ignore[arg-type]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deploykitd",
        allow_abbrev=False,
        description="DeployKit: a self-hosted platform-as-a-service on Docker.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{serve,migrate,reset-password,version}")

    def common(p: argparse.ArgumentParser) -> None:
        _flag(p, "data-dir", dest="data_dir", default=argparse.SUPPRESS, help="data directory (default ./data)")
        _flag(p, "db", default=argparse.SUPPRESS, help="SQLite file (default <data-dir>/deploykit.db)")
        _flag(
            p,
            "log-level",
            dest="log_level",
            default=argparse.SUPPRESS,
            choices=["debug", "info", "warning", "error"],
            help="log level (default info)",
        )
        _flag(
            p,
            "log-format",
            dest="log_format",
            default=argparse.SUPPRESS,
            choices=["text", "json"],
            help="log format (default text)",
        )

    def serve_flags(p: argparse.ArgumentParser) -> None:
        common(p)
        _flag(p, "addr", default=argparse.SUPPRESS, type=addr_arg, help="listen address (default :8080)")
        _flag(
            p,
            "cors-origin",
            dest="cors_origin",
            default=argparse.SUPPRESS,
            help="allowed browser origins, comma-separated, or * (default *)",
        )
        _flag(
            p,
            "reconcile-interval",
            dest="reconcile_interval",
            default=argparse.SUPPRESS,
            type=parse_duration,
            help="full resync period (default 30s)",
        )
        _flag(
            p,
            "base-domain",
            dest="base_domain",
            default=argparse.SUPPRESS,
            help="domain of generated service hostnames (default localhost)",
        )
        _flag(
            p,
            "docker-host",
            dest="docker_host",
            default=argparse.SUPPRESS,
            help="Docker engine address (default DOCKER_HOST or the local socket)",
        )

    serve_flags(parser)
    serve_flags(sub.add_parser("serve", help="run the daemon (the default)"))
    common(sub.add_parser("migrate", help="apply database migrations and exit"))
    reset = sub.add_parser("reset-password", help="set a user's password and end their sessions")
    common(reset)
    _flag(reset, "email", required=True)
    _flag(reset, "password", required=True)
    sub.add_parser("version", help="print the version")
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    values = vars(args)
    kw: dict[str, object] = {}
    if "addr" in values:
        kw["addr"] = values["addr"]
    if "data_dir" in values:
        kw["data_dir"] = Path(values["data_dir"])
    if "db" in values:
        kw["db"] = Path(values["db"])
    for name in ("log_level", "log_format", "base_domain", "docker_host"):
        if name in values:
            kw[name] = values[name]
    if "cors_origin" in values:
        kw["cors_origins"] = tuple(o.strip() for o in values["cors_origin"].split(",") if o.strip()) or ("*",)
    if "reconcile_interval" in values:
        kw["reconcile_interval_s"] = values["reconcile_interval"]
    if "docker_host" not in kw and os.environ.get("DOCKER_HOST"):
        kw["docker_host"] = os.environ["DOCKER_HOST"]
    return Config(**kw)  # type: ignore[arg-type]
