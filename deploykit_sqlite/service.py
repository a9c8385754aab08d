"""ServiceService on SQLite, plus the row helpers that apply and deployments share."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import TYPE_CHECKING

from deploykit.bus import Event, EventType
from deploykit.env_reference import find_references, overlay, resolve_env
from deploykit.envvar import Scope
from deploykit.errors import not_found
from deploykit.service import Service, ServiceConfig, ServiceFilter, ServiceStatus, conflict_message, name_key
from deploykit.slug import MAX_SLUG_LENGTH, service_slug
from deploykit_sqlite.db import DB, Tx, from_text, to_text
from deploykit_sqlite.sealed_config import decode_config, encode_config

if TYPE_CHECKING:
    from deploykit_sqlite.envvar import ProjectEnv


def row_to_service(tx: Tx, row: sqlite3.Row) -> Service:
    return Service(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        slug=row["slug"],
        config=decode_config(tx, row["config"]),
        status=ServiceStatus(row["status"]),
        active_deployment_id=row["active_deployment_id"],
        group_id=row["group_id"],
        stopped=bool(row["stopped"]),
        drain_s=float(row["drain_s"]),
        public=bool(row["public"]),
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
        volume_names=json.loads(row["volume_names"]),
        preview_of=row["preview_of"],
    )


async def load_service(tx: Tx, id: str, project_id: str | None = None) -> Service:
    row = await tx.fetchone("SELECT * FROM services WHERE id = ?", (id,))
    if row is None or (project_id is not None and row["project_id"] != project_id):
        raise not_found("Service")
    return row_to_service(tx, row)


IN_FLIGHT_STATUSES = ("pending", "building", "starting")


async def deployed_row(tx: Tx, service: Service) -> sqlite3.Row | None:
    """The service's newest in-flight deployment, else its active one (config, env_vars, service_env)."""
    columns = "config, env_vars, service_env"
    row = await tx.fetchone(
        f"SELECT {columns} FROM deployments WHERE service_id = ? AND status IN (?, ?, ?) ORDER BY seq DESC LIMIT 1",
        (service.id, *IN_FLIGHT_STATUSES),
    )
    if row is None and service.active_deployment_id is not None:
        row = await tx.fetchone(f"SELECT {columns} FROM deployments WHERE id = ?", (service.active_deployment_id,))
    return row


async def deployed_config(tx: Tx, service: Service) -> ServiceConfig | None:
    """The config of the service's newest in-flight deployment, else of its active one."""
    row = await deployed_row(tx, service)
    return None if row is None else decode_config(tx, row["config"])


async def deployed_env(tx: Tx, service: Service) -> dict[str, str] | None:
    """The resolved variables of the deployment ``deployed_config`` reads."""
    row = await deployed_row(tx, service)
    return None if row is None else dict(json.loads(tx.unseal(row["env_vars"])))


async def with_deploy_state(
    tx: Tx, service: Service, env: ProjectEnv | None = None, *, resolve: bool = True
) -> Service:
    """``service`` with what it deploys: ``deployed_config``, ``deployed_env``, ``env`` (resolved
    now, unless not ``resolve``; ``env`` is the project's ``envvar.ProjectEnv`` when the caller has
    it, which holds no previews) and ``last_deployment_status``."""
    row = await deployed_row(tx, service)
    if row is not None:
        service.deployed_config = decode_config(tx, row["config"])
        service.deployed_env = dict(json.loads(tx.unseal(row["env_vars"])))
        if resolve:
            service.env = await resolved_env(tx, service, env)
    service.last_deployment_status = await tx.scalar(
        "SELECT status FROM deployments WHERE service_id = ? ORDER BY seq DESC LIMIT 1", (service.id,)
    )
    return service


async def resolved_env(tx: Tx, service: Service, env: ProjectEnv | None) -> dict[str, str]:
    """The variables a deployment of ``service`` would get now. The project's other services are
    read only when a value refers to one (one service's read stays a few small queries)."""
    from deploykit_sqlite.envvar import project_env, scope_vars  # envvar reads services through this module

    own = env.addresses.get(service.name) if env is not None else None
    if env is not None and own is not None and own.host == service.slug:  # a listing: no query per service
        return resolve_env({}, {}, env.envs[service.name], env.addresses, env.envs).values
    layers = (
        await scope_vars(tx, service.project_id, Scope.PROJECT, service.project_id),
        await scope_vars(tx, service.project_id, Scope.GROUP, service.group_id),
        await scope_vars(tx, service.project_id, Scope.SERVICE, service.id),
    )
    if env is None and any(find_references(v) for v in overlay(*layers).values()):
        env = await project_env(tx, service.project_id)
    return resolve_env(*layers, env.addresses if env else {}, env.envs if env else {}).values


async def project_services(tx: Tx, project_id: str) -> list[Service]:
    """The project's services, without the hidden ones that run pull-request previews."""
    rows = await tx.fetchall(
        "SELECT * FROM services WHERE project_id = ? AND preview_of IS NULL ORDER BY name_key", (project_id,)
    )
    return [row_to_service(tx, r) for r in rows]


async def unique_slug(tx: Tx, project_id: str, name: str) -> str:
    """The name's slug, suffixed when a renamed service still holds it (slugs never change:
    containers, volumes and the network alias are named after them)."""
    base = service_slug(name)
    rows = await tx.fetchall("SELECT slug FROM services WHERE project_id = ?", (project_id,))
    taken = {r["slug"] for r in rows}
    slug, n = base, 2
    while slug in taken:
        tail = f"-{n}"
        slug = base[: MAX_SLUG_LENGTH - len(tail)].rstrip("-") + tail
        n += 1
    return slug


async def insert_service(
    tx: Tx,
    project_id: str,
    name: str,
    config: ServiceConfig,
    group_id: str | None = None,
    public: bool = True,
) -> Service:
    """Insert an applied service and queue ``service.created``. Raises ``conflict``."""
    id = str(uuid.uuid4())
    now = to_text(tx.now())
    slug = await unique_slug(tx, project_id, name)
    await tx.execute(
        "INSERT INTO services (id, project_id, name, name_key, slug, config, status, group_id, "
        "created_at, updated_at, public) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            id,
            project_id,
            name,
            name_key(name),
            slug,
            encode_config(tx, config),
            ServiceStatus.CREATED.value,
            group_id,
            now,
            now,
            int(public),
        ),
        conflict=conflict_message(name),
    )
    service = await load_service(tx, id)
    tx.publish(
        Event(
            EventType.SERVICE_CREATED,
            project_id=project_id,
            service_id=id,
            payload={"name": name, "slug": slug},
            at=tx.now(),
        )
    )
    return service


async def save_service(tx: Tx, service: Service) -> Service:
    """Write name, config, group and drain of ``service``; queue ``service.updated``."""
    await tx.execute(
        "UPDATE services SET name = ?, name_key = ?, config = ?, group_id = ?, drain_s = ?, updated_at = ? "
        "WHERE id = ?",
        (
            service.name,
            name_key(service.name),
            encode_config(tx, service.config),
            service.group_id,
            service.drain_s,
            to_text(tx.now()),
            service.id,
        ),
        conflict=conflict_message(service.name),
    )
    saved = await load_service(tx, service.id)
    tx.publish(
        Event(
            EventType.SERVICE_UPDATED,
            project_id=saved.project_id,
            service_id=saved.id,
            payload={"name": saved.name, "slug": saved.slug},
            at=tx.now(),
        )
    )
    return saved


class ServiceStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def get_service(self, id: str) -> Service:
        async with self.db.read() as tx:
            return await with_deploy_state(tx, await load_service(tx, id))

    async def list_services(self, filt: ServiceFilter) -> tuple[list[Service], int]:
        where, params = ["1 = 1"], []
        if filt.project_id is not None:
            where.append("project_id = ?")
            params.append(filt.project_id)
        if filt.id is not None:
            where.append("id = ?")
            params.append(filt.id)
        if filt.name is not None:
            where.append("name_key = ?")
            params.append(name_key(filt.name))
        if not filt.include_previews:
            where.append("preview_of IS NULL")
        clause = " AND ".join(where)
        async with self.db.read() as tx:
            total = int(await tx.scalar(f"SELECT COUNT(*) FROM services WHERE {clause}", tuple(params)))
            rows = await tx.fetchall(
                f"SELECT * FROM services WHERE {clause} ORDER BY name_key, id LIMIT ? OFFSET ?",
                (*params, max(filt.limit, 0), max(filt.offset, 0)),
            )
            from deploykit_sqlite.envvar import project_env  # envvar reads services through this module

            services = [row_to_service(tx, r) for r in rows]
            if not filt.with_env:
                return [await with_deploy_state(tx, s, resolve=False) for s in services], total
            envs = {pid: await project_env(tx, pid) for pid in {s.project_id for s in services}}
            return [await with_deploy_state(tx, s, envs[s.project_id]) for s in services], total

    async def set_service_status(self, id: str, status: ServiceStatus) -> Service:
        async with self.db.tx() as tx:
            service = await load_service(tx, id)
            if service.status == status:
                return service
            await tx.execute(
                "UPDATE services SET status = ?, updated_at = ? WHERE id = ?",
                (ServiceStatus(status).value, to_text(tx.now()), id),
            )
            tx.publish(
                Event(
                    EventType.SERVICE_STATUS_CHANGED,
                    project_id=service.project_id,
                    service_id=id,
                    payload={"status": status.value, "previous": service.status.value},
                    at=tx.now(),
                )
            )
            return await load_service(tx, id)

    async def set_service_stopped(self, id: str, stopped: bool) -> Service:
        async with self.db.tx() as tx:
            await load_service(tx, id)
            await tx.execute(
                "UPDATE services SET stopped = ?, updated_at = ? WHERE id = ?", (int(stopped), to_text(tx.now()), id)
            )
            service = await load_service(tx, id)
            kind = EventType.SERVICE_STOPPED if stopped else EventType.SERVICE_STARTED
            tx.publish(Event(kind, project_id=service.project_id, service_id=id, at=tx.now()))
            return service
