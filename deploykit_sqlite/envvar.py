"""EnvVarService on SQLite: values sealed with AES-256-GCM, resolution project < group < service."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass

from deploykit.envvar import (
    EnvVar,
    EnvVarCreate,
    EnvVarFilter,
    EnvVarUpdate,
    ResolvedEnv,
    Scope,
    ServiceAddress,
    overlay,
    resolve_env,
)
from deploykit.errors import not_found
from deploykit.service import Service
from deploykit_sqlite.db import DB, Tx, from_text, to_text
from deploykit_sqlite.service import load_service, project_services

SCOPE_ORDER = "CASE scope WHEN 'project' THEN 0 WHEN 'group' THEN 1 ELSE 2 END"


def env_conflict(key: str) -> str:
    return f"An env var named '{key}' already exists in this scope."


def row_to_env_var(tx: Tx, row: sqlite3.Row) -> EnvVar:
    return EnvVar(
        id=row["id"],
        project_id=row["project_id"],
        scope=Scope(row["scope"]),
        scope_id=row["scope_id"],
        key=row["key"],
        value=tx.unseal(row["value"]),
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
    )


async def load_env_var(tx: Tx, id: str, project_id: str | None = None) -> EnvVar:
    row = await tx.fetchone("SELECT * FROM env_vars WHERE id = ?", (id,))
    if row is None or (project_id is not None and row["project_id"] != project_id):
        raise not_found("Env var")
    return row_to_env_var(tx, row)


async def scope_vars(tx: Tx, project_id: str, scope: Scope, scope_id: str | None) -> dict[str, str]:
    if scope_id is None:
        return {}
    rows = await tx.fetchall(
        "SELECT * FROM env_vars WHERE project_id = ? AND scope = ? AND scope_id = ?",
        (project_id, scope.value, scope_id),
    )
    return {r["key"]: tx.unseal(r["value"]) for r in rows}


def addresses_of(services: list[Service]) -> dict[str, ServiceAddress]:
    """How each service is reached on the project network: its slug (the alias) and port."""
    return {s.name: ServiceAddress(host=s.slug, port=s.config.port) for s in services}


@dataclass(frozen=True)
class ProjectEnv:
    """What resolving any service's env of a project needs: addresses, and each service's
    unresolved variables (scopes overlaid) by name, for ``${{name.VAR}}`` references."""

    addresses: dict[str, ServiceAddress]
    envs: dict[str, dict[str, str]]


async def project_env(tx: Tx, project_id: str, services: list[Service] | None = None) -> ProjectEnv:
    if services is None:
        services = await project_services(tx, project_id)
    rows = await tx.fetchall("SELECT scope, scope_id, key, value FROM env_vars WHERE project_id = ?", (project_id,))
    scopes: dict[tuple[str, str], dict[str, str]] = {}
    for r in rows:
        scopes.setdefault((r["scope"], r["scope_id"]), {})[r["key"]] = tx.unseal(r["value"])
    envs = {
        s.name: overlay(
            scopes.get((Scope.PROJECT.value, project_id), {}),
            scopes.get((Scope.GROUP.value, s.group_id or ""), {}),
            scopes.get((Scope.SERVICE.value, s.id), {}),
        )
        for s in services
    }
    return ProjectEnv(addresses_of(services), envs)


async def resolve_for_service(tx: Tx, service: Service, env: ProjectEnv | None = None) -> ResolvedEnv:
    if env is None:
        env = await project_env(tx, service.project_id)
    return resolve_env(
        await scope_vars(tx, service.project_id, Scope.PROJECT, service.project_id),
        await scope_vars(tx, service.project_id, Scope.GROUP, service.group_id),
        await scope_vars(tx, service.project_id, Scope.SERVICE, service.id),
        env.addresses,
        env.envs,
    )


async def insert_env_var(tx: Tx, create: EnvVarCreate) -> EnvVar:
    create.validate()
    id = str(uuid.uuid4())
    now = to_text(tx.now())
    await tx.execute(
        "INSERT INTO env_vars (id, project_id, scope, scope_id, key, value, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            id,
            create.project_id,
            Scope(create.scope).value,
            create.scope_id,
            create.key,
            tx.seal(create.value),
            now,
            now,
        ),
        conflict=env_conflict(create.key),
        missing=not_found("Project"),
    )
    return await load_env_var(tx, id)


async def update_env_var(tx: Tx, id: str, upd: EnvVarUpdate) -> EnvVar:
    upd.validate()
    await load_env_var(tx, id)
    await tx.execute(
        "UPDATE env_vars SET value = ?, updated_at = ? WHERE id = ?", (tx.seal(upd.value), to_text(tx.now()), id)
    )
    return await load_env_var(tx, id)


async def delete_env_var(tx: Tx, id: str) -> None:
    if await tx.execute("DELETE FROM env_vars WHERE id = ?", (id,)) == 0:
        raise not_found("Env var")


class EnvVarStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def get_env_var(self, id: str) -> EnvVar:
        async with self.db.read() as tx:
            return await load_env_var(tx, id)

    async def list_env_vars(self, filt: EnvVarFilter) -> list[EnvVar]:
        where, params = ["1 = 1"], []
        if filt.project_id is not None:
            where.append("project_id = ?")
            params.append(filt.project_id)
        if filt.scope is not None:
            where.append("scope = ?")
            params.append(Scope(filt.scope).value)
        if filt.scope_id is not None:
            where.append("scope_id = ?")
            params.append(filt.scope_id)
        async with self.db.read() as tx:
            rows = await tx.fetchall(
                f"SELECT * FROM env_vars WHERE {' AND '.join(where)} ORDER BY {SCOPE_ORDER}, scope_id, key",
                tuple(params),
            )
            return [row_to_env_var(tx, r) for r in rows]

    async def resolve_service_env(self, service_id: str) -> ResolvedEnv:
        async with self.db.read() as tx:
            return await resolve_for_service(tx, await load_service(tx, service_id))
