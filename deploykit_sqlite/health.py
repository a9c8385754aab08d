"""HealthRecordService on SQLite: probe results, kept for a day and pruned by the monitor."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from deploykit.errors import not_found
from deploykit.health import HealthEvent, HealthRecord, HealthRecordFilter, HealthResult
from deploykit_sqlite.db import DB, from_text, to_text


def row_to_record(row: sqlite3.Row) -> HealthRecord:
    return HealthRecord(
        id=int(row["id"]),
        service_id=row["service_id"],
        container_id=row["container_id"],
        result=HealthResult(
            ok=bool(row["ok"]),
            latency_ms=float(row["latency_ms"]),
            status_code=row["status_code"],
            error=row["error"],
            checked_at=from_text(row["checked_at"]),
        ),
        replica_index=row["replica_index"],
        event=HealthEvent(row["event"]) if row["event"] else None,
    )


class HealthRecordStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def record_health(self, record: HealthRecord) -> None:
        async with self.db.tx() as tx:
            result = record.result
            await tx.execute(
                "INSERT INTO health_records (service_id, container_id, ok, latency_ms, status_code, error, checked_at, "
                "replica_index, event) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.service_id,
                    record.container_id,
                    int(result.ok),
                    float(result.latency_ms),
                    result.status_code,
                    result.error,
                    to_text(result.checked_at or tx.now()),
                    record.replica_index,
                    record.event.value if record.event is not None else None,
                ),
                missing=not_found("Service"),
            )

    async def list_health(self, filt: HealthRecordFilter) -> list[HealthRecord]:
        where, params = ["service_id = ?"], [filt.service_id]
        if filt.since is not None:
            where.append("checked_at >= ?")
            params.append(to_text(filt.since) or "")
        if filt.until is not None:
            where.append("checked_at < ?")
            params.append(to_text(filt.until) or "")
        if filt.events is not None:
            where.append("event IS NOT NULL" if filt.events else "event IS NULL")
        async with self.db.read() as tx:
            rows = await tx.fetchall(
                f"SELECT * FROM health_records WHERE {' AND '.join(where)} ORDER BY checked_at DESC, id DESC LIMIT ?",
                (*params, max(filt.limit, 0)),
            )
        return [row_to_record(r) for r in rows]

    async def prune_health(self, before: datetime) -> int:
        async with self.db.tx() as tx:
            return await tx.execute("DELETE FROM health_records WHERE checked_at < ?", (to_text(before),))
