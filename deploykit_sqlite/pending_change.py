"""StagingService on SQLite: stage, list, discard, and apply in one transaction.

Each method is a unit of work: it loads the project's state, lets the domain's ``Plan`` decide
(``deploykit.plan``, ``deploykit.staging``), persists the result and queues the events the canvas
and the reconciler follow, published after commit: ``pending_change.added|removed|cleared``,
``node.upserted|deleted`` for the staged nodes it touches, and ``changes.applied``.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any

from deploykit.bus import Event, EventType
from deploykit.canvas import CanvasEdge, CanvasNode, EdgeType, NodeType
from deploykit.drift import env_drift
from deploykit.env_edit import AppliedVar, EnvEdit, EnvEditResult, plan_env_edit
from deploykit.envvar import Scope
from deploykit.errors import NOT_FOUND, Error, not_found
from deploykit.pending_change import ApplyResult, ChangeKind, PendingChange, PendingChangeCreate
from deploykit.project import Project
from deploykit.staged_diff import FieldDiff, ScopeDiff, staged_diff
from deploykit.staging import (
    ServiceStage,
    ServiceTarget,
    StagedService,
    staged_creation,
    staged_node_data,
    superseded_moves,
    superseding_payload,
    with_dependents,
)
from deploykit_sqlite.apply import apply_changes, load_plan, staged_node_groups
from deploykit_sqlite.canvas import absolute_position, find_node, remove_node, row_to_edge, save_node
from deploykit_sqlite.db import DB, Tx, dumps, from_text, to_text
from deploykit_sqlite.envvar import project_env
from deploykit_sqlite.project import load_project
from deploykit_sqlite.service import load_service, project_services, with_deploy_state


def row_to_change(tx: Tx, row: sqlite3.Row) -> PendingChange:
    body = json.loads(tx.unseal(row["body"]))
    return PendingChange(
        id=row["id"],
        project_id=row["project_id"],
        kind=ChangeKind(row["kind"]),
        payload=body["payload"],
        target_id=row["target_id"],
        target_temp_id=row["target_temp_id"],
        before=body.get("before"),
        created_by=row["created_by"],
        created_at=from_text(row["created_at"]),
    )


async def staged_changes(tx: Tx, project_id: str) -> list[PendingChange]:
    rows = await tx.fetchall("SELECT * FROM pending_changes WHERE project_id = ? ORDER BY seq", (project_id,))
    return [row_to_change(tx, r) for r in rows]


class _RollBack(Exception):
    """Ends a dry run's transaction without committing, carrying what it would have done."""

    def __init__(self, result: EnvEditResult) -> None:
        super().__init__("dry run")
        self.result = result


def event(tx: Tx, type: EventType, project_id: str, **payload: Any) -> None:
    tx.publish(Event(type, project_id=project_id, payload=payload, at=tx.now()))


class PendingChangeStore:
    """Implements the domain ``StagingService``."""

    def __init__(self, db: DB) -> None:
        self.db = db

    async def list_pending_changes(self, project_id: str) -> list[PendingChange]:
        async with self.db.read() as tx:
            await load_project(tx, project_id)
            return await staged_changes(tx, project_id)

    async def diff_pending_changes(self, project_id: str) -> list[ScopeDiff]:
        async with self.db.read() as tx:
            return await self._diff(tx, await load_project(tx, project_id))

    @staticmethod
    async def _diff(tx: Tx, project: Project) -> list[ScopeDiff]:
        changes = await staged_changes(tx, project.id)
        plan = await load_plan(tx, project.id, await staged_node_groups(tx, project.id, changes))
        rows = await tx.fetchall("SELECT id, value FROM env_vars WHERE project_id = ?", (project.id,))
        values = {r["id"]: tx.unseal(r["value"]) for r in rows}
        hosts: dict[str, str] = {}
        deployed = {}
        running_env: dict[str, list[FieldDiff]] = {}
        services = await project_services(tx, project.id)
        env_of = await project_env(tx, project.id, services)
        for service in services:
            hosts[service.id] = service.slug
            await with_deploy_state(tx, service, env_of)
            if service.deployed_config is not None:
                deployed[service.id] = service.deployed_config
                running_env[service.id] = env_drift(service.env, service.deployed_env)
        return staged_diff(
            plan,
            changes,
            project_name=project.name,
            env_values=values,
            deployed=deployed,
            hosts=hosts,
            running_env=running_env,
        )

    async def stage_env_edit(self, edit: EnvEdit, *, dry_run: bool = False) -> EnvEditResult:
        edit.validate()
        try:
            async with self.db.tx() as tx:
                result = await self._stage_env_edit(tx, edit)
                if dry_run:
                    raise _RollBack(result)  # the transaction rolls back; no event is published
                return result
        except _RollBack as done:
            return done.result

    async def _stage_env_edit(self, tx: Tx, edit: EnvEdit) -> EnvEditResult:
        project = await load_project(tx, edit.project_id)
        changes = await staged_changes(tx, project.id)
        applied, temp_id = await self._scope_vars(tx, edit, changes)
        planned = plan_env_edit(edit, applied, changes, temp_id)
        for id in planned.discard:
            await tx.execute("DELETE FROM pending_changes WHERE id = ?", (id,))
        if planned.discard:
            event(tx, EventType.PENDING_CHANGES_REMOVED, project.id, ids=planned.discard)
        staged = [(await self._append(tx, create))[0] for create in planned.stage]
        entry = next((d for d in await self._diff(tx, project) if (d.scope, d.id) == (edit.scope, edit.scope_id)), None)
        return EnvEditResult(planned.edits, staged, planned.discard, entry)

    @staticmethod
    async def _scope_vars(
        tx: Tx, edit: EnvEdit, changes: list[PendingChange]
    ) -> tuple[dict[str, AppliedVar], str | None]:
        """The scope's applied variables, and the temp id when the scope is a staged service."""
        if edit.scope == Scope.SERVICE:
            row = await tx.fetchone(
                "SELECT id FROM services WHERE id = ? AND project_id = ?", (edit.scope_id, edit.project_id)
            )
            if row is None:
                create = staged_creation(changes, edit.scope_id)
                if create is None:
                    raise not_found("Service")
                env = create.payload.get("env_vars") or {}
                return {str(k): AppliedVar(str(v)) for k, v in env.items()}, edit.scope_id
        rows = await tx.fetchall(
            "SELECT id, key, value FROM env_vars WHERE project_id = ? AND scope = ? AND scope_id = ?",
            (edit.project_id, edit.scope.value, edit.scope_id),
        )
        return {r["key"]: AppliedVar(tx.unseal(r["value"]), r["id"]) for r in rows}, None

    async def get_service_target(self, project_id: str, service_id: str) -> ServiceTarget:
        async with self.db.read() as tx:
            await load_project(tx, project_id)
            try:
                svc = await load_service(tx, service_id, project_id)
            except Error as exc:
                if exc.code != NOT_FOUND:
                    raise
            else:
                return ServiceTarget(svc.project_id, svc.id, None, svc.name, svc.config)
            create = staged_creation(await staged_changes(tx, project_id), service_id)
            if create is None:
                raise not_found("Service")
            return ServiceTarget.staged(create)

    async def append_pending_change(self, create: PendingChangeCreate) -> PendingChange:
        async with self.db.tx() as tx:
            change, _ = await self._append(tx, create)
            return change

    async def stage_service(self, stage: ServiceStage) -> StagedService:
        stage.validate()
        async with self.db.tx() as tx:
            change, node = await self._append(tx, stage.change())
            return StagedService(change=change, node=node)

    async def stage_services(
        self, stages: Sequence[ServiceStage], edges: Sequence[tuple[int, int]] = ()
    ) -> list[StagedService]:
        for stage in stages:
            stage.validate()
        async with self.db.tx() as tx:
            staged = [StagedService(*await self._append(tx, stage.change())) for stage in stages]
            for source, target in edges:
                await self._stage_edge(tx, stages[0].project_id, staged[source].temp_id, staged[target].temp_id)
            return staged

    @staticmethod
    async def _stage_edge(tx: Tx, project_id: str, source: str, target: str) -> None:
        """A user edge between two staged nodes; applying keeps it, renamed to the services' ids."""
        edge = CanvasEdge(id=str(uuid.uuid4()), project_id=project_id, source=source, target=target)
        await tx.execute(
            "INSERT INTO canvas_edges (project_id, id, source, target, type, data, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (project_id, edge.id, source, target, EdgeType.USER.value, dumps({}), to_text(tx.now())),
        )
        row = await tx.fetchone("SELECT * FROM canvas_edges WHERE project_id = ? AND id = ?", (project_id, edge.id))
        assert row is not None
        event(tx, EventType.EDGE_UPSERTED, project_id, edge=row_to_edge(row))

    async def _append(self, tx: Tx, create: PendingChangeCreate) -> tuple[PendingChange, CanvasNode | None]:
        """Stage ``create`` over the log; a staged service's node comes back with it."""
        project_id = create.project_id
        await load_project(tx, project_id)
        kind = ChangeKind(create.kind)
        existing = await staged_changes(tx, project_id)
        payload = dict(create.payload)
        if kind == ChangeKind.SERVICE_MOVE:
            earlier = superseded_moves(existing, create)
            payload = superseding_payload(earlier, create)
            gone = [c.id for c in earlier]
            for id in gone:
                await tx.execute("DELETE FROM pending_changes WHERE id = ?", (id,))
            if gone:
                event(tx, EventType.PENDING_CHANGES_REMOVED, project_id, ids=gone)
            existing = [c for c in existing if c.id not in gone]
        plan = await load_plan(tx, project_id)
        plan.replay(existing, strict=False)
        step = plan.stage(kind, payload, create.target_id, create.target_temp_id)
        change = PendingChange(
            id=str(uuid.uuid4()),
            project_id=project_id,
            kind=kind,
            payload=step.payload,
            target_id=step.target_id,
            target_temp_id=step.target_temp_id,
            before=step.before,
            created_by=create.created_by,
            created_at=tx.now(),
        )
        if step.is_move_back:
            change.id = ""  # nothing to stage
            return change, None
        await tx.execute(
            "INSERT INTO pending_changes (id, project_id, kind, body, target_id, target_temp_id, created_by, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                change.id,
                project_id,
                kind.value,
                tx.seal(dumps({"payload": change.payload, "before": change.before})),
                change.target_id,
                change.target_temp_id,
                change.created_by,
                to_text(change.created_at),
            ),
        )
        node: CanvasNode | None = None
        if kind == ChangeKind.SERVICE_CREATE and step.target_temp_id is not None:
            node = await self._stage_node(tx, project_id, step.target_temp_id, step.payload)
            event(tx, EventType.NODE_UPSERTED, project_id, node=node)
        event(tx, EventType.PENDING_CHANGE_ADDED, project_id, change=change)
        return change, node

    @staticmethod
    async def _stage_node(tx: Tx, project_id: str, temp_id: str, payload: dict[str, Any]) -> CanvasNode:
        """A staged service shows on the canvas at once, under its temp id."""
        existing = await find_node(tx, project_id, temp_id)
        if existing is not None:
            return existing
        return await save_node(
            tx,
            CanvasNode(
                id=temp_id,
                project_id=project_id,
                type=NodeType.SERVICE,
                position_x=float(payload.get("x") or 0.0),
                position_y=float(payload.get("y") or 0.0),
                parent_id=payload.get("group_id"),
                data=staged_node_data(payload),
            ),
        )

    @staticmethod
    async def _unmove_node(tx: Tx, project_id: str, change: PendingChange) -> None:
        """A discarded move puts the service's node back into the group it really is in, where it
        was before it was dragged (the move's origin); without one, where it is on the canvas."""
        assert change.target_id is not None
        node = await find_node(tx, project_id, change.target_id)
        if node is None:
            return
        group_id = (change.before or {}).get("group_id")
        if group_id is not None and await find_node(tx, project_id, group_id) is None:
            group_id = None  # the group was deleted meanwhile
        origin = change.payload.get("origin") if isinstance(change.payload, dict) else None
        if isinstance(origin, dict) and origin.get("parent_id") == group_id:
            x, y = float(origin["x"]), float(origin["y"])
        elif node.parent_id != group_id:
            nx, ny = await absolute_position(tx, project_id, node.id)
            gx, gy = await absolute_position(tx, project_id, group_id)
            x, y = nx - gx, ny - gy
        else:
            return
        if (node.parent_id, node.position_x, node.position_y) == (group_id, x, y):
            return
        node.parent_id, node.position_x, node.position_y = group_id, x, y
        event(tx, EventType.NODE_UPSERTED, project_id, node=await save_node(tx, node))

    async def discard_pending_changes(self, project_id: str, id: str | None = None) -> list[str]:
        async with self.db.tx() as tx:
            await load_project(tx, project_id)
            changes = await staged_changes(tx, project_id)
            removed = changes if id is None else with_dependents(changes, id)
            for change in removed:
                await tx.execute("DELETE FROM pending_changes WHERE id = ?", (change.id,))
                if change.kind == ChangeKind.SERVICE_CREATE and change.target_temp_id is not None:
                    if await remove_node(tx, project_id, change.target_temp_id):
                        event(tx, EventType.NODE_DELETED, project_id, id=change.target_temp_id)
                elif change.kind == ChangeKind.SERVICE_MOVE and change.target_id is not None:
                    await self._unmove_node(tx, project_id, change)
            ids = {c.id for c in removed}
            gone = [c.id for c in changes if c.id in ids]
            if id is None:
                event(tx, EventType.PENDING_CHANGES_CLEARED, project_id, ids=gone)
            else:
                event(tx, EventType.PENDING_CHANGES_REMOVED, project_id, ids=gone)
            return gone

    async def apply_pending_changes(
        self, project_id: str, user_id: str | None, actor: str | None = None
    ) -> ApplyResult:
        async with self.db.tx() as tx:
            project = await load_project(tx, project_id)
            changes = await staged_changes(tx, project_id)
            result = await apply_changes(tx, project, changes, user_id, actor)
            await tx.execute("DELETE FROM pending_changes WHERE project_id = ?", (project_id,))
            event(
                tx,
                EventType.CHANGES_APPLIED,
                project_id,
                applied_count=result.applied_count,
                temp_id_to_service_id=result.temp_id_to_service_id,
                created_deployments=result.created_deployments,
                user_id=user_id,
                changes=[
                    {
                        "kind": c.kind.value,
                        "target_id": c.target_id,
                        "target_temp_id": c.target_temp_id,
                        "payload": c.payload,
                        "before": c.before,
                    }
                    for c in changes
                ],
            )
            return result
