"""The error matrix of API.md through the real daemon: every status with its exact body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.support import Account, Daemon, create_member, create_project

IMAGE = {"type": "image", "image": "nginx:1.27"}


@pytest.fixture(scope="module")
def member(admin: Account) -> Account:
    return create_member(admin, "member@example.com")


@pytest.fixture(scope="module")
def two_projects(admin: Account) -> dict[str, Any]:
    """Two projects, a deployed service in the first, and its env var."""
    first, second = create_project(admin, "One")["id"], create_project(admin, "Two")["id"]
    with admin.client() as c:
        temp = c.post(f"/projects/{first}/services", json={"name": "api", "source": IMAGE}).json()["target_temp_id"]
        c.post(f"/projects/{first}/services/{temp}/env-vars", json={"key": "K", "value": "v"})
        sid = c.post(f"/projects/{first}/deploy").json()["temp_id_to_service_id"][temp]
        var = c.get(f"/projects/{first}/services/{sid}/env-vars").json()["data"][0]
        dep = c.get(f"/projects/{first}/services/{sid}/deployments").json()["data"][0]
    return {"first": first, "second": second, "service": sid, "var": var["id"], "deployment": dep["id"]}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Authentication required."),
        ({"Authorization": "Bearer not-a-token"}, "The token is invalid or expired."),
        ({"Authorization": "Bearer dk_not-a-key"}, "The token is invalid or expired."),
        ({"Authorization": "Basic YTpi"}, "Authentication required."),
    ],
)
def test_missing_or_bad_credentials_are_401(daemon: Daemon, headers: dict[str, str], message: str) -> None:
    with daemon.client() as c:
        r = c.get("/projects", headers=headers)
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized", "message": message}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/users"), ("POST", "/users"), ("GET", "/system/about"), ("GET", "/system/status")],
)
def test_admin_routes_are_403_for_members(member: Account, method: str, path: str) -> None:
    with member.client() as c:
        r = c.request(method, path, json={} if method == "POST" else None)
    assert r.status_code == 403
    assert r.json() == {"error": "forbidden", "message": "Only admins may do this."}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/projects/{second}/services/{service}", "Service not found."),
        ("/projects/{second}/services/{service}/deployments", "Service not found."),
        ("/projects/{second}/services/{service}/deployments/{deployment}", "Service not found."),
        ("/projects/{first}/services/{service}/env-vars/{deployment}", "Env var not found."),
        ("/projects/{second}/services/{service}/env-vars/{var}", "Service not found."),
        ("/projects/{second}/env-vars/{var}", "Env var not found."),
        ("/projects/{first}/env-vars/{var}", "Env var not found."),
        ("/projects/{second}/groups/{service}/env-vars", "Group not found."),
        ("/projects/00000000-0000-0000-0000-000000000000", "Project not found."),
    ],
)
def test_resources_under_the_wrong_parent_are_404(
    admin: Account, two_projects: dict[str, Any], path: str, message: str
) -> None:
    with admin.client() as c:
        r = c.get(path.format(**two_projects))
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "message": message}


def test_unknown_route_is_404_and_wrong_method_is_405(admin: Account) -> None:
    with admin.client() as c:
        unknown = c.get("/no-such-thing")
        wrong = c.put("/projects")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not_found", "message": "Not found."}
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "method_not_allowed", "message": "Method not allowed."}
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_conflicts_are_409(admin: Account, two_projects: dict[str, Any]) -> None:
    with admin.client() as c:
        dup_user = c.post("/users", json={"email": admin.email, "name": "X", "password": "long enough pw"})
        last_admin = c.delete(f"/users/{admin.user['id']}")
        demote = c.patch(f"/users/{admin.user['id']}", json={"role": "member"})
    assert dup_user.status_code == 409
    assert dup_user.json()["error"] == "conflict"
    assert last_admin.status_code == 409
    assert demote.status_code == 409
    assert last_admin.json()["error"] == demote.json()["error"] == "conflict"


def test_a_body_over_one_mebibyte_is_413(admin: Account) -> None:
    with admin.client() as c:
        r = c.post(
            "/projects",
            content=b'{"name": "' + b"x" * (1024 * 1024) + b'"}',
            headers={"Content-Type": "application/json"},
        )
    assert r.status_code == 413
    assert r.json() == {"error": "payload_too_large", "message": "The request body is larger than 1 MiB."}


def test_a_chunked_body_over_the_limit_is_413_too(admin: Account) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 32 * 1024

    with admin.client() as c:
        r = c.post("/projects", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": ""}, {"name": ["must not be empty"]}),
        ({}, {"name": ["Field required"]}),
        ({"name": 5}, {"name": ["Input should be a valid string"]}),
    ],
)
def test_invalid_input_is_422_with_per_field_messages(
    admin: Account, body: dict[str, Any], fields: dict[str, list[str]]
) -> None:
    with admin.client() as c:
        r = c.post("/projects", json=body)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid"
    assert r.json()["fields"] == fields


def test_service_validation_names_nested_fields(admin: Account, two_projects: dict[str, Any]) -> None:
    with admin.client() as c:
        r = c.post(
            f"/projects/{two_projects['first']}/services",
            json={"name": "9bad", "source": {"type": "image", "image": "UPPER"}, "port": 70000, "replicas": 50},
        )
    assert r.status_code == 422
    assert set(r.json()["fields"]) == {"name", "source.image", "port", "replicas"}


def test_malformed_json_is_400(admin: Account) -> None:
    with admin.client() as c:
        r = c.post("/projects", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid", "message": "Malformed JSON body."}


def test_every_response_carries_security_headers_and_a_request_id(daemon: Daemon) -> None:
    r = httpx.get(f"{daemon.base}/api/health")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert len(r.headers["x-request-id"]) == 16


def test_runtime_logs_without_docker_are_503(admin: Account, two_projects: dict[str, Any]) -> None:
    with admin.client() as c:
        r = c.get(f"/projects/{two_projects['first']}/services/{two_projects['service']}/logs")
    assert r.status_code == 503
    assert r.json()["error"] == "unavailable"


def test_admins_see_system_about_and_status_even_without_docker(admin: Account) -> None:
    with admin.client() as c:
        about = c.get("/system/about")
        status = c.get("/system/status")
    assert about.status_code == 200
    assert about.json()["version"] == "0.1.0"
    assert about.json()["database"]["path"].endswith("deploykit.db")
    assert status.status_code == 200
    assert set(status.json()) == {"host", "docker", "ingress"}
