"""PendingChangeService on SQLite: stage, list, discard, and apply in one transaction."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

from deploykit.bus import Event, EventType
from deploykit.canvas import CanvasNode, NodeType
from deploykit.deployment import DeploymentCreate
from deploykit.envvar import EnvVarCreate, EnvVarUpdate, Scope, rename_references
from deploykit.errors import not_found
from deploykit.pending_change import ApplyResult, ChangeKind, PendingChange, PendingChangeCreate
from deploykit.project import Project, ProjectUpdate
from deploykit.runtime import network_name, volume_name
from deploykit.service import Unset
from deploykit_sqlite.canvas import check_group, find_node, rekey_node, remove_node, save_node, sync_env_edges
from deploykit_sqlite.db import DB, Tx, dumps, from_text, to_text
from deploykit_sqlite.deployment import insert_deployment
from deploykit_sqlite.domain import sync_generated_domain
from deploykit_sqlite.envvar import (
    addresses_of,
    delete_env_var,
    insert_env_var,
    load_env_var,
    resolve_for_service,
    update_env_var,
)
from deploykit_sqlite.plan import load_plan, parse_create, parse_update, updated_config
from deploykit_sqlite.project import load_project, rename_project
from deploykit_sqlite.service import insert_service, load_service, project_services, save_service


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


def target_key(change: PendingChange | PendingChangeCreate) -> str | None:
    return change.target_id if change.target_id is not None else change.target_temp_id


@dataclass
class Applier:
    """Runs a project's staged changes against the database inside one transaction."""

    tx: Tx
    project: Project
    user_id: str | None
    temp_ids: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)

    @property
    def project_id(self) -> str:
        return self.project.id

    def service_id(self, change: PendingChange) -> str:
        if change.target_id is not None:
            return change.target_id
        if change.target_temp_id is not None and change.target_temp_id in self.temp_ids:
            return self.temp_ids[change.target_temp_id]
        raise not_found("Service")

    async def snapshot(self) -> dict[str, tuple[str, dict[str, str]]]:
        """Each service's deploy-relevant state: its config and the env it would get now."""
        services = await project_services(self.tx, self.project_id)
        addresses = addresses_of(services)
        out: dict[str, tuple[str, dict[str, str]]] = {}
        for service in services:
            env = await resolve_for_service(self.tx, service, addresses)
            out[service.id] = (dumps(service.config.to_dict()), env.values)
        return out

    async def run(self, change: PendingChange) -> None:
        tx, kind, payload = self.tx, change.kind, change.payload
        if kind == ChangeKind.PROJECT_UPDATE:
            self.project = await rename_project(tx, self.project_id, ProjectUpdate(name=payload.get("name")))
        elif kind == ChangeKind.SERVICE_CREATE:
            await self.create_service(change)
        elif kind == ChangeKind.SERVICE_UPDATE:
            await self.update_service(change)
        elif kind == ChangeKind.SERVICE_DELETE:
            await self.delete_service(self.service_id(change))
        elif kind == ChangeKind.SERVICE_MOVE:
            service = await load_service(tx, self.service_id(change), self.project_id)
            service.group_id = payload.get("group_id")
            await check_group(tx, self.project_id, service.group_id, "group_id")
            await save_service(tx, service)
            await self.reparent_node(service.id, service.group_id)
        elif kind == ChangeKind.ENV_VAR_CREATE:
            scope = Scope(payload["scope"])
            scope_id = str(payload["scope_id"])
            if scope == Scope.SERVICE:
                scope_id = self.temp_ids.get(scope_id, scope_id)
                await load_service(tx, scope_id, self.project_id)
            elif scope == Scope.GROUP:
                await check_group(tx, self.project_id, scope_id, "scope_id")
            else:
                scope_id = self.project_id
            await insert_env_var(
                tx, EnvVarCreate(self.project_id, scope, scope_id, str(payload["key"]), str(payload["value"]))
            )
        elif kind == ChangeKind.ENV_VAR_UPDATE:
            await load_env_var(tx, change.target_id or "", self.project_id)
            await update_env_var(tx, change.target_id or "", EnvVarUpdate(value=str(payload.get("value"))))
        elif kind == ChangeKind.ENV_VAR_DELETE:
            await load_env_var(tx, change.target_id or "", self.project_id)
            await delete_env_var(tx, change.target_id or "")

    async def create_service(self, change: PendingChange) -> None:
        tx, payload, temp_id = self.tx, change.payload, change.target_temp_id
        name, config = parse_create(self.project_id, payload)
        staged_node = await find_node(tx, self.project_id, temp_id) if temp_id is not None else None
        # The staged node may have been dragged into or out of a group since: the canvas wins.
        group_id = staged_node.parent_id if staged_node is not None else payload.get("group_id")
        await check_group(tx, self.project_id, group_id, "group_id")
        service = await insert_service(tx, self.project_id, name, config, group_id)
        if temp_id is not None:
            self.temp_ids[temp_id] = service.id
        self.created.append(service.id)
        data = {"name": service.name, "service_id": service.id}
        if staged_node is not None and temp_id is not None:
            # The staged preview (source, port) is the service's own data now: keep only what users set.
            kept = {k: v for k, v in staged_node.data.items() if k not in STAGED_PREVIEW}
            await rekey_node(tx, self.project_id, temp_id, service.id, {**kept, **data, "staged": False})
        else:
            await save_node(
                tx,
                CanvasNode(
                    id=service.id,
                    project_id=self.project_id,
                    type=NodeType.SERVICE,
                    position_x=float(payload.get("x") or 0.0),
                    position_y=float(payload.get("y") or 0.0),
                    parent_id=group_id,
                    data=data,
                ),
            )
        await sync_generated_domain(tx, service, self.project.slug)
        for key, value in (payload.get("env_vars") or {}).items():
            await insert_env_var(tx, EnvVarCreate(self.project_id, Scope.SERVICE, service.id, key, value))

    async def update_service(self, change: PendingChange) -> None:
        tx = self.tx
        service = await load_service(tx, self.service_id(change), self.project_id)
        upd = parse_update(change.payload)
        old_name = service.name
        service.config = updated_config(upd, service.config)
        if upd.name is not None:
            service.name = upd.name
        if not isinstance(upd.group_id, Unset):
            await check_group(tx, self.project_id, upd.group_id, "group_id")
            service.group_id = upd.group_id
        if upd.drain_s is not None:
            service.drain_s = float(upd.drain_s)
        service = await save_service(tx, service)
        if service.name != old_name:
            await self.rename_references(old_name, service.name)
            node = await find_node(tx, self.project_id, service.id)
            if node is not None:
                node.data = {**node.data, "name": service.name}
                await save_node(tx, node)
        if not isinstance(upd.group_id, Unset):
            await self.reparent_node(service.id, service.group_id)
        await sync_generated_domain(tx, service, self.project.slug)

    async def rename_references(self, old: str, new: str) -> None:
        """``${{old.HOST}}`` becomes ``${{new.HOST}}`` in every env var of the project."""
        rows = await self.tx.fetchall("SELECT id, value FROM env_vars WHERE project_id = ?", (self.project_id,))
        for row in rows:
            value = self.tx.unseal(row["value"])
            rewritten = rename_references(value, old, new)
            if rewritten != value:
                await update_env_var(self.tx, row["id"], EnvVarUpdate(value=rewritten))

    async def reparent_node(self, node_id: str, group_id: str | None) -> None:
        node = await find_node(self.tx, self.project_id, node_id)
        if node is not None and node.parent_id != group_id:
            node.parent_id = group_id
            await save_node(self.tx, node)

    async def delete_service(self, service_id: str) -> None:
        tx = self.tx
        service = await load_service(tx, service_id, self.project_id)
        volumes = [volume_name(self.project.slug, service.slug, v.name) for v in service.config.volumes]
        await tx.execute(
            "DELETE FROM env_vars WHERE project_id = ? AND scope = ? AND scope_id = ?",
            (self.project_id, Scope.SERVICE.value, service.id),
        )
        await remove_node(tx, self.project_id, service.id)
        await tx.execute("DELETE FROM services WHERE id = ?", (service.id,))
        if service.id in self.created:
            self.created.remove(service.id)
        tx.publish(
            Event(
                EventType.SERVICE_DELETED,
                project_id=self.project_id,
                service_id=service.id,
                payload={
                    "name": service.name,
                    "project_slug": self.project.slug,
                    "service_slug": service.slug,
                    "network": network_name(self.project.slug),
                    "volumes": volumes,
                },
                at=tx.now(),
            )
        )

    async def deploy(self, before: dict[str, tuple[str, dict[str, str]]]) -> list[str]:
        """The first deployment of each new service, and a fresh one for every service whose
        config or resolved env differs from before the apply."""
        after = await self.snapshot()
        services = {s.id: s for s in await project_services(self.tx, self.project_id)}
        order = [sid for sid in self.created if sid in services]
        order += sorted(sid for sid in after if sid not in self.created and before.get(sid) != after[sid])
        created: list[str] = []
        for sid in order:
            service = services[sid]
            deployment = await insert_deployment(
                self.tx,
                DeploymentCreate(
                    service_id=sid, config=service.config, env_vars=after[sid][1], created_by=self.user_id
                ),
            )
            created.append(deployment.id)
        return created


STAGED_PREVIEW = frozenset({"source", "port"})
"""Node data a staged service carries so the canvas can show it before it exists."""


class PendingChangeStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def list_pending_changes(self, project_id: str) -> list[PendingChange]:
        async with self.db.read() as tx:
            await load_project(tx, project_id)
            return await staged_changes(tx, project_id)

    async def append_pending_change(self, create: PendingChangeCreate) -> PendingChange:
        async with self.db.tx() as tx:
            await load_project(tx, create.project_id)
            kind = ChangeKind(create.kind)
            existing = await staged_changes(tx, create.project_id)
            if kind == ChangeKind.SERVICE_MOVE:
                # Only the latest move of a service counts: drop the earlier ones first.
                key = target_key(create)
                earlier = [c.id for c in existing if c.kind == ChangeKind.SERVICE_MOVE and target_key(c) == key]
                for id in earlier:
                    await tx.execute("DELETE FROM pending_changes WHERE id = ?", (id,))
                existing = [c for c in existing if c.id not in earlier]
            plan = await load_plan(
                tx, create.project_id, [(c.kind, c.payload, c.target_id, c.target_temp_id) for c in existing]
            )
            staged = plan.stage(kind, dict(create.payload), create.target_id, create.target_temp_id)
            change = PendingChange(
                id=str(uuid.uuid4()),
                project_id=create.project_id,
                kind=kind,
                payload=staged.payload,
                target_id=staged.target_id,
                target_temp_id=staged.target_temp_id,
                before=staged.before,
                created_by=create.created_by,
                created_at=tx.now(),
            )
            if kind == ChangeKind.SERVICE_MOVE and (staged.before or {}).get("group_id") == staged.payload["group_id"]:
                change.id = ""  # a move back to where the service is: nothing to stage
                return change
            await tx.execute(
                "INSERT INTO pending_changes (id, project_id, kind, body, target_id, target_temp_id, created_by, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    change.id,
                    change.project_id,
                    kind.value,
                    tx.seal(dumps({"payload": change.payload, "before": change.before})),
                    change.target_id,
                    change.target_temp_id,
                    change.created_by,
                    to_text(change.created_at),
                ),
            )
            if kind == ChangeKind.SERVICE_CREATE and staged.target_temp_id is not None:
                await self._stage_node(tx, create.project_id, staged.target_temp_id, staged.payload)
            return change

    @staticmethod
    async def _stage_node(tx: Tx, project_id: str, temp_id: str, payload: dict[str, Any]) -> None:
        """A staged service shows on the canvas at once, under its temp id."""
        if await find_node(tx, project_id, temp_id) is not None:
            return
        await save_node(
            tx,
            CanvasNode(
                id=temp_id,
                project_id=project_id,
                type=NodeType.SERVICE,
                position_x=float(payload.get("x") or 0.0),
                position_y=float(payload.get("y") or 0.0),
                parent_id=payload.get("group_id"),
                data={
                    "name": payload["name"],
                    "staged": True,
                    "source": payload.get("source"),
                    "port": payload.get("port"),
                },
            ),
        )

    @staticmethod
    async def _unmove_node(tx: Tx, project_id: str, change: PendingChange) -> None:
        """A discarded move puts the service's node back into the group it really is in."""
        assert change.target_id is not None
        node = await find_node(tx, project_id, change.target_id)
        group_id = (change.before or {}).get("group_id")
        if node is not None and node.parent_id != group_id:
            node.parent_id = group_id
            await save_node(tx, node)

    async def discard_pending_changes(self, project_id: str, id: str | None = None) -> list[str]:
        async with self.db.tx() as tx:
            await load_project(tx, project_id)
            changes = await staged_changes(tx, project_id)
            if id is None:
                removed = changes
            else:
                chosen = next((c for c in changes if c.id == id), None)
                if chosen is None:
                    raise not_found("Pending change")
                removed = [chosen]
                if chosen.kind == ChangeKind.SERVICE_CREATE and chosen.target_temp_id is not None:
                    removed += [c for c in changes if c.id != id and c.target_temp_id == chosen.target_temp_id]
            for change in removed:
                await tx.execute("DELETE FROM pending_changes WHERE id = ?", (change.id,))
                if change.kind == ChangeKind.SERVICE_CREATE and change.target_temp_id is not None:
                    await remove_node(tx, project_id, change.target_temp_id)
                elif change.kind == ChangeKind.SERVICE_MOVE and change.target_id is not None:
                    await self._unmove_node(tx, project_id, change)
            ids = {c.id for c in removed}
            return [c.id for c in changes if c.id in ids]

    async def apply_pending_changes(self, project_id: str, user_id: str | None) -> ApplyResult:
        async with self.db.tx() as tx:
            project = await load_project(tx, project_id)
            changes = await staged_changes(tx, project_id)
            applier = Applier(tx, project, user_id)
            before = await applier.snapshot()
            for change in changes:
                await applier.run(change)
            deployments = await applier.deploy(before)
            await sync_env_edges(tx, project_id)
            await tx.execute("DELETE FROM pending_changes WHERE project_id = ?", (project_id,))
            result = ApplyResult(
                applied_count=len(changes),
                temp_id_to_service_id=dict(applier.temp_ids),
                created_deployments=deployments,
            )
            tx.publish(
                Event(
                    EventType.PENDING_CHANGES_APPLIED,
                    project_id=project_id,
                    payload={
                        "applied_count": result.applied_count,
                        "temp_id_to_service_id": result.temp_id_to_service_id,
                        "created_deployments": result.created_deployments,
                    },
                    at=tx.now(),
                )
            )
            return result
