"""Docker Compose import through the real daemon: staged in one go, previewed by a dry run,
refused whole with the field when anything is wrong."""

from __future__ import annotations

from typing import Any

import httpx

from tests.compose.files import API_REDIS, GITEA, VOTING_APP, WORDPRESS
from tests.e2e.support import Account, CanvasClient, create_project

REPO = "https://github.com/dockersamples/example-voting-app.git"


async def canvas(account: Account, pid: str) -> dict[str, Any]:
    """The project's canvas (nodes and edges) as its WebSocket sends it on joining."""
    async with CanvasClient(account.daemon, pid, account.token) as ws:
        return dict(ws.received[0]["payload"])


def pending(c: httpx.Client, pid: str) -> list[dict[str, Any]]:
    return list(c.get(f"/projects/{pid}/pending-changes").json()["data"])


async def test_wordpress_is_staged_with_env_volumes_and_an_edge_and_deploys_as_staged(admin: Account) -> None:
    pid = create_project(admin, "Blog")["id"]
    with admin.client() as c:
        r = c.post(f"/projects/{pid}/compose", json={"compose": WORDPRESS})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["dry_run"] is False
        names = [s["name"] for s in body["services"]]
        assert names == ["db", "wordpress"]
        temp = {s["name"]: s["temp_id"] for s in body["services"]}
        changes = pending(c, pid)
        assert [(ch["kind"], ch["payload"]["name"]) for ch in changes] == [
            ("service.create", "db"),
            ("service.create", "wordpress"),
        ]
        wp = changes[1]["payload"]
        assert wp["env_vars"]["WORDPRESS_DB_HOST"] == "db"
        assert wp["volumes"] == [{"name": "wp_data", "mount_path": "/var/www/html"}]
        assert wp["health_check"]["path"] == "/wp-login.php"
        assert any("not an HTTP" in s["reason"] for s in body["skipped"] if s["key"] == "services.db.healthcheck.test")
        state = await canvas(admin, pid)
        edges = {(e["source"], e["target"]) for e in state["edges"]}
        assert (temp["wordpress"], temp["db"]) in edges
        nodes = {n["id"]: n for n in state["nodes"]}
        assert nodes[temp["db"]]["position_x"] != nodes[temp["wordpress"]]["position_x"]
        assert c.get(f"/projects/{pid}/services").json()["total_count"] == 0
        applied = c.post(f"/projects/{pid}/deploy").json()
        assert applied["applied_count"] == 2
        services = {s["name"]: s for s in c.get(f"/projects/{pid}/services").json()["data"]}
        assert services["wordpress"]["port"] == 80
        assert services["db"]["command"] == ["--default-authentication-plugin=mysql_native_password"]
        ids = applied["temp_id_to_service_id"]
        after = {(e["source"], e["target"]) for e in (await canvas(admin, pid))["edges"]}
        assert (ids[temp["wordpress"]], ids[temp["db"]]) in after


async def test_a_dry_run_previews_without_staging(admin: Account) -> None:
    pid = create_project(admin, "Git forge")["id"]
    with admin.client() as c:
        r = c.post(f"/projects/{pid}/compose", json={"compose": GITEA, "dry_run": True})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["dry_run"] is True
        assert [s["temp_id"] for s in body["services"]] == [None, None]
        keys = {s["key"] for s in body["skipped"]}
        assert {"services.server.volumes.0", "services.server.container_name", "networks", "version"} <= keys
        assert pending(c, pid) == []
        assert (await canvas(admin, pid))["nodes"] == []


async def test_builds_become_git_sources_of_the_given_repository(admin: Account) -> None:
    pid = create_project(admin, "Votes")["id"]
    with admin.client() as c:
        r = c.post(f"/projects/{pid}/compose", json={"compose": VOTING_APP, "repo_url": REPO, "branch": "main"})
        assert r.status_code == 200, r.text
        staged = {ch["payload"]["name"]: ch["payload"] for ch in pending(c, pid)}
        assert staged["vote"]["source"] == {
            "type": "git",
            "repo_url": REPO,
            "branch": "main",
            "dockerfile_path": "vote/Dockerfile",
            "context": "vote",
        }
        assert staged["redis"]["source"] == {"type": "image", "image": "redis:alpine"}
        assert len((await canvas(admin, pid))["edges"]) == 4


async def test_invalid_or_malformed_compose_is_refused_whole_and_stages_nothing(admin: Account) -> None:
    pid = create_project(admin, "Refused")["id"]
    with admin.client() as c:
        cases = [
            ({"compose": "services:\n  web: [unclosed"}, "compose", "not valid YAML at line"),
            ({"compose": "services: 3"}, "compose.services", "mapping"),
            ({"compose": VOTING_APP}, "services.vote.build", "repository"),
            ({"compose": API_REDIS.replace("redis:7-alpine", "Redis Latest")}, "services.cache.source.image", ""),
            ({"compose": WORDPRESS.replace("- db\n", "- database\n")}, "services.wordpress.depends_on", "database"),
        ]
        for body, field, reason in cases:
            r = c.post(f"/projects/{pid}/compose", json=body)
            assert r.status_code == 422, r.text
            fields = r.json()["fields"]
            assert field in fields, fields
            assert reason in " ".join(fields[field])
        assert pending(c, pid) == []
        assert (await canvas(admin, pid))["nodes"] == []


async def test_a_name_taken_by_a_staged_service_refuses_the_whole_file(admin: Account) -> None:
    pid = create_project(admin, "Taken")["id"]
    with admin.client() as c:
        r = c.post(f"/projects/{pid}/services", json={"name": "cache", "source": {"type": "image", "image": "redis:7"}})
        assert r.status_code == 200, r.text
        r = c.post(f"/projects/{pid}/compose", json={"compose": API_REDIS})
        assert r.status_code == 409, r.text
        assert "cache" in r.json()["message"]
        assert [ch["payload"]["name"] for ch in pending(c, pid)] == ["cache"]
        assert len((await canvas(admin, pid))["nodes"]) == 1
