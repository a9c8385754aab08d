"""The audit log on SQLite: append-only (triggers refuse UPDATE and DELETE), newest first."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from deploykit.audit import Actor, AuditEntry, AuditFilter
from deploykit_sqlite.db import DB, dumps, must_time, to_text

MAX_LIMIT = 500


def row_to_entry(row: sqlite3.Row) -> AuditEntry:
    actor = None
    if any(row[k] is not None for k in ("user_id", "actor_name", "api_key_id", "address")):
        actor = Actor(
            user_id=row["user_id"],
            name=row["actor_name"],
            api_key_id=row["api_key_id"],
            api_key_name=row["api_key_name"],
            address=row["address"],
        )
    return AuditEntry(
        id=row["id"],
        at=must_time(row["at"]),
        action=row["action"],
        actor=actor,
        project_id=row["project_id"],
        service_id=row["service_id"],
        details=json.loads(row["details"]),
    )


class AuditStore:
    """Implements ``deploykit.audit.AuditService``."""

    def __init__(self, db: DB) -> None:
        self.db = db

    async def append(self, entry: AuditEntry) -> None:
        a = entry.actor or Actor()
        async with self.db.tx() as tx:
            await tx.execute(
                "INSERT INTO audit_log (id, at, action, user_id, actor_name, api_key_id, api_key_name, address, "
                "project_id, service_id, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.id,
                    to_text(entry.at),
                    entry.action,
                    a.user_id,
                    a.name,
                    a.api_key_id,
                    a.api_key_name,
                    a.address,
                    entry.project_id,
                    entry.service_id,
                    dumps(entry.details),
                ),
            )

    async def list_entries(self, filt: AuditFilter) -> tuple[list[AuditEntry], int]:
        clauses: list[str] = []
        params: list[Any] = []
        if filt.project_id is not None:
            clauses.append("project_id = ?")
            params.append(filt.project_id)
        if filt.user_id is not None:
            clauses.append("user_id = ?")
            params.append(filt.user_id)
        if filt.action:
            if filt.action.endswith("."):
                clauses.append("substr(action, 1, ?) = ?")
                params += [len(filt.action), filt.action]
            else:
                clauses.append("action = ?")
                params.append(filt.action)
        if filt.since is not None:
            clauses.append("at >= ?")
            params.append(to_text(filt.since))
        if filt.projects_only:
            clauses.append("project_id IS NOT NULL")
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        limit = min(max(filt.limit, 0), MAX_LIMIT)
        async with self.db.read() as tx:
            total = int(await tx.scalar(f"SELECT COUNT(*) FROM audit_log{where}", tuple(params)))
            rows = await tx.fetchall(
                f"SELECT * FROM audit_log{where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                (*params, limit, max(filt.offset, 0)),
            )
        return [row_to_entry(r) for r in rows], total
