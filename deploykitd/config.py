"""The daemon's settings and command line.

Flags accept both spellings: ``--addr :8080`` and, for people coming from the Go DeployKit,
``-addr :8080`` (also ``--addr=:8080`` / ``-addr=:8080``).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def non_negative_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"invalid value {text!r} (a number, 0 or more)")
    return value


def proxy_arg(text: str) -> str:
    import ipaddress

    for part in text.split(","):
        try:
            ipaddress.ip_network(part.strip(), strict=False)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid proxy address {part.strip()!r} (an IP or a network)") from None
    return text


def registry_arg(text: str) -> str:
    from deploykit.errors import Error
    from deploykit_swarm.registry import parse_registry

    try:
        return parse_registry(text)
    except Error as err:
        raise argparse.ArgumentTypeError(err.message) from None


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r} (a whole number of at least 1)")
    return int(text)


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
    metrics_interval_s: float = 15.0
    """Seconds between two samplings of the containers' and the host's metrics."""
    max_builds: int = 1
    """Git builds running at once; the rest wait first come, first served."""
    build_timeout_s: float = 900.0
    """A build running longer is stopped and its deployment fails."""
    build_memory_mb: int = 2048
    """Memory (and swap) cap of one build."""
    instance_id: str | None = None
    """Label what this daemon creates ``deploykit.instance=<id>`` and touch nothing else, so that
    several daemons (test suites, staging beside production) can share one Docker engine."""
    base_domain: str = "localhost"
    docker_host: str | None = None
    """The Docker engine; DOCKER_HOST or the local socket when None."""
    runtime: str = "docker"
    """``docker``: containers on one engine; ``swarm``: Swarm services on the swarm whose manager
    ``docker_host`` is (``--runtime swarm``)."""
    registry: str | None = None
    """``host:port`` of the registry git builds are pushed to on a swarm (``--registry``), so that
    every node can pull them; None builds and runs locally (one engine)."""
    shutdown_timeout_s: float = 10.0
    ingress: bool = True
    """Route services' domains through Caddy; False (``--no-ingress``) runs without a proxy."""
    caddy_bin: str | None = None
    """Supervise our own Caddy with this binary; None: ``caddy`` from PATH when found."""
    caddy_admin: str | None = None
    """Use the Caddy whose admin API answers here instead of supervising one."""
    keep_caddy: bool = True
    """A supervised Caddy keeps serving when the daemon stops and is adopted by the next start;
    False (``--stop-caddy``) stops it with the daemon."""
    http_port: int = 80
    https_port: int = 443
    https_redirect: bool = True
    """Redirect HTTP to HTTPS; False (``--no-https-redirect``) also serves routes on plain HTTP."""
    public_ips: tuple[str, ...] = ()
    """This host's public addresses: a domain's DNS is ok when it resolves to one of them."""
    acme_email: str | None = None
    public_url: str = ""
    """Where people reach the UI (``https://deploy.example.com``): links in notifications."""
    disk_alert_percent: float = 90.0
    """A disk of the host (``/``, Docker's root) this full sends ``system.disk_high`` once, until
    it drops 5 points below."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of reverse proxies whose ``X-Forwarded-For``/``X-Forwarded-Proto``
    are believed; from anyone else (loopback included) they are ignored, so that a client cannot
    pick a fresh address for the login and request limits by sending a header."""
    api_rate: float = 50.0
    """Requests per second one client may keep making, after a burst of four times as many;
    0 turns the limit off (benchmarks)."""
    allow_local_repos: bool = False
    """Build from repositories on this host: ``file://``, paths, and URLs that resolve to loopback or
    link-local addresses (``--allow-local-repos``). Off, a member cannot make the daemon read the
    host's disk or probe its own network through git."""
    access_log: bool = True
    """Log every request (method, path without query values, status, duration, request id, user)
    at info level in the chosen log format; ``--no-access-log`` turns it off."""

    @property
    def db_path(self) -> Path:
        return self.db if self.db is not None else self.data_dir / "deploykit.db"

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_addr(self.addr)


def _flag(parser: argparse.ArgumentParser, name: str, **kw: object) -> None:
    parser.add_argument(f"--{name}", f"-{name}", **kw)  # type: ignore[arg-type]


def port_arg(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}")
    return int(text)


def ingress_flags(p: argparse.ArgumentParser) -> None:
    _flag(p, "caddy-bin", dest="caddy_bin", default=argparse.SUPPRESS, help="supervise Caddy (default: caddy on PATH)")
    _flag(p, "caddy-admin", dest="caddy_admin", default=argparse.SUPPRESS, help="use an existing Caddy's admin URL")
    _flag(
        p,
        "stop-caddy",
        dest="stop_caddy",
        action="store_true",
        default=argparse.SUPPRESS,
        help="stop the supervised Caddy with the daemon (by default it keeps serving and the next start adopts it)",
    )
    _flag(p, "no-ingress", dest="no_ingress", action="store_true", default=argparse.SUPPRESS, help="run without Caddy")
    _flag(p, "http-port", dest="http_port", type=port_arg, default=argparse.SUPPRESS, help="HTTP port (default 80)")
    _flag(p, "https-port", dest="https_port", type=port_arg, default=argparse.SUPPRESS, help="HTTPS port (default 443)")
    _flag(
        p,
        "no-https-redirect",
        dest="no_https_redirect",
        action="store_true",
        default=argparse.SUPPRESS,
        help="serve routes on plain HTTP too instead of redirecting to HTTPS",
    )
    _flag(
        p,
        "public-ip",
        dest="public_ip",
        action="append",
        default=argparse.SUPPRESS,
        help="this host's public IP for the domains' DNS check; repeatable or comma-separated",
    )
    _flag(p, "acme-email", dest="acme_email", default=argparse.SUPPRESS, help="contact address for ACME certificates")
    _flag(
        p,
        "public-url",
        dest="public_url",
        default=argparse.SUPPRESS,
        help="the UI's public address, for links in notifications (https://deploy.example.com)",
    )
    _flag(
        p,
        "disk-alert-percent",
        dest="disk_alert_percent",
        type=float,
        default=argparse.SUPPRESS,
        help="notify when / or the data directory's disk is this full (default 90)",
    )


def backup_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """``backup`` and ``restore``: both reach the engine's volumes, so they take the serve flags
    that name it (``--docker-host``, ``--instance-id``)."""

    def engine(p: argparse.ArgumentParser) -> None:
        common(p)
        _flag(p, "docker-host", dest="docker_host", default=argparse.SUPPRESS, help="Docker engine address")
        _flag(p, "instance-id", dest="instance_id", default=argparse.SUPPRESS, help="the installation's instance id")
        _flag(p, "s3-endpoint", dest="s3_endpoint", default=None, help="URL of an S3-compatible store (default AWS)")
        _flag(p, "no-volumes", dest="no_volumes", action="store_true", help="leave the Docker volumes out")

    backup = sub.add_parser("backup", help="write one archive: database, key, volumes, checksums")
    engine(backup)
    where = backup.add_mutually_exclusive_group()
    _flag(where, "out", default=None, help="the archive file (default <data-dir>/backups/deploykit-<time>.tar.zst)")
    _flag(where, "to", default=None, help="an S3 location s3://bucket/prefix to upload the archive to")
    _flag(where, "verify", default=None, metavar="ARCHIVE", help="check an archive (file or s3:// URL) instead")
    restore = sub.add_parser("restore", help="restore an archive into an empty data directory and the engine")
    engine(restore)
    restore.add_argument("archive", help="the archive file or its s3:// URL")
    _flag(restore, "force", action="store_true", help="restore over a non-empty data directory and existing volumes")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deploykitd",
        allow_abbrev=False,
        description="DeployKit: a self-hosted platform-as-a-service on Docker.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{serve,migrate,backup,restore,reset-password,version}")

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
            "metrics-interval",
            dest="metrics_interval",
            default=argparse.SUPPRESS,
            type=parse_duration,
            help="how often containers and the host are sampled for metrics (default 15s)",
        )
        _flag(
            p,
            "max-builds",
            dest="max_builds",
            default=argparse.SUPPRESS,
            type=positive_int,
            help="git builds at once; more wait in a FIFO queue (default 1)",
        )
        _flag(
            p,
            "build-timeout",
            dest="build_timeout",
            default=argparse.SUPPRESS,
            type=parse_duration,
            help="stop a build that runs longer (default 15m)",
        )
        _flag(
            p,
            "build-memory",
            dest="build_memory",
            default=argparse.SUPPRESS,
            type=positive_int,
            help="memory cap of one build in MB (default 2048)",
        )
        _flag(
            p,
            "instance-id",
            dest="instance_id",
            default=argparse.SUPPRESS,
            help="share the Docker engine with other daemons: touch only objects labelled with this id",
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
        _flag(
            p,
            "runtime",
            dest="runtime",
            choices=("docker", "swarm"),
            default=argparse.SUPPRESS,
            help="run services as containers on one engine (docker, the default) or as Swarm services (swarm)",
        )
        _flag(
            p,
            "registry",
            dest="registry",
            type=registry_arg,
            default=argparse.SUPPRESS,
            help="host:port of a registry every swarm node pulls from: git builds are pushed there (--runtime swarm)",
        )
        _flag(
            p,
            "trusted-proxy",
            dest="trusted_proxy",
            action="append",
            type=proxy_arg,
            default=argparse.SUPPRESS,
            help="believe X-Forwarded-For from this reverse proxy (IP or network); repeatable or comma-separated",
        )
        _flag(
            p,
            "api-rate-limit",
            dest="api_rate",
            type=non_negative_number,
            default=argparse.SUPPRESS,
            help="API requests per second per client, after a burst of 4x as many; 0: no limit (default 50)",
        )
        _flag(
            p,
            "allow-local-repos",
            dest="allow_local_repos",
            action="store_true",
            default=argparse.SUPPRESS,
            help="build from file://, paths and loopback/link-local git URLs (development; off by default)",
        )
        _flag(
            p,
            "access-log",
            dest="access_log",
            action=argparse.BooleanOptionalAction,
            default=argparse.SUPPRESS,
            help="log every request: method, path without query values, status, duration, request id, user (default on)",
        )
        ingress_flags(p)

    serve_flags(parser)
    serve_flags(sub.add_parser("serve", help="run the daemon (the default)"))
    migrate = sub.add_parser("migrate", help="back up the database, then apply pending migrations and exit")
    common(migrate)
    _flag(migrate, "no-backup", dest="no_backup", action="store_true", help="skip the backup before migrating")
    backup_commands(sub, common)
    reset = sub.add_parser("reset-password", help="set a user's password and end their sessions and API keys")
    common(reset)
    _flag(reset, "email", required=True)
    _flag(reset, "password", required=True)
    _flag(
        reset,
        "keep-api-keys",
        dest="keep_api_keys",
        action="store_true",
        default=False,
        help="leave the user's API keys working (by default a reset deletes them)",
    )
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
    for name in ("log_level", "log_format", "base_domain", "docker_host", "runtime", "registry"):
        if name in values:
            kw[name] = values[name]
    if "cors_origin" in values:
        kw["cors_origins"] = tuple(o.strip() for o in values["cors_origin"].split(",") if o.strip()) or ("*",)
    if "reconcile_interval" in values:
        kw["reconcile_interval_s"] = values["reconcile_interval"]
    if "metrics_interval" in values:
        kw["metrics_interval_s"] = values["metrics_interval"]
    if "max_builds" in values:
        kw["max_builds"] = values["max_builds"]
    if "build_timeout" in values:
        kw["build_timeout_s"] = values["build_timeout"]
    if "build_memory" in values:
        kw["build_memory_mb"] = values["build_memory"]
    if values.get("instance_id"):
        kw["instance_id"] = values["instance_id"]
    for name in ("caddy_bin", "caddy_admin", "http_port", "https_port", "acme_email", "public_url"):
        if name in values:
            kw[name] = values[name]
    if values.get("no_ingress"):
        kw["ingress"] = False
    if values.get("stop_caddy"):
        kw["keep_caddy"] = False
    if values.get("allow_local_repos"):
        kw["allow_local_repos"] = True
    if "access_log" in values:
        kw["access_log"] = bool(values["access_log"])
    if values.get("no_https_redirect"):
        kw["https_redirect"] = False
    if "public_ip" in values:
        kw["public_ips"] = tuple(ip.strip() for arg in values["public_ip"] for ip in arg.split(",") if ip.strip())
    if "trusted_proxy" in values:
        kw["trusted_proxies"] = tuple(a.strip() for arg in values["trusted_proxy"] for a in arg.split(",") if a.strip())
    if "disk_alert_percent" in values:
        kw["disk_alert_percent"] = values["disk_alert_percent"]
    if "api_rate" in values:
        kw["api_rate"] = values["api_rate"]
    if "docker_host" not in kw and os.environ.get("DOCKER_HOST"):
        kw["docker_host"] = os.environ["DOCKER_HOST"]
    return Config(**kw)  # type: ignore[arg-type]
