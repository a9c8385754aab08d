"""The compose translation (``deploykit.compose``) on real compose files, parsed by PyYAML."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from deploykit.compose import NODE_H, NODE_W, ComposeImport, GitRepo, duration_s, memory_mb, probe_of, translate
from deploykit.errors import ValidationError
from deploykit.health import HealthCheckType
from deploykit.service import GitSource, ImageSource, RestartPolicy, Volume
from tests.compose.files import API_REDIS, GITEA, VOTING_APP, WORDPRESS

REPO = GitRepo("https://github.com/dockersamples/example-voting-app.git", "main")


def load(text: str, **kw: Any) -> ComposeImport:
    return translate(yaml.safe_load(text), **kw)


def by_name(result: ComposeImport) -> dict[str, Any]:
    return {s.name: s for s in result.services}


def reasons(result: ComposeImport) -> dict[str, str]:
    return {s.key: s.reason for s in result.skipped}


def test_wordpress_and_mysql_become_two_services_with_volumes_env_and_an_edge() -> None:
    result = load(WORDPRESS)
    s = by_name(result)
    assert list(s) == ["db", "wordpress"]
    db, wp = s["db"], s["wordpress"]
    assert db.config.source == ImageSource("mysql:8.0")
    assert db.config.port == 3306
    assert db.config.command == ["--default-authentication-plugin=mysql_native_password"]
    assert db.config.volumes == [Volume("db_data", "/var/lib/mysql")]
    assert db.config.restart_policy == RestartPolicy.ALWAYS
    assert db.env["MYSQL_DATABASE"] == "wordpress"
    assert db.config.health_check is None
    assert wp.config.port == 80
    assert wp.config.volumes == [Volume("wp_data", "/var/www/html")]
    assert wp.env["WORDPRESS_DB_HOST"] == "db"
    check = wp.config.health_check
    assert check is not None
    assert (check.type, check.path, check.interval_s, check.timeout_s) == (
        HealthCheckType.HTTP,
        "/wp-login.php",
        30,
        10,
    )
    assert (check.unhealthy_threshold, check.start_period_s) == (5, 60)
    assert result.edges == [("wordpress", "db")]
    why = reasons(result)
    assert "not an HTTP" in why["services.db.healthcheck.test"]
    assert "3306 was taken" in why["services.db.expose.1"]
    assert "host port" in why["services.wordpress.ports.0"]


def test_gitea_bind_mounts_networks_and_container_name_are_listed_with_reasons() -> None:
    result = load(GITEA)
    s = by_name(result)
    assert s["server"].config.volumes == []
    assert s["server"].config.port == 3000
    assert s["server"].env["GITEA__database__HOST"] == "db:5432"
    assert s["db"].config.port is None
    why = reasons(result)
    assert "bind mount of './gitea'" in why["services.server.volumes.0"]
    assert "bind mount of '/etc/timezone'" in why["services.server.volumes.1"]
    assert "bind mount" in why["services.db.volumes.0"]
    assert "names containers" in why["services.server.container_name"]
    assert "network" in why["services.server.networks"]
    assert "network" in why["networks"]
    assert "obsolete" in why["version"]
    assert "3000 was taken" in why["services.server.ports.1"]
    assert result.edges == [("server", "db")]


def test_voting_app_builds_from_the_given_repository() -> None:
    result = load(VOTING_APP, repo=REPO)
    s = by_name(result)
    vote = s["vote"].config
    assert vote.source == GitSource(REPO.repo_url, "main", "vote/Dockerfile", "vote")
    assert s["result"].config.source == GitSource(REPO.repo_url, "main", "result/Dockerfile", "result")
    assert vote.health_check is not None
    assert (vote.health_check.path, vote.port, vote.health_check.start_period_s) == ("/", 80, 10)
    assert s["db"].env == {"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "postgres"}
    assert s["db"].config.volumes == [Volume("db-data", "/var/lib/postgresql/data")]
    assert set(result.edges) == {("vote", "redis"), ("result", "db"), ("worker", "redis"), ("worker", "db")}
    why = reasons(result)
    assert "entrypoint" in why["services.result.entrypoint"]
    assert "Dockerfile and context" in why["services.vote.build.target"]
    assert "not an HTTP" in why["services.redis.healthcheck.test"]


def test_a_build_without_a_repository_is_refused_naming_each_service() -> None:
    with pytest.raises(ValidationError) as exc:
        load(VOTING_APP)
    assert set(exc.value.fields) == {"services.vote.build", "services.result.build", "services.worker.build"}
    assert "repository" in exc.value.fields["services.vote.build"][0]


def test_api_with_redis_limits_replicas_env_map_and_a_tcp_check() -> None:
    result = load(API_REDIS)
    s = by_name(result)
    api, cache = s["api"], s["cache"]
    assert (api.config.replicas, api.config.resources.cpus, api.config.resources.memory_mb) == (3, 0.5, 512)
    assert api.env == {"REDIS_URL": "redis://cache:6379/0", "DEBUG": "false", "WORKERS": "4"}
    assert api.config.command == ["serve", "--port", "8000"]
    assert cache.config.command == ["redis-server", "--appendonly", "yes"]
    assert cache.config.volumes == [Volume("cache-data", "/data")]
    check = cache.config.health_check
    assert check is not None
    assert (check.type, check.interval_s, check.timeout_s, check.unhealthy_threshold) == (
        HealthCheckType.TCP,
        90,
        90,
        100,
    )
    assert "only limits" in reasons(result)["services.api.deploy.resources.reservations"]


def test_nodes_are_laid_out_below_the_canvas_without_overlap() -> None:
    result = load(VOTING_APP, repo=REPO, occupied=[(0.0, 0.0, 460.0, 300.0), (500.0, 100.0, 220.0, 400.0)])
    boxes = [(s.position[0], s.position[1]) for s in result.services]
    assert all(y >= 500 for _, y in boxes)
    for i, (x1, y1) in enumerate(boxes):
        for x2, y2 in boxes[i + 1 :]:
            assert abs(x1 - x2) >= NODE_W or abs(y1 - y2) >= NODE_H
    pos = {s.name: s.position for s in result.services}
    assert pos["redis"][0] < pos["vote"][0]  # dependencies left of their dependents


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ("- just a list", "compose"),
        ("services: {}", "compose.services"),
        ("services:\n  web: nginx", "services.web"),
        ("services:\n  web: {ports: ['80']}", "services.web.image"),
        ("services:\n  web: {image: 'Not An Image!'}", "services.web.source.image"),
        ("services:\n  1web: {image: nginx}", "services.1web.name"),
        ("services:\n  web: {image: nginx, ports: ['8000-8001:8000-8001']}", "services.web.ports.0"),
        ("services:\n  web: {image: nginx, depends_on: [db]}", "services.web.depends_on"),
        ("services:\n  web: {image: nginx, environment: 3}", "services.web.environment"),
        ("services:\n  web: {image: nginx, deploy: {replicas: 50}}", "services.web.replicas"),
        (
            "services:\n  web: {image: nginx, deploy: {resources: {limits: {memory: lots}}}}",
            "services.web.deploy.resources.limits.memory",
        ),
        ("services:\n  web: {image: nginx, volumes: ['Data:/x']}", "services.web.volumes.0.name"),
        ("services:\n  web: {image: nginx, restart: sometimes}", "services.web.restart"),
    ],
)
def test_invalid_compose_names_the_field(doc: str, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        load(doc)
    assert field in exc.value.fields, exc.value.fields


def test_probes_durations_and_sizes() -> None:
    assert probe_of(["CMD", "wget", "-q", "--spider", "http://127.0.0.1:8080/healthz"]) == (
        HealthCheckType.HTTP,
        "/healthz",
        8080,
    )
    assert probe_of("curl -f http://example.com/") is None
    assert probe_of(["CMD", "nc", "-z", "localhost", "5432"]) == (HealthCheckType.TCP, "/", 5432)
    assert probe_of(["CMD", "pg_isready"]) is None
    assert duration_s("1m30s") == 90
    assert duration_s("500ms") == 0.5
    assert duration_s("soon") is None
    assert memory_mb("1g") == 1024
    assert memory_mb("512M") == 512
    assert memory_mb(268435456) == 256


def test_a_health_check_on_another_port_than_the_service_is_left_out() -> None:
    doc = "services:\n  web:\n    image: nginx\n    ports: ['80']\n    healthcheck: {test: 'curl -f http://localhost:9000/'}"
    result = load(doc)
    assert result.services[0].config.health_check is None
    assert "checks port 9000" in reasons(result)["services.web.healthcheck.test"]


def test_a_service_without_port_takes_its_health_checks_port() -> None:
    doc = "services:\n  web:\n    image: nginx\n    healthcheck: {test: ['CMD', 'curl', 'http://localhost:8080/up']}"
    web = load(doc).services[0]
    assert web.config.port == 8080
    assert web.config.health_check is not None
