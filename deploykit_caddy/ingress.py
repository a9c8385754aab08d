"""``CaddyIngress``: the domain's Ingress through Caddy's admin API."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import replace
from typing import Any

from deploykit.errors import INTERNAL, UNAVAILABLE, Error
from deploykit.ingress import DomainCheck, Route, TLSStatus
from deploykit_caddy.admin import AdminClient, AdminResponse, AdminUnreachable, admin_client
from deploykit_caddy.config import (
    JSON,
    SERVER_NAME,
    CaddySettings,
    caddy_config,
    is_internal_hostname,
    normalize_route,
    route_config,
    route_from_config,
    route_id,
    tls_policies,
    tls_status,
)
from deploykit_caddy.dns import Resolver, check_dns, system_resolver

log = logging.getLogger(__name__)


class _UnknownID(Exception):
    """Caddy has no object with the ``@id`` we patched: it restarted, or never had our config."""


class CaddyIngress:
    """Routes each service's hostnames to its ready replicas through one Caddy.

    Keeps the desired routes in memory (the last ``sync_routes`` plus later changes) so that any
    change can rebuild Caddy's whole configuration in one request: a Caddy that lost its config
    (restarted, replaced) is fully restored by the next change, not just the changed route. Before
    its first partial change it takes over the routes Caddy already serves, so a restarted
    deploykitd never drops the routes of services it has not visited yet. A hostname belongs to
    one route: the route that claims it takes it from any other.

    Changes are serialized. An upstream switch (same hostnames, same TLS needs) is one
    ``PATCH /id/dk-svc-<id>``; everything else is one ``POST /load``. Caddy applies either as one
    graceful reload: the new listener socket is bound (``SO_REUSEPORT``) before the old one closes,
    in-flight requests finish on the old upstreams, new ones go to the new upstreams. A reload also
    closes idle client keep-alive connections (clients reconnect; see bench/zero_downtime.py).

    Caddy skips a change that leaves its configuration byte-identical: re-applying the same routes
    (a periodic ``sync_routes``, an unchanged ``set_route``) costs no reload, so callers may
    re-assert routes freely.
    """

    def __init__(
        self, admin_url: str, *, settings: CaddySettings | None = None, resolve: Resolver = system_resolver
    ) -> None:
        self.admin_url = admin_url
        self.settings = settings or CaddySettings()
        self._resolve = resolve
        self._client: AdminClient | None = None
        self._routes: dict[str, Route] = {}
        self._in_caddy: dict[str, Route] = {}
        """What we last wrote to Caddy successfully; empty when we don't know."""
        self._held: set[str] = set()
        """Services Caddy serves a route of, as far as we know."""
        self._adopted = False
        self._touched: set[str] = set()
        """Services changed before adoption: Caddy's older word on them is not taken."""
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self._client = admin_client(self.admin_url, self.settings.admin_timeout_s)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> CaddyIngress:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- Ingress -------------------------------------------------------------------------------

    async def ping(self) -> bool:
        if self._client is None:
            return False
        try:
            response = await self._client.get("/config/admin", timeout_s=min(2.0, self.settings.admin_timeout_s))
        except AdminUnreachable:
            return False
        return response.status_code == 200

    async def sync_routes(self, routes: list[Route]) -> None:
        async with self._lock:
            self._routes = {r.service_id: normalize_route(r) for r in routes}
            self._adopted = True  # the caller's list is the whole truth
            await self._load()

    async def set_route(self, route: Route) -> None:
        route = normalize_route(route)
        async with self._lock:
            self._routes[route.service_id] = route
            self._touched.add(route.service_id)
            if not route.hostnames and not await self._holds(route.service_id):
                # Nothing to serve and nothing to take away: a service without domains never
                # waits on (or fails with) Caddy.
                return
            await self._adopt()
            claimed = self._claim_hostnames(route)
            if not claimed and self._patchable(route):
                try:
                    await self._request(
                        "PATCH", f"/id/{route_id(route.service_id)}", route_config(route, self.settings)
                    )
                except _UnknownID:
                    log.info("Caddy lost route %s; reloading every route", route_id(route.service_id))
                else:
                    self._in_caddy[route.service_id] = route
                    self._held.add(route.service_id)
                    return
            await self._load()

    async def remove_route(self, service_id: str) -> None:
        async with self._lock:
            self._routes.pop(service_id, None)
            self._touched.add(service_id)
            if not await self._holds(service_id):
                # Caddy holds no route of it, or cannot be asked now: the next full load (any
                # change, ``ensure_routes``, a supervised restart) leaves it out anyway.
                return
            await self._load()

    # -- beyond the Protocol -------------------------------------------------------------------

    async def ensure_routes(self) -> bool:
        """Re-load every desired route when Caddy's routes differ from them (a Caddy restarted
        behind our back, or edited by hand). One GET when all is well, so it can run every few
        seconds against a Caddy that DeployKit does not supervise. Returns whether it reloaded.
        Raises ``unavailable``."""
        async with self._lock:
            await self._adopt()
            try:
                current = await self._request("GET", f"/config/apps/http/servers/{SERVER_NAME}/routes")
            except Error:
                if not await self.ping():
                    raise
                current = None  # answers, but has no such server: a fresh Caddy
            wanted = caddy_config(list(self._routes.values()), self.settings)
            if current == wanted["apps"]["http"]["servers"][SERVER_NAME]["routes"]:
                return False
            log.info("Caddy's routes differ from DeployKit's; reloading every route")
            await self._load()
            return True

    def routes(self) -> list[Route]:
        """The desired routes, as this process knows them."""
        return sorted(self._routes.values(), key=lambda r: r.service_id)

    async def routes_in_caddy(self) -> list[JSON]:
        """The route objects Caddy serves now (ours and the fallback). Raises ``unavailable``."""
        body = await self._request("GET", f"/config/apps/http/servers/{SERVER_NAME}/routes")
        return list(body) if isinstance(body, list) else []

    def tls_status(self, hostname: str) -> TLSStatus:
        """The TLS a hostname gets from this Caddy, without probing (see ``probe_tls``)."""
        return tls_status(hostname, self.settings)

    async def check_domain(self, hostname: str) -> DomainCheck:
        """``DomainChecker``: DNS against ``settings.public_addresses``, TLS by a handshake with our
        own HTTPS listener. Never raises."""
        dns, tls = await asyncio.gather(
            check_dns(
                hostname, self.settings.public_addresses, timeout_s=self.settings.dns_timeout_s, resolve=self._resolve
            ),
            self.probe_tls(hostname),
        )
        return DomainCheck(dns.hostname, dns.ok, tls, dns.error)

    async def probe_tls(self, hostname: str, *, timeout_s: float = 3.0) -> TLSStatus:
        """Handshake with our HTTPS listener as ``hostname``: ``active`` when a publicly trusted
        certificate answers, ``internal`` for internal names that handshake, ``pending`` while the
        name has no certificate (or no trusted one) yet, ``failed`` when the listener does not
        answer. Never raises."""
        if self.settings.https_port is None:
            return TLSStatus.NONE
        host = self.settings.listen_host or "127.0.0.1"
        internal = is_internal_hostname(hostname, self.settings.internal_suffixes)
        context = ssl.create_default_context()
        if internal:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, self.settings.https_port, ssl=context, server_hostname=hostname),
                timeout_s,
            )
        except ssl.SSLError:
            # Caddy has no certificate for the name yet (handshake alert) or only an untrusted one.
            return TLSStatus.PENDING
        except (OSError, TimeoutError):
            return TLSStatus.FAILED
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return TLSStatus.INTERNAL if internal else TLSStatus.ACTIVE

    # -- internals -----------------------------------------------------------------------------

    def _http(self) -> AdminClient:
        if self._client is None:
            raise Error(INTERNAL, "CaddyIngress used before open().")
        return self._client

    async def _adopt(self) -> None:
        """Once per process, before the first partial change: take over the routes Caddy already
        serves (deploykitd restarted, Caddy did not), so that changing one service's route never
        drops the others'. Raises ``unavailable``."""
        if self._adopted:
            return
        current = await self._request("GET", "/config/")
        config: JSON = current if isinstance(current, dict) else {}
        server = ((config.get("apps") or {}).get("http") or {}).get("servers", {}).get(SERVER_NAME) or {}
        found = [route_from_config(obj) for obj in server.get("routes") or [] if isinstance(obj, dict)]
        adopted = {r.service_id: r for r in found if r is not None}
        for service_id, route in adopted.items():
            if service_id not in self._touched:
                self._routes[service_id] = route
        # Route-by-route patches are only safe on a config exactly as we would write it (same
        # ports, TLS policies, proxy tuning); otherwise the next change loads everything.
        same = caddy_config(list(adopted.values()), self.settings, config) == config
        self._in_caddy = adopted if same else {}
        self._held = {service_id for service_id, route in adopted.items() if route.hostnames}
        self._adopted = True
        self._touched.clear()
        log.info("Took over %d route(s) from Caddy%s", len(adopted), "" if same else " (settings differ)")

    async def _holds(self, service_id: str) -> bool:
        """Whether Caddy may serve a route of ``service_id``. False when it surely does not, and
        when Caddy cannot be asked now: the next full load leaves the route out anyway."""
        try:
            await self._adopt()
        except Error:
            return False
        return service_id in self._held

    def _claim_hostnames(self, route: Route) -> bool:
        """Hostnames are unique across services: a route that takes one takes it from any other
        route still holding it (a domain moved, or a stale route of a deleted service)."""
        claimed = False
        for other in list(self._routes.values()):
            if other.service_id != route.service_id and set(other.hostnames) & set(route.hostnames):
                kept = [h for h in other.hostnames if h not in route.hostnames]
                self._routes[other.service_id] = replace(other, hostnames=kept)
                claimed = True
        return claimed

    def _patchable(self, route: Route) -> bool:
        """Whether replacing only this route's object keeps Caddy's config exactly what a full load
        would give: Caddy has the route from us, and the TLS policies do not change."""
        if route.service_id not in self._in_caddy or not route.hostnames:
            return False
        after = {**self._in_caddy, route.service_id: route}
        return tls_policies(list(after.values()), self.settings) == tls_policies(
            list(self._in_caddy.values()), self.settings
        )

    async def _load(self) -> None:
        current = await self._request("GET", "/config/")
        routes = list(self._routes.values())
        config = caddy_config(routes, self.settings, current if isinstance(current, dict) else None)
        self._in_caddy = {}
        await self._request("POST", "/load", config)
        self._in_caddy = {r.service_id: r for r in routes if r.hostnames}
        self._held = set(self._in_caddy)

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        """One admin call; every failure to answer and non-2xx answer becomes ``unavailable`` here.

        Every call made here is idempotent (a read, a whole-object PATCH, a whole-config load), so a
        connection that breaks without a timeout is tried once more on a fresh one: Caddy restarts
        its admin server after a load, closing the kept-alive connection the next call would reuse.
        """
        for attempt in (1, 2):
            try:
                response = await self._http().request(method, path, body)
                break
            except AdminUnreachable as exc:
                if attempt == 1 and not exc.timed_out:
                    continue
                raise Error(UNAVAILABLE, f"Caddy's admin API at {self.admin_url} does not answer.") from exc
        if response.status_code == 404 and method == "PATCH" and path.startswith("/id/"):
            raise _UnknownID(path)
        if response.status_code >= 300:
            detail = _caddy_error(response)
            log.warning("Caddy refused %s %s: %s %s", method, path, response.status_code, detail)
            raise Error(UNAVAILABLE, f"Caddy refused the change ({response.status_code}); see the daemon log.")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None


def _caddy_error(response: AdminResponse) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        return str(body.get("error", body))[:500]
    return str(body)[:500]
