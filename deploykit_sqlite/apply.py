"""Apply on SQLite: load the project, replay its staged log strictly through the domain's
``Plan``, and write the steps it yields, in order, in the caller's transaction.

The rules (what is valid, which group a staged service lands in, what its node keeps, which
services get a deployment) are the domain's (``deploykit.plan``, ``deploykit.staging``); this
module only reads the state they need and persists what they decided.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from deploykit.bus import Event, EventType
from deploykit.canvas import CanvasNode, NodeType
from deploykit.deployment import DeploymentCreate, reusable_build
from deploykit.envvar import EnvVarCreate, EnvVarUpdate, Scope, rename_references
from deploykit.errors import not_found
from deploykit.pending_change import ApplyResult, ChangeKind, PendingChange
from deploykit.plan import EnvSlot, Plan, Step, deploy_order
from deploykit.project import Project, ProjectUpdate
from deploykit.runtime import network_name, volume_name
from deploykit.service import Unset
from deploykit.staging import applied_node_data
from deploykit_sqlite.canvas import find_node, rekey_node, remove_node, save_node, sync_env_edges
from deploykit_sqlite.db import Tx, dumps
from deploykit_sqlite.deployment import insert_deployment, load_deployment
from deploykit_sqlite.domain import sync_generated_domain
from deploykit_sqlite.envvar import delete_env_var, insert_env_var, project_env, resolve_for_service, update_env_var
from deploykit_sqlite.project import rename_project
from deploykit_sqlite.sealed_config import decode_config
from deploykit_sqlite.service import deployed_row, insert_service, load_service, project_services, save_service


async def load_plan(tx: Tx, project_id: str, node_groups: dict[str, str | None] | None = None) -> Plan:
    """The applied state of the project as a ``Plan`` with nothing staged yet."""
    rows = await tx.fetchall("SELECT id, scope, scope_id, key FROM env_vars WHERE project_id = ?", (project_id,))
    groups = await tx.fetchall("SELECT id FROM canvas_nodes WHERE project_id = ? AND type = 'group'", (project_id,))
    return Plan.of(
        project_id,
        services=await project_services(tx, project_id),
        env_vars=[EnvSlot(r["id"], r["scope"], r["scope_id"], r["key"]) for r in rows],
        groups=[r["id"] for r in groups],
        node_groups=node_groups,
    )


async def staged_node_groups(tx: Tx, project_id: str, changes: list[PendingChange]) -> dict[str, str | None]:
    """Where the canvas holds each staged service's node now."""
    temp_ids = {c.target_temp_id for c in changes if c.kind == ChangeKind.SERVICE_CREATE and c.target_temp_id}
    rows = await tx.fetchall("SELECT id, parent_id FROM canvas_nodes WHERE project_id = ?", (project_id,))
    return {r["id"]: r["parent_id"] for r in rows if r["id"] in temp_ids}


async def apply_changes(
    tx: Tx, project: Project, changes: list[PendingChange], user_id: str | None, actor: str | None = None
) -> ApplyResult:
    """Apply ``changes`` (the whole staged log) and create the deployments they imply. Raises the
    domain error of the first change that no longer fits; the caller's transaction rolls back."""
    plan = await load_plan(tx, project.id, await staged_node_groups(tx, project.id, changes))
    steps = plan.replay(changes, strict=True)
    writer = StepWriter(tx, project, user_id, actor)
    before = await writer.snapshot()
    for step in steps:
        await writer.write(step)
    deployments = await writer.deploy(before)
    await sync_env_edges(tx, project.id)
    return ApplyResult(
        applied_count=len(changes),
        temp_id_to_service_id=dict(writer.temp_ids),
        created_deployments=deployments,
    )


@dataclass
class StepWriter:
    """Persists validated steps; a staged service's temp id maps to its real id once created."""

    tx: Tx
    project: Project
    user_id: str | None
    actor: str | None
    temp_ids: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)

    @property
    def project_id(self) -> str:
        return self.project.id

    def service_id(self, step: Step) -> str:
        if step.target_id is not None:
            return step.target_id
        assert step.target_temp_id is not None
        return self.temp_ids[step.target_temp_id]

    async def snapshot(self) -> dict[str, tuple[str, dict[str, str]]]:
        """Each service's deploy-relevant state: its config and the env it would get now."""
        services = await project_services(self.tx, self.project_id)
        env_of = await project_env(self.tx, self.project_id, services)
        out: dict[str, tuple[str, dict[str, str]]] = {}
        for service in services:
            env = await resolve_for_service(self.tx, service, env_of)
            out[service.id] = (dumps(service.config.to_dict()), env.values)
        return out

    async def write(self, step: Step) -> None:
        tx, kind, payload = self.tx, step.kind, step.payload
        if kind == ChangeKind.PROJECT_UPDATE:
            self.project = await rename_project(tx, self.project_id, ProjectUpdate(name=payload["name"]))
        elif kind == ChangeKind.SERVICE_CREATE:
            await self.create_service(step)
        elif kind == ChangeKind.SERVICE_UPDATE:
            await self.update_service(step)
        elif kind == ChangeKind.SERVICE_DELETE:
            await self.delete_service(self.service_id(step))
        elif kind == ChangeKind.SERVICE_MOVE:
            service = await load_service(tx, self.service_id(step), self.project_id)
            service.group_id = payload["group_id"]
            await save_service(tx, service)
            await self.reparent_node(service.id, service.group_id)
        elif kind == ChangeKind.ENV_VAR_CREATE:
            scope = Scope(payload["scope"])
            scope_id = str(payload["scope_id"])
            if scope == Scope.SERVICE:
                scope_id = self.temp_ids.get(scope_id, scope_id)
            create = EnvVarCreate(self.project_id, scope, scope_id, str(payload["key"]), str(payload["value"]))
            await insert_env_var(tx, create)
        elif kind == ChangeKind.ENV_VAR_UPDATE:
            await update_env_var(tx, await self.env_var_id(step), EnvVarUpdate(value=str(payload["value"])))
        elif kind == ChangeKind.ENV_VAR_DELETE:
            await delete_env_var(tx, await self.env_var_id(step))

    async def env_var_id(self, step: Step) -> str:
        """The variable an update or delete is about: by id, or, for a service created in this
        apply, by its key (``Plan._staged_env_change``)."""
        if step.target_id is not None:
            return step.target_id
        row = await self.tx.fetchone(
            "SELECT id FROM env_vars WHERE project_id = ? AND scope = ? AND scope_id = ? AND key = ?",
            (self.project_id, Scope.SERVICE.value, self.service_id(step), str(step.payload["key"])),
        )
        if row is None:
            raise not_found("Env var")
        return str(row["id"])

    async def create_service(self, step: Step) -> None:
        tx, payload, temp_id, draft = self.tx, step.payload, step.target_temp_id, step.service
        assert temp_id is not None
        assert draft is not None
        service = await insert_service(
            tx, self.project_id, draft.name, draft.config, draft.group_id, public=draft.public
        )
        self.temp_ids[temp_id] = service.id
        self.created.append(service.id)
        staged_node = await find_node(tx, self.project_id, temp_id)
        if staged_node is not None:
            await rekey_node(
                tx, self.project_id, temp_id, service.id, applied_node_data(staged_node.data, service.name, service.id)
            )
        else:
            node = CanvasNode(
                id=service.id,
                project_id=self.project_id,
                type=NodeType.SERVICE,
                position_x=float(payload["x"]),
                position_y=float(payload["y"]),
                parent_id=draft.group_id,
                data={"name": service.name, "service_id": service.id},
            )
            await save_node(tx, node)
        await sync_generated_domain(tx, service, self.project.slug)
        for key, value in payload["env_vars"].items():
            await insert_env_var(tx, EnvVarCreate(self.project_id, Scope.SERVICE, service.id, key, value))

    async def update_service(self, step: Step) -> None:
        tx, upd, draft = self.tx, step.update, step.service
        assert upd is not None
        assert draft is not None
        service = await load_service(tx, self.service_id(step), self.project_id)
        old_name = service.name
        service.name, service.config = draft.name, draft.config
        if not isinstance(upd.group_id, Unset):
            service.group_id = draft.group_id
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
        volumes = [
            volume_name(self.project.slug, service.slug, v.name, service.volume_names) for v in service.config.volumes
        ]
        await tx.execute(
            "DELETE FROM env_vars WHERE project_id = ? AND scope = ? AND scope_id = ?",
            (self.project_id, Scope.SERVICE.value, service.id),
        )
        await remove_node(tx, self.project_id, service.id)
        # Its previews' hidden services go with it (ON DELETE CASCADE); the reconciler must hear.
        for row in await tx.fetchall("SELECT id FROM services WHERE preview_of = ?", (service.id,)):
            tx.publish(Event(EventType.SERVICE_DELETED, project_id=self.project_id, service_id=row["id"], at=tx.now()))
        await tx.execute("DELETE FROM services WHERE id = ?", (service.id,))
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
        """A deployment for each service ``deploy_order`` names, with its env resolved now."""
        after = await self.snapshot()
        services = {s.id: s for s in await project_services(self.tx, self.project_id)}
        created: list[str] = []
        drifted = []
        for service in services.values():
            row = await deployed_row(self.tx, service)
            if row is None:
                continue
            if decode_config(self.tx, row["config"]) != service.config or (
                json.loads(self.tx.unseal(row["env_vars"])) != after[service.id][1]
            ):
                drifted.append(service.id)
        for sid in deploy_order(self.created, before, after, drifted):
            service = services[sid]
            running = None
            if service.active_deployment_id is not None:
                running = await load_deployment(self.tx, service.active_deployment_id)
            built = reusable_build(running, service.config)
            deployment = await insert_deployment(
                self.tx,
                DeploymentCreate(
                    service_id=sid,
                    config=service.config,
                    env_vars=after[sid][1],
                    created_by=self.user_id,
                    actor=self.actor,
                    image=built.image if built else None,
                    commit_sha=built.commit_sha if built else None,
                    commit_message=built.commit_message if built else None,
                ),
            )
            created.append(deployment.id)
        return created
