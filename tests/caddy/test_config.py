"""Caddy's JSON for DeployKit's routes, built without Caddy."""

from __future__ import annotations

import pytest

from deploykit.ingress import Route, TLSStatus
from deploykit_caddy import CaddySettings, is_internal_hostname, tls_status
from deploykit_caddy.config import caddy_config, normalize_route, route_config


@pytest.mark.parametrize(
    ("hostname", "internal"),
    [
        ("localhost", True),
        ("web-demo.localhost", True),
        ("Shop.Test.", True),
        ("printer.local", True),
        ("api.internal", True),
        ("example.com", False),
        ("localhost.example.com", False),
        ("mylocalhost", False),
    ],
)
def test_internal_names_are_those_no_public_ca_signs(hostname: str, internal: bool) -> None:
    assert is_internal_hostname(hostname) is internal


@pytest.mark.parametrize(
    ("settings", "hostname", "status"),
    [
        (CaddySettings(), "app.example.com", TLSStatus.PENDING),
        (CaddySettings(), "app.localhost", TLSStatus.INTERNAL),
        (CaddySettings(https_port=None), "app.example.com", TLSStatus.NONE),
    ],
)
def test_tls_status_follows_the_name_and_settings(settings: CaddySettings, hostname: str, status: TLSStatus) -> None:
    assert tls_status(hostname, settings) == status


def test_route_proxies_every_hostname_to_every_upstream_with_retries() -> None:
    route = route_config(Route("s1", ["b.example.com", "a.localhost"], ["10.0.0.2:80", "10.0.0.3:80"]), CaddySettings())
    assert route["@id"] == "dk-svc-s1"
    assert route["match"] == [{"host": ["b.example.com", "a.localhost"]}]
    [proxy] = route["handle"]
    assert proxy["upstreams"] == [{"dial": "10.0.0.2:80"}, {"dial": "10.0.0.3:80"}]
    assert proxy["load_balancing"]["try_duration"] == "5000ms"
    assert "health_checks" not in proxy
    assert proxy["transport"] == {"protocol": "http", "dial_timeout": "3000ms"}


def test_passive_health_checks_are_opt_in() -> None:
    settings = CaddySettings(passive_fail_duration_s=2.0, passive_max_fails=2)
    [proxy] = route_config(Route("s1", ["a.localhost"], ["10.0.0.2:80"]), settings)["handle"]
    assert proxy["health_checks"] == {"passive": {"fail_duration": "2000ms", "max_fails": 2}}


def test_route_without_upstreams_answers_503() -> None:
    route = route_config(Route("s1", ["a.localhost"], []), CaddySettings())
    assert route["handle"][0]["handler"] == "static_response"
    assert route["handle"][0]["status_code"] == 503


def test_normalize_route_lowercases_deduplicates_and_sorts() -> None:
    route = normalize_route(Route("s", ["B.example.com.", "a.localhost", "b.example.com"], ["x:1", "x:1", "y:2"]))
    assert route == Route("s", ["a.localhost", "b.example.com"], ["x:1", "y:2"])


def test_internal_names_get_the_internal_issuer_and_public_names_acme() -> None:
    routes = [Route("s2", ["shop.example.com"]), Route("s1", ["web.localhost", "web.test"])]
    kept = {"admin": {"listen": "x"}, "logging": {"logs": {}}, "apps": {"http": {}}}
    config = caddy_config(routes, CaddySettings(acme_email="ops@example.com"), kept)
    assert (config["admin"], config["logging"]) == ({"listen": "x"}, {"logs": {}})
    assert "storage" not in config
    assert config["apps"]["tls"]["automation"]["policies"] == [
        {"subjects": ["web.localhost", "web.test"], "issuers": [{"module": "internal"}]},
        {"issuers": [{"module": "acme", "email": "ops@example.com"}]},
    ]
    assert config["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] is False
    server = config["apps"]["http"]["servers"]["deploykit"]
    assert [r["@id"] for r in server["routes"]] == ["dk-svc-s1", "dk-svc-s2", "dk-fallback"]


def test_public_names_only_have_no_internal_policy() -> None:
    # A policy without subjects would apply to every name, public ones included.
    config = caddy_config([Route("s", ["shop.example.com"])], CaddySettings())
    assert "tls" not in config["apps"]


@pytest.mark.parametrize(
    ("settings", "listen", "automatic_https"),
    [
        (CaddySettings(), [":443"], None),
        (
            CaddySettings(redirect_http=False, listen_host="127.0.0.1"),
            ["127.0.0.1:443", "127.0.0.1:80"],
            {"disable_redirects": True},
        ),
        (CaddySettings(https_port=None, http_port=8000), [":8000"], {"disable": True}),
    ],
)
def test_listeners_follow_https_and_redirect_settings(
    settings: CaddySettings, listen: list[str], automatic_https: dict[str, bool] | None
) -> None:
    server = caddy_config([], settings)["apps"]["http"]["servers"]["deploykit"]
    assert server["listen"] == listen
    assert server.get("automatic_https") == automatic_https
