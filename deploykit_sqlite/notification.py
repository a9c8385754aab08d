"""Notification channels and their deliveries on SQLite. A channel's secrets are one sealed JSON
object (AES-256-GCM, like env var values); its plain settings are JSON text."""

from __future__ import annotations

import json
import sqlite3
import uuid

from deploykit.bus import Event, EventType
from deploykit.errors import not_found
from deploykit.notification import (
    Channel,
    ChannelCreate,
    ChannelFilter,
    ChannelKind,
    ChannelUpdate,
    Delivery,
    DeliveryOutcome,
    NotificationKind,
)
from deploykit_sqlite.db import DB, Tx, dumps, from_text, to_text

DELIVERIES_KEPT = 200
"""Deliveries kept per channel; older ones are deleted as new ones are recorded."""


def row_to_channel(tx: Tx, row: sqlite3.Row) -> Channel:
    return Channel(
        id=row["id"],
        name=row["name"],
        kind=ChannelKind(row["kind"]),
        project_id=row["project_id"],
        events=frozenset(NotificationKind(e) for e in json.loads(row["events"])),
        enabled=bool(row["enabled"]),
        settings=json.loads(row["settings"]),
        secrets=json.loads(tx.unseal(row["secrets"])),
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
    )


def row_to_delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        channel_id=row["channel_id"],
        event=NotificationKind(row["event"]),
        outcome=DeliveryOutcome(row["outcome"]),
        message=row["message"],
        attempts=int(row["attempts"]),
        error=row["error"],
        created_at=from_text(row["created_at"]),
        finished_at=from_text(row["finished_at"]),
    )


async def load_channel(tx: Tx, id: str) -> Channel:
    row = await tx.fetchone("SELECT * FROM notification_channels WHERE id = ?", (id,))
    if row is None:
        raise not_found("Notification channel")
    return row_to_channel(tx, row)


def channel_event(tx: Tx, type: EventType, channel: Channel, **extra: object) -> None:
    payload = {"channel_id": channel.id, "name": channel.name, "kind": channel.kind.value, **extra}
    tx.publish(Event(type, project_id=channel.project_id, payload=payload, at=tx.now()))


class ChannelStore:
    """Implements ``deploykit.notification.ChannelService``."""

    def __init__(self, db: DB) -> None:
        self.db = db

    async def get_channel(self, id: str) -> Channel:
        async with self.db.read() as tx:
            return await load_channel(tx, id)

    async def list_channels(self, filt: ChannelFilter) -> list[Channel]:
        async with self.db.read() as tx:
            if filt.project_id is None:
                rows = await tx.fetchall("SELECT * FROM notification_channels ORDER BY created_at, id")
            else:
                rows = await tx.fetchall(
                    "SELECT * FROM notification_channels WHERE project_id IS NULL OR project_id = ? "
                    "ORDER BY created_at, id",
                    (filt.project_id,),
                )
            return [row_to_channel(tx, r) for r in rows]

    async def create_channel(self, create: ChannelCreate) -> Channel:
        create.validate()
        id = str(uuid.uuid4())
        async with self.db.tx() as tx:
            now = to_text(tx.now())
            await tx.execute(
                "INSERT INTO notification_channels (id, name, kind, project_id, events, enabled, settings, secrets, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    id,
                    create.name.strip(),
                    create.kind.value,
                    create.project_id,
                    dumps(sorted(e.value for e in create.events)),
                    int(create.enabled),
                    dumps(create.settings),
                    tx.seal(dumps(create.secrets)),
                    now,
                    now,
                ),
                missing=not_found("Project"),
            )
            channel = await load_channel(tx, id)
            channel_event(tx, EventType.NOTIFICATION_CHANNEL_CREATED, channel)
            return channel

    async def update_channel(self, id: str, upd: ChannelUpdate) -> Channel:
        async with self.db.tx() as tx:
            channel = upd.apply(await load_channel(tx, id))
            await tx.execute(
                "UPDATE notification_channels SET name = ?, events = ?, enabled = ?, settings = ?, secrets = ?, "
                "updated_at = ? WHERE id = ?",
                (
                    channel.name.strip(),
                    dumps(sorted(e.value for e in channel.events)),
                    int(channel.enabled),
                    dumps(channel.settings),
                    tx.seal(dumps(channel.secrets)),
                    to_text(tx.now()),
                    id,
                ),
            )
            channel = await load_channel(tx, id)
            channel_event(tx, EventType.NOTIFICATION_CHANNEL_UPDATED, channel, fields=upd.changed_fields())
            return channel

    async def delete_channel(self, id: str) -> None:
        async with self.db.tx() as tx:
            channel = await load_channel(tx, id)
            await tx.execute("DELETE FROM notification_channels WHERE id = ?", (id,))
            channel_event(tx, EventType.NOTIFICATION_CHANNEL_DELETED, channel)

    async def record_delivery(self, delivery: Delivery) -> Delivery:
        async with self.db.tx() as tx:
            created = delivery.created_at or tx.now()
            await tx.execute(
                "INSERT INTO notification_deliveries (id, channel_id, event, outcome, message, attempts, error, "
                "created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "outcome = excluded.outcome, attempts = excluded.attempts, error = excluded.error, "
                "finished_at = excluded.finished_at",
                (
                    delivery.id,
                    delivery.channel_id,
                    delivery.event.value,
                    delivery.outcome.value,
                    delivery.message,
                    delivery.attempts,
                    delivery.error,
                    to_text(created),
                    to_text(delivery.finished_at),
                ),
                missing=not_found("Notification channel"),
            )
            await tx.execute(
                "DELETE FROM notification_deliveries WHERE channel_id = ? AND id NOT IN (SELECT id FROM "
                "notification_deliveries WHERE channel_id = ? ORDER BY created_at DESC, id LIMIT ?)",
                (delivery.channel_id, delivery.channel_id, DELIVERIES_KEPT),
            )
            row = await tx.fetchone("SELECT * FROM notification_deliveries WHERE id = ?", (delivery.id,))
        assert row is not None
        return row_to_delivery(row)

    async def list_deliveries(self, channel_id: str, limit: int = 50) -> list[Delivery]:
        async with self.db.read() as tx:
            await load_channel(tx, channel_id)
            rows = await tx.fetchall(
                "SELECT * FROM notification_deliveries WHERE channel_id = ? ORDER BY created_at DESC, id LIMIT ?",
                (channel_id, max(0, min(limit, DELIVERIES_KEPT))),
            )
        return [row_to_delivery(r) for r in rows]
