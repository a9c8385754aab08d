"""Staging through the REST routes: handlers call the StagingService only; the rooms and the
reconciler hear of what changed from the store's events, never from a handler."""

from __future__ import annotations

from typing import Any

from deploykit.env_edit import EnvEdit, EnvEditResult, KeyEdit
from deploykit.envvar import Scope
from deploykit.pending_change import ApplyResult, ChangeKind, PendingChange, PendingChangeCreate
from deploykit.project import Project, ProjectCreate
from deploykit.staged_diff import DiffStatus, EnvDiff, EnvOp, FieldDiff, ScopeDiff
from deploykit.staging import ServiceStage, ServiceTarget, StagedService
from deploykit_http.context import HTTPSettings
from tests.http.conftest import client_for, make_app
from tests.http.fakes import PROJECT, SERVICE, FakeRestarter, World


def staged(kind: ChangeKind, **fields: Any) -> PendingChange:
    return PendingChange(id="c1", project_id="p1", kind=kind, payload={}, **fields)


def staged_create(temp_id: str) -> PendingChange:
    payload = {"name": "web", "source": {"type": "image", "image": "nginx:1.27"}}
    return PendingChange(
        id="c0", project_id="p1", kind=ChangeKind.SERVICE_CREATE, payload=payload, target_temp_id=temp_id
    )


async def test_apply_answers_from_the_store_and_never_calls_the_reconciler(
    world: World, settings: HTTPSettings
) -> None:
    world.restarter = FakeRestarter()  # any call to it fails the request
    applied: list[tuple[str, str | None, str | None]] = []

    def apply(project_id: str, user_id: str | None, actor: str | None) -> ApplyResult:
        applied.append((project_id, user_id, actor))
        return ApplyResult(applied_count=2, temp_id_to_service_id={"tmp_a": "s9"}, created_deployments=["d1"])

    world.pending.apply_pending_changes_fn = apply
    async with client_for(make_app(world, settings)) as c:
        r = await c.post("/projects/p1/deploy")
    assert r.status_code == 200, r.text
    assert r.json() == {"applied_count": 2, "temp_id_to_service_id": {"tmp_a": "s9"}, "created_deployments": ["d1"]}
    assert applied == [("p1", "u-admin", "Ada")]


async def test_creating_and_deleting_a_project_leave_the_reconciler_to_the_bus(
    world: World, settings: HTTPSettings
) -> None:
    world.restarter = FakeRestarter()
    deleted: list[str] = []

    def create(create: ProjectCreate) -> Project:
        return Project(id="p2", name=create.name, slug="new-abc")

    world.projects.create_project_fn = create
    world.projects.delete_project_fn = deleted.append
    async with client_for(make_app(world, settings)) as c:
        created = await c.post("/projects", json={"name": "New"})
        gone = await c.delete("/projects/p2")
    assert (created.status_code, gone.status_code) == (201, 204)
    assert deleted == ["p2"]


async def test_services_are_staged_through_the_staging_service(world: World, settings: HTTPSettings) -> None:
    stages: list[ServiceStage] = []
    appended: list[PendingChangeCreate] = []

    def stage_service(stage: ServiceStage) -> StagedService:
        stages.append(stage)
        return StagedService(change=staged(ChangeKind.SERVICE_CREATE, target_temp_id="tmp_x"), node=None)

    def append(create: PendingChangeCreate) -> PendingChange:
        appended.append(create)
        return staged(create.kind, target_id=create.target_id, target_temp_id=create.target_temp_id)

    def target(project_id: str, service_id: str) -> ServiceTarget:
        if service_id.startswith("tmp_"):
            return ServiceTarget.staged(staged_create(service_id))
        return ServiceTarget(project_id, SERVICE.id, None, SERVICE.name, SERVICE.config)

    world.pending.stage_service_fn = stage_service
    world.pending.append_pending_change_fn = append
    world.pending.get_service_target_fn = target
    async with client_for(make_app(world, settings)) as c:
        created = await c.post(
            "/projects/p1/services",
            json={"name": "web", "source": {"type": "image", "image": "nginx:1.27"}, "position_x": 4},
        )
        updated = await c.patch("/projects/p1/services/tmp_x", json={"replicas": 2})
        removed = await c.delete("/projects/p1/services/s1")
    assert (created.status_code, updated.status_code, removed.status_code) == (200, 200, 200)
    [stage] = stages
    assert (stage.project_id, stage.name, stage.position, stage.created_by) == (
        PROJECT.id,
        "web",
        (4.0, 0.0),
        "u-admin",
    )
    assert [(a.kind, a.target_id, a.target_temp_id) for a in appended] == [
        (ChangeKind.SERVICE_UPDATE, None, "tmp_x"),
        (ChangeKind.SERVICE_DELETE, "s1", None),
    ]


async def test_the_diff_is_what_the_staging_service_computed_and_is_in_the_openapi_document(
    world: World, settings: HTTPSettings
) -> None:
    computed = ScopeDiff(
        scope=Scope.SERVICE,
        id="s1",
        name="web",
        status=DiffStatus.CHANGED,
        fields=(FieldDiff("replicas", 1, 2),),
        env=(EnvDiff("LOG", EnvOp.CHANGED, "info", "debug", ("c2",)),),
        change_ids=("c1", "c2"),
        after={"name": "web", "replicas": 2},
        running=(FieldDiff("source.image", "web:1", "web:2"),),
    )
    world.pending.diff_pending_changes_fn = lambda project_id: [computed] if project_id == PROJECT.id else []
    async with client_for(make_app(world, settings)) as c:
        r = await c.get("/projects/p1/pending-changes/diff")
        doc = (await c.get("/openapi.json")).json()
    assert r.status_code == 200, r.text
    assert r.json() == {
        "data": [
            {
                "scope": "service",
                "id": "s1",
                "name": "web",
                "status": "changed",
                "fields": [{"field": "replicas", "before": 1, "after": 2}],
                "env": [
                    {
                        "key": "LOG",
                        "op": "changed",
                        "before": "info",
                        "after": "debug",
                        "change_ids": ["c2"],
                        "resolved": None,
                        "problems": [],
                    }
                ],
                "change_ids": ["c1", "c2"],
                "after": {"name": "web", "replicas": 2},
                "running": [{"field": "source.image", "before": "web:1", "after": "web:2"}],
            }
        ]
    }
    operation = doc["paths"]["/api/projects/{project_id}/pending-changes/diff"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/PendingDiffOut"}
    assert set(doc["components"]["schemas"]["ScopeDiffOut"]["properties"]) == {
        "scope",
        "id",
        "name",
        "status",
        "fields",
        "env",
        "change_ids",
        "after",
        "running",
    }


async def test_a_dotenv_paste_is_parsed_and_staged_as_one_edit(world: World, settings: HTTPSettings) -> None:
    seen: list[tuple[EnvEdit, bool]] = []

    def edit(e: EnvEdit, *, dry_run: bool = False) -> EnvEditResult:
        seen.append((e, dry_run))
        return EnvEditResult([KeyEdit("A", EnvOp.ADDED, None, "x y")], [], [], None)

    world.pending.stage_env_edit_fn = edit
    text = "export A=\"x y\"\n# a comment\nB='2'  # trailing\nC=3\n"
    async with client_for(make_app(world, settings)) as c:
        r = await c.post(
            "/projects/p1/env-vars/edit",
            json={"dotenv": text, "values": {"C": "4"}, "replace": True, "dry_run": True},
        )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "edits": [{"key": "A", "op": "added", "before": None, "after": "x y"}],
        "staged": [],
        "discarded": [],
        "diff": None,
        "dry_run": True,
    }
    [(e, dry_run)] = seen
    assert (e.scope, e.scope_id, dict(e.values), e.replace, dry_run) == (
        Scope.PROJECT,
        "p1",
        {"A": "x y", "B": "2", "C": "4"},
        True,
        True,
    )


async def test_a_dotenv_line_that_is_not_key_value_is_a_422_naming_the_line(
    world: World, settings: HTTPSettings
) -> None:
    async with client_for(make_app(world, settings)) as c:
        r = await c.post("/projects/p1/env-vars/edit", json={"dotenv": "A=1\nthis is not a variable\n"})
    assert r.status_code == 422, r.text
    assert r.json()["fields"] == {"dotenv": ["line 2 is not KEY=value: this is not a variable"]}
