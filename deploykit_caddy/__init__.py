"""Ingress through Caddy's admin API: routes, upstream switches, TLS, a supervised Caddy, and the
DNS check of domain status.

Wiring (deploykitd): ``CaddyTraffic`` does all of the following for the daemon, from the flags::

    traffic = CaddyTraffic(TrafficSettings(data_dir=..., caddy_admin=None, caddy_bin=None, ...))
    await traffic.open()            # never raises for Caddy's sake; retries in the background
    reconciler = Reconciler(..., ingress=traffic.ingress)   # None when there is no Caddy
    await traffic.close()

By hand::

    settings = CaddySettings(http_port=80, https_port=443, acme_email=..., public_addresses=(...),
                             storage_dir=str(data_dir / "caddy" / "storage"))
    # supervised: --caddy-bin PATH
    sup = SupervisorSettings(data_dir=str(data_dir / "caddy"), caddy_bin=caddy_bin)
    ingress = CaddyIngress(sup.admin_url, settings=settings)
    await ingress.open()
    supervisor = CaddySupervisor(settings=sup, on_start=lambda: ingress.sync_routes(ingress.routes()))
    await supervisor.open()         # every (re)start of Caddy re-syncs the routes
    # or external: --caddy-admin URL
    ingress = CaddyIngress(admin_url, settings=settings)
    await ingress.open()            # then run ``ingress.ensure_routes()`` every ~1 s
    ...
    await supervisor.close(); await ingress.close()

Rollout (reconciler): start the new replicas, wait for readiness, ``set_route(Route(service_id,
hostnames, ["ip:port", ...]))`` (one admin change), drain, then stop the old replicas.
"""

from deploykit_caddy.config import CaddySettings, is_internal_hostname, route_id, tls_status
from deploykit_caddy.dns import DNSCheck, check_dns
from deploykit_caddy.ingress import CaddyIngress
from deploykit_caddy.kernel import enable_tcp_migrate_req, tcp_migrate_req
from deploykit_caddy.supervisor import CaddySupervisor, SupervisorSettings
from deploykit_caddy.traffic import CaddyTraffic, TolerantIngress, TrafficSettings

__all__ = [
    "CaddyIngress",
    "CaddySettings",
    "CaddySupervisor",
    "CaddyTraffic",
    "DNSCheck",
    "SupervisorSettings",
    "TolerantIngress",
    "TrafficSettings",
    "check_dns",
    "enable_tcp_migrate_req",
    "is_internal_hostname",
    "route_id",
    "tcp_migrate_req",
    "tls_status",
]
