"""ProjectService on SQLite."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime

from deploykit.bus import Event, EventType
from deploykit.errors import not_found
from deploykit.project import Project, ProjectCreate, ProjectFilter, ProjectUpdate
from deploykit.runtime import network_name, volume_name
from deploykit.slug import project_slug
from deploykit_sqlite.db import DB, Tx, from_text, to_text
from deploykit_sqlite.service import row_to_service


def row_to_project(row: sqlite3.Row) -> Project:
    return Project(
        id=row["id"],
        name=row["name"],
        slug=row["slug"],
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
    )


async def load_project(tx: Tx, id: str) -> Project:
    row = await tx.fetchone("SELECT * FROM projects WHERE id = ?", (id,))
    if row is None:
        raise not_found("Project")
    return row_to_project(row)


async def rename_project(tx: Tx, id: str, upd: ProjectUpdate) -> Project:
    upd.validate()
    project = await load_project(tx, id)
    if upd.name is not None and upd.name != project.name:
        await tx.execute("UPDATE projects SET name = ?, updated_at = ? WHERE id = ?", (upd.name, to_text(tx.now()), id))
    return await load_project(tx, id)


class ProjectStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def get_project(self, id: str) -> Project:
        async with self.db.read() as tx:
            return await load_project(tx, id)

    async def list_projects(self, filt: ProjectFilter) -> tuple[list[Project], int]:
        where, params = ["1 = 1"], []
        if filt.id is not None:
            where.append("id = ?")
            params.append(filt.id)
        if filt.search:
            where.append("name LIKE ? ESCAPE '\\'")
            escaped = filt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        clause = " AND ".join(where)
        async with self.db.read() as tx:
            # The page walks the name index and stops at the limit; the total is a scalar subquery
            # (a window ``COUNT(*) OVER ()`` would sort every row). A page past the end has no row
            # to carry the total, so only then is it asked for alone.
            # Named columns, read by position: the API's most frequent list reads a page per request.
            rows = await tx.fetchall(
                f"SELECT id, name, slug, created_at, updated_at, (SELECT COUNT(*) FROM projects WHERE {clause}) "
                f"FROM projects WHERE {clause} ORDER BY name COLLATE NOCASE, id LIMIT ? OFFSET ?",
                (*params, *params, max(filt.limit, 0), max(filt.offset, 0)),
            )
            if rows:
                total = int(rows[0][5])
            else:
                total = int(await tx.scalar(f"SELECT COUNT(*) FROM projects WHERE {clause}", tuple(params)))
        parse = datetime.fromisoformat
        return [
            Project(id=id, name=name, slug=slug, created_at=parse(created), updated_at=parse(updated))
            for id, name, slug, created, updated, _ in rows
        ], total

    async def create_project(self, create: ProjectCreate) -> Project:
        create.validate()
        now = to_text(self.db.clock.now())
        id = str(uuid.uuid4())
        async with self.db.tx() as tx:
            await tx.execute(
                "INSERT INTO projects (id, name, slug, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (id, create.name.strip(), project_slug(create.name), now, now),
                conflict="A project with this slug already exists; try again.",
            )
            project = await load_project(tx, id)
            tx.publish(Event(EventType.PROJECT_CREATED, project_id=id, payload={"slug": project.slug}, at=tx.now()))
            return project

    async def update_project(self, id: str, upd: ProjectUpdate) -> Project:
        async with self.db.tx() as tx:
            return await rename_project(tx, id, upd)

    async def delete_project(self, id: str) -> None:
        async with self.db.tx() as tx:
            project = await load_project(tx, id)
            rows = await tx.fetchall("SELECT * FROM services WHERE project_id = ? ORDER BY name_key", (id,))
            services = [row_to_service(tx, r) for r in rows]
            volumes = [
                volume_name(project.slug, s.slug, v.name, s.volume_names) for s in services for v in s.config.volumes
            ]
            await tx.execute("DELETE FROM projects WHERE id = ?", (id,))
            tx.publish(
                Event(
                    type=EventType.PROJECT_DELETED,
                    project_id=id,
                    payload={
                        "slug": project.slug,
                        "project_slug": project.slug,
                        "network": network_name(project.slug),
                        "service_ids": [s.id for s in services],
                        "services": [{"id": s.id, "slug": s.slug, "name": s.name} for s in services],
                        "volumes": volumes,
                    },
                    at=tx.now(),
                )
            )
