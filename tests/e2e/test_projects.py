"""Projects, staged services and env vars, apply and discard, through the real daemon."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.support import Account, CanvasClient, Daemon, create_project

IMAGE = {"type": "image", "image": "deploykit-test/busybox:latest"}


def staged_service(c: httpx.Client, project_id: str, name: str, **extra: Any) -> dict[str, Any]:
    r = c.post(f"/projects/{project_id}/services", json={"name": name, "source": IMAGE, **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_projects_are_created_listed_fetched_and_deleted_at_once(admin: Account) -> None:
    with admin.client() as c:
        created = [create_project(admin, f"Listing {i}") for i in range(3)]
        page = c.get("/projects", params={"limit": 2, "offset": 0}).json()
        assert page["limit"] == 2
        assert page["offset"] == 0
        assert len(page["data"]) == 2
        assert page["total_count"] >= 3
        one = c.get(f"/projects/{created[0]['id']}").json()
        assert one["name"] == "Listing 0"
        assert one["slug"].startswith("listing-0-")
        assert c.delete(f"/projects/{created[0]['id']}").status_code == 204
        gone = c.get(f"/projects/{created[0]['id']}")
        assert gone.status_code == 404
        assert gone.json() == {"error": "not_found", "message": "Project not found."}


def test_project_rename_is_staged_until_deploy(admin: Account) -> None:
    project = create_project(admin, "Before")
    pid = project["id"]
    with admin.client() as c:
        change = c.patch(f"/projects/{pid}", json={"name": "After"}).json()
        assert change["kind"] == "project.update"
        assert c.get(f"/projects/{pid}").json()["name"] == "Before"
        result = c.post(f"/projects/{pid}/deploy").json()
        assert result["applied_count"] == 1
        assert c.get(f"/projects/{pid}").json()["name"] == "After"


def test_staged_service_appears_only_after_deploy_with_its_env_at_three_scopes(daemon: Daemon, admin: Account) -> None:
    import asyncio

    pid = create_project(admin, "Staging")["id"]

    async def make_group() -> str:
        async with CanvasClient(daemon, pid, admin.token) as ws:
            await ws.send(
                "node:upsert",
                {"id": "grp-1", "type": "group", "position_x": 0, "position_y": 0, "data": {"label": "backend"}},
            )
            node = await ws.expect("node:upserted", lambda p: p["id"] == "grp-1")
            return str(node["id"])

    group_id = asyncio.run(make_group())
    with admin.client() as c:
        change = staged_service(c, pid, "api", port=8080, group_id=group_id)
        temp_id = change["target_temp_id"]
        assert change["kind"] == "service.create"
        assert temp_id
        assert c.get(f"/projects/{pid}/services").json()["total_count"] == 0
        # Env vars at the project, the group, and the staged service (by its temp id).
        staged = [
            c.post(f"/projects/{pid}/env-vars", json={"key": "REGION", "value": "eu"}),
            c.post(f"/projects/{pid}/groups/{group_id}/env-vars", json={"key": "TIER", "value": "backend"}),
            c.post(f"/projects/{pid}/services/{temp_id}/env-vars", json={"key": "PORT", "value": "8080"}),
        ]
        assert [r.status_code for r in staged] == [200, 200, 200]
        assert [r.json()["kind"] for r in staged] == ["env_var.create"] * 3
        assert c.get(f"/projects/{pid}/env-vars").json() == {"data": []}
        pending = c.get(f"/projects/{pid}/pending-changes").json()["data"]
        assert [p["kind"] for p in pending] == ["service.create", "env_var.create", "env_var.create", "env_var.create"]

        result = c.post(f"/projects/{pid}/deploy").json()
        assert result["applied_count"] == 4
        service_id = result["temp_id_to_service_id"][temp_id]
        assert len(result["created_deployments"]) == 1
        assert c.get(f"/projects/{pid}/pending-changes").json() == {"data": []}

        service = c.get(f"/projects/{pid}/services/{service_id}").json()
        assert service["name"] == "api"
        assert service["group_id"] == group_id
        assert service["domains"] == [f"api-{c.get(f'/projects/{pid}').json()['slug']}.localhost"]
        scopes = {
            "project": c.get(f"/projects/{pid}/env-vars").json()["data"],
            "group": c.get(f"/projects/{pid}/groups/{group_id}/env-vars").json()["data"],
            "service": c.get(f"/projects/{pid}/services/{service_id}/env-vars").json()["data"],
        }
        assert {k: [(v["key"], v["value"]) for v in vs] for k, vs in scopes.items()} == {
            "project": [("REGION", "eu")],
            "group": [("TIER", "backend")],
            "service": [("PORT", "8080")],
        }
        deployments = c.get(f"/projects/{pid}/services/{service_id}/deployments").json()
        assert deployments["total_count"] == 1
        assert deployments["data"][0]["env_vars"] == {"REGION": "eu", "TIER": "backend", "PORT": "8080"}

        # Edits to applied vars and services are staged too.
        region = scopes["project"][0]
        upd = c.patch(f"/projects/{pid}/env-vars/{region['id']}", json={"value": "us"})
        assert upd.json()["kind"] == "env_var.update"
        svc_upd = c.patch(f"/projects/{pid}/services/{service_id}", json={"replicas": 2, "drain_s": 3})
        assert svc_upd.json()["kind"] == "service.update"
        assert c.get(f"/projects/{pid}/env-vars/{region['id']}").json()["value"] == "eu"
        assert c.get(f"/projects/{pid}/services/{service_id}").json()["drain_s"] == 10
        bad_drain = c.patch(f"/projects/{pid}/services/{service_id}", json={"drain_s": -1})
        assert bad_drain.status_code == 422
        assert list(bad_drain.json()["fields"]) == ["drain_s"]
        c.post(f"/projects/{pid}/deploy")
        assert c.get(f"/projects/{pid}/env-vars/{region['id']}").json()["value"] == "us"
        applied = c.get(f"/projects/{pid}/services/{service_id}").json()
        assert (applied["replicas"], applied["drain_s"]) == (2, 3)
        delete = c.delete(f"/projects/{pid}/services/{service_id}")
        assert delete.json()["kind"] == "service.delete"
        c.post(f"/projects/{pid}/deploy")
        assert c.get(f"/projects/{pid}/services/{service_id}").status_code == 404


def test_discarding_one_change_takes_its_dependents_and_discard_all_empties_the_log(admin: Account) -> None:
    pid = create_project(admin, "Discard")["id"]
    with admin.client() as c:
        web = staged_service(c, pid, "web")
        c.post(f"/projects/{pid}/services/{web['target_temp_id']}/env-vars", json={"key": "A", "value": "1"})
        worker = staged_service(c, pid, "worker")
        removed = c.delete(f"/projects/{pid}/pending-changes/{web['id']}").json()["removed"]
        assert len(removed) == 2
        assert web["id"] in removed
        left = c.get(f"/projects/{pid}/pending-changes").json()["data"]
        assert [p["id"] for p in left] == [worker["id"]]
        assert c.delete(f"/projects/{pid}/pending-changes").json() == {"removed": [worker["id"]]}
        assert c.get(f"/projects/{pid}/pending-changes").json() == {"data": []}
        result = c.post(f"/projects/{pid}/deploy").json()
        assert result == {"applied_count": 0, "temp_id_to_service_id": {}, "created_deployments": []}


def test_staging_a_duplicate_service_name_is_a_conflict(admin: Account) -> None:
    pid = create_project(admin, "Dupes")["id"]
    with admin.client() as c:
        staged_service(c, pid, "db")
        again = c.post(f"/projects/{pid}/services", json={"name": "DB", "source": IMAGE})
        assert again.status_code == 409
        assert again.json() == {"error": "conflict", "message": "A service named 'DB' already exists in this project."}


def test_runtime_routes_answer_without_docker(admin: Account) -> None:
    pid = create_project(admin, "Runtime")["id"]
    with admin.client() as c:
        temp = staged_service(c, pid, "app")["target_temp_id"]
        sid = c.post(f"/projects/{pid}/deploy").json()["temp_id_to_service_id"][temp]
        assert c.get(f"/projects/{pid}/services/{sid}/containers").json() == {"data": []}
        stopped = c.post(f"/projects/{pid}/services/{sid}/stop")
        assert stopped.status_code == 200
        assert stopped.json()["stopped"] is True
        assert c.post(f"/projects/{pid}/services/{sid}/start").json()["stopped"] is False
        dep = c.get(f"/projects/{pid}/services/{sid}/deployments").json()["data"][0]
        one = c.get(f"/projects/{pid}/services/{sid}/deployments/{dep['id']}")
        assert one.json()["id"] == dep["id"]
        redeploy = c.post(f"/projects/{pid}/services/{sid}/redeploy")
        rollback = c.post(f"/projects/{pid}/services/{sid}/rollback", json={"deployment_id": dep["id"]})
        assert redeploy.status_code == 201
        assert redeploy.json()["status"] == "pending"
        assert redeploy.json()["id"] != dep["id"]
        assert rollback.status_code == 400
        assert rollback.json() == {
            "error": "invalid",
            "message": "Only a deployment that was healthy once can be rolled back to.",
        }
        health = c.get("/health").json()
        assert health["services"]["docker"] is False
        assert health["services"]["database"] is True


def test_database_presets_render_fresh_secrets_and_stage_as_they_are(admin: Account) -> None:
    pid = create_project(admin, "Presets")["id"]
    with admin.client() as c:
        listed = c.get("/presets/databases").json()["data"]
        assert {p["id"] for p in listed} >= {"postgres", "mysql", "mariadb", "redis"}
        first, second = c.get("/presets/databases/postgres").json(), c.get("/presets/databases/postgres").json()
        assert first["env_vars"]["POSTGRES_PASSWORD"] != second["env_vars"]["POSTGRES_PASSWORD"]
        staged = c.post(f"/projects/{pid}/services", json=first["service"])
        assert staged.status_code == 200, staged.text
        assert c.get("/presets/databases/oracle").json() == {"error": "not_found", "message": "Preset not found."}


def test_a_staged_service_can_be_edited_and_deleted_by_its_temp_id(admin: Account) -> None:
    pid = create_project(admin, "Temp edits")["id"]
    with admin.client() as c:
        temp = staged_service(c, pid, "draft", port=80)["target_temp_id"]
        upd = c.patch(f"/projects/{pid}/services/{temp}", json={"port": 8080, "name": "drafted"})
        assert upd.status_code == 200, upd.text
        assert (upd.json()["kind"], upd.json()["target_temp_id"]) == ("service.update", temp)
        bad = c.patch(f"/projects/{pid}/services/{temp}", json={"port": 0})
        assert bad.status_code == 422
        result = c.post(f"/projects/{pid}/deploy").json()
        service = c.get(f"/projects/{pid}/services/{result['temp_id_to_service_id'][temp]}").json()
        assert (service["name"], service["port"]) == ("drafted", 8080)

        gone = staged_service(c, pid, "ephemeral")["target_temp_id"]
        delete = c.delete(f"/projects/{pid}/services/{gone}")
        assert (delete.json()["kind"], delete.json()["target_temp_id"]) == ("service.delete", gone)
        c.post(f"/projects/{pid}/deploy")
        names = [s["name"] for s in c.get(f"/projects/{pid}/services").json()["data"]]
        assert names == ["drafted"]
