"""ContainerService on SQLite: the reconciler's records of what it started."""

from __future__ import annotations

import sqlite3

from deploykit.bus import Event, EventType
from deploykit.container import ContainerFilter, ContainerRecord
from deploykit.errors import not_found
from deploykit_sqlite.db import DB, from_text, to_text


def row_to_container(row: sqlite3.Row) -> ContainerRecord:
    return ContainerRecord(
        id=row["id"],
        name=row["name"],
        project_id=row["project_id"],
        service_id=row["service_id"],
        deployment_id=row["deployment_id"],
        replica_index=int(row["replica_index"]),
        state=row["state"],
        exit_code=row["exit_code"],
        restart_count=int(row["restart_count"]),
        ip_address=row["ip_address"],
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
    )


class ContainerStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def upsert_container(self, record: ContainerRecord) -> ContainerRecord:
        async with self.db.tx() as tx:
            service = await tx.fetchone("SELECT project_id FROM services WHERE id = ?", (record.service_id,))
            if service is None:
                raise not_found("Service")
            existed = await tx.scalar("SELECT 1 FROM containers WHERE id = ?", (record.id,)) is not None
            now = to_text(tx.now())
            await tx.execute(
                "INSERT INTO containers (id, name, project_id, service_id, deployment_id, replica_index, state, "
                "exit_code, restart_count, ip_address, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "state = excluded.state, exit_code = excluded.exit_code, restart_count = excluded.restart_count, "
                "ip_address = excluded.ip_address, updated_at = excluded.updated_at",
                (
                    record.id,
                    record.name,
                    service["project_id"],
                    record.service_id,
                    record.deployment_id,
                    record.replica_index,
                    record.state,
                    record.exit_code,
                    record.restart_count,
                    record.ip_address,
                    to_text(record.created_at) or now,
                    now,
                ),
                missing=not_found("Service"),
            )
            row = await tx.fetchone("SELECT * FROM containers WHERE id = ?", (record.id,))
            assert row is not None
            saved = row_to_container(row)
            if not existed:
                tx.publish(
                    Event(
                        EventType.CONTAINER_CREATED,
                        project_id=saved.project_id,
                        service_id=saved.service_id,
                        payload={
                            "container_id": saved.id,
                            "name": saved.name,
                            "deployment_id": saved.deployment_id,
                            "replica_index": saved.replica_index,
                            "state": saved.state,
                        },
                        at=tx.now(),
                    )
                )
            return saved

    async def list_containers(self, filt: ContainerFilter) -> list[ContainerRecord]:
        where, params = ["1 = 1"], []
        for column, value in (
            ("service_id", filt.service_id),
            ("deployment_id", filt.deployment_id),
            ("project_id", filt.project_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        async with self.db.read() as tx:
            rows = await tx.fetchall(
                f"SELECT * FROM containers WHERE {' AND '.join(where)} ORDER BY service_id, replica_index, created_at",
                tuple(params),
            )
        return [row_to_container(r) for r in rows]

    async def delete_container(self, id: str) -> None:
        async with self.db.tx() as tx:
            row = await tx.fetchone("SELECT * FROM containers WHERE id = ?", (id,))
            if row is None:
                return
            await tx.execute("DELETE FROM containers WHERE id = ?", (id,))
            tx.publish(
                Event(
                    EventType.CONTAINER_DELETED,
                    project_id=row["project_id"],
                    service_id=row["service_id"],
                    payload={"container_id": id, "name": row["name"], "deployment_id": row["deployment_id"]},
                    at=tx.now(),
                )
            )
