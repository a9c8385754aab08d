"""Caddy's JSON configuration for DeployKit's routes: pure functions, no I/O.

DeployKit owns the whole configuration of the Caddy it talks to, except the sections in
``KEPT_SECTIONS``, which are kept as Caddy has them (``storage`` only when DeployKit sets none). One HTTP app server, ``deploykit``, holds one route per service,
tagged ``@id: dk-svc-<service_id>`` so that a single route can be replaced through ``/id/<id>``,
followed by one catch-all route that answers 404 for names no service owns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploykit.ingress import Route, TLSStatus, normalize_hostname

SERVER_NAME = "deploykit"
ROUTE_ID_PREFIX = "dk-svc-"
FALLBACK_ROUTE_ID = "dk-fallback"

# Names no public CA will ever certify (RFC 6761, RFC 2606, RFC 8375 and the reserved .internal):
# they get certificates from Caddy's internal CA instead of an ACME attempt that cannot succeed.
INTERNAL_SUFFIXES = ("localhost", "local", "internal", "test", "example", "invalid", "home.arpa")

JSON = dict[str, Any]

KEPT_SECTIONS = ("admin", "logging", "storage")


@dataclass(frozen=True)
class CaddySettings:
    """How DeployKit's routes are served. The defaults are a public host's: ports 80 and 443 on
    every interface, HTTP redirected to HTTPS, ACME certificates for public names."""

    http_port: int = 80
    https_port: int | None = 443
    """None serves plain HTTP only (no TLS app, no redirects)."""
    listen_host: str = ""
    """The interface to listen on; "" is all of them, "127.0.0.1" keeps the proxy on loopback."""
    redirect_http: bool = True
    """Redirect HTTP to HTTPS (Caddy's automatic redirects). When false, HTTP serves the routes too."""
    acme_email: str | None = None
    """Contact address for the ACME account of public names; None uses Caddy's default issuers."""
    internal_suffixes: tuple[str, ...] = INTERNAL_SUFFIXES
    """Hostnames equal to or ending in one of these get certificates from Caddy's internal CA."""
    storage_dir: str | None = None
    """Where Caddy keeps certificates and its internal CA; None leaves Caddy's own default."""
    try_duration_s: float = 5.0
    """How long a request keeps being retried against the route's upstreams before it fails."""
    try_interval_s: float = 0.05
    """Pause between two such retries."""
    dial_timeout_s: float = 3.0
    """How long Caddy waits to connect to a replica. Long enough to outlast one lost SYN (Linux
    retransmits after 1 s): measured on a busy host, starting a container next to a serving one
    delays connections to it by up to ~1 s, and a 1 s timeout turned that blip into 502s."""
    passive_fail_duration_s: float = 0.0
    """How long an upstream that failed ``passive_max_fails`` times is avoided; 0 (the default)
    turns passive health checks off. Off because, measured on a busy host, they amplify a blip:
    one slow dial marks a single-replica service's only upstream down, every request then waits
    in Caddy's retry loop, and the next config reload (any route change) cuts all of them short
    with 503s. Dead replicas are taken out of the route by DeployKit's own health monitor."""
    passive_max_fails: int = 3
    public_addresses: tuple[str, ...] = ()
    """This host's public IPs: a domain's DNS is ok when it resolves to one of them."""
    dns_timeout_s: float = 3.0
    admin_timeout_s: float = 10.0
    """Timeout of one admin API request (a config load waits for Caddy to bind its listeners)."""

    def listen_addresses(self) -> list[str]:
        if self.https_port is None:
            return [f"{self.listen_host}:{self.http_port}"]
        https = f"{self.listen_host}:{self.https_port}"
        if self.redirect_http:
            # Caddy's automatic HTTPS adds its own server on the HTTP port for redirects and ACME
            # HTTP challenges; ours must not listen there too.
            return [https]
        # One server on both ports: Caddy enables TLS on every listener except the HTTP port.
        return [https, f"{self.listen_host}:{self.http_port}"]


def route_id(service_id: str) -> str:
    return f"{ROUTE_ID_PREFIX}{service_id}"


def is_internal_hostname(hostname: str, suffixes: tuple[str, ...] = INTERNAL_SUFFIXES) -> bool:
    name = normalize_hostname(hostname)
    return any(name == suffix or name.endswith(f".{suffix}") for suffix in suffixes)


def tls_status(hostname: str, settings: CaddySettings) -> TLSStatus:
    """What TLS a hostname gets without probing: ``none`` without HTTPS, ``internal`` for names
    Caddy's internal CA signs, else ``pending`` (ACME; a probe can confirm ``active``)."""
    if settings.https_port is None:
        return TLSStatus.NONE
    if is_internal_hostname(hostname, settings.internal_suffixes):
        return TLSStatus.INTERNAL
    return TLSStatus.PENDING


def normalize_route(route: Route) -> Route:
    """Hostnames lower-cased, deduplicated and sorted; upstreams deduplicated in order."""
    hostnames = sorted({normalize_hostname(h) for h in route.hostnames if normalize_hostname(h)})
    upstreams = list(dict.fromkeys(u.strip() for u in route.upstreams if u.strip()))
    return Route(service_id=route.service_id, hostnames=hostnames, upstreams=upstreams)


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def reverse_proxy_handler(upstreams: list[str], settings: CaddySettings) -> JSON:
    """The proxy to a service's ready replicas, tuned so that an upstream switch costs no request.

    - ``try_duration``/``try_interval``: a request whose upstream cannot be dialled (a replica that
      just stopped, a connection refused while the route switches) is retried, against another
      replica when there is one, until ``try_duration`` runs out, instead of answering 502. Caddy
      retries only dial errors for non-GET requests (a request that may have reached the upstream is
      never replayed), and any error for GETs.
    - no passive health checks by default (see ``CaddySettings.passive_fail_duration_s``): a
      request that hits a dead replica costs one ``try_interval`` and goes to the next one.
    - ``round_robin`` spreads requests evenly over replicas that started together.
    - ``dial_timeout`` outlasts one lost SYN (see ``CaddySettings``).

    A request still retrying when the route is replaced is cut short: Caddy cancels the old
    handler's context at reload. The rollout therefore switches only to replicas that already
    passed readiness and stops the old ones only after the drain, so nothing is retrying then.
    """
    handler: JSON = {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": upstream} for upstream in upstreams],
        "transport": {"protocol": "http", "dial_timeout": _duration(settings.dial_timeout_s)},
        "load_balancing": {
            "selection_policy": {"policy": "round_robin"},
            "try_duration": _duration(settings.try_duration_s),
            "try_interval": _duration(settings.try_interval_s),
        },
    }
    if settings.passive_fail_duration_s > 0:
        handler["health_checks"] = {
            "passive": {
                "fail_duration": _duration(settings.passive_fail_duration_s),
                "max_fails": settings.passive_max_fails,
            }
        }
    return handler


def route_config(route: Route, settings: CaddySettings) -> JSON:
    """One service's route: its hostnames to its upstreams, or a 503 while it has none ready."""
    if route.upstreams:
        handle = [reverse_proxy_handler(route.upstreams, settings)]
    else:
        handle = [
            {
                "handler": "static_response",
                "status_code": 503,
                "headers": {"Retry-After": ["5"]},
                "body": "This service has no ready replica.\n",
            }
        ]
    return {
        "@id": route_id(route.service_id),
        "match": [{"host": list(route.hostnames)}],
        "handle": handle,
        "terminal": True,
    }


def route_from_config(obj: JSON) -> Route | None:
    """The Route a ``route_config`` object stands for; None for routes that are not a service's."""
    rid = obj.get("@id")
    if not isinstance(rid, str) or not rid.startswith(ROUTE_ID_PREFIX):
        return None
    hostnames = [str(h) for m in obj.get("match") or [] for h in (m.get("host") or [])]
    handle = (obj.get("handle") or [{}])[0]
    upstreams = []
    if handle.get("handler") == "reverse_proxy":
        upstreams = [str(u.get("dial")) for u in handle.get("upstreams") or [] if u.get("dial")]
    return Route(service_id=rid[len(ROUTE_ID_PREFIX) :], hostnames=hostnames, upstreams=upstreams)


def fallback_route() -> JSON:
    # Without it Caddy answers an unknown Host with an empty 200, which hides a missing route.
    return {
        "@id": FALLBACK_ROUTE_ID,
        "handle": [{"handler": "static_response", "status_code": 404, "body": "No service at this address.\n"}],
        "terminal": True,
    }


def tls_policies(routes: list[Route], settings: CaddySettings) -> list[JSON]:
    """Internal names get the internal issuer; everything else Caddy's automatic HTTPS (ACME).

    A policy with no subjects applies to every name, so the internal one exists only when some
    internal name does."""
    internal = sorted(
        {h for route in routes for h in route.hostnames if is_internal_hostname(h, settings.internal_suffixes)}
    )
    policies: list[JSON] = []
    if internal:
        policies.append({"subjects": internal, "issuers": [{"module": "internal"}]})
    if settings.acme_email:
        policies.append({"issuers": [{"module": "acme", "email": settings.acme_email}]})
    return policies


def caddy_config(routes: list[Route], settings: CaddySettings, kept: JSON | None = None) -> JSON:
    """The whole configuration: ``routes`` (sorted by service id for a stable document) and the
    fallback route on the ``deploykit`` server, plus the ``kept`` sections of Caddy's current
    config (admin address, logging, storage). A route without hostnames is left out: an empty
    host matcher would not restrict anything."""
    ordered = sorted((r for r in routes if r.hostnames), key=lambda r: r.service_id)
    server: JSON = {
        "listen": settings.listen_addresses(),
        "routes": [*(route_config(r, settings) for r in ordered), fallback_route()],
    }
    http_app: JSON = {"http_port": settings.http_port, "servers": {SERVER_NAME: server}}
    apps: JSON = {"http": http_app}
    if settings.https_port is None:
        server["automatic_https"] = {"disable": True}
    else:
        http_app["https_port"] = settings.https_port
        if not settings.redirect_http:
            server["automatic_https"] = {"disable_redirects": True}
        policies = tls_policies(ordered, settings)
        if policies:
            apps["tls"] = {"automation": {"policies": policies}}
        # Never let Caddy add its root to the host's trust store: it is not ours to change.
        apps["pki"] = {"certificate_authorities": {"local": {"install_trust": False}}}
    config: JSON = {"apps": apps}
    for section in KEPT_SECTIONS:
        if kept and kept.get(section) is not None:
            config[section] = kept[section]
    if settings.storage_dir is not None:
        config["storage"] = {"module": "file_system", "root": settings.storage_dir}
    return config
