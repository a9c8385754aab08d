"""WebhookService on SQLite: one push webhook per git service, and its deliveries."""

from __future__ import annotations

import secrets
import sqlite3
import uuid

from deploykit.bus import Event, EventType
from deploykit.errors import INVALID, Error, FieldErrors, not_found
from deploykit.preview import DEFAULT_MAX_PREVIEWS, validate_max_previews
from deploykit.service import GitSource
from deploykit.webhook import DeliveryStatus, Provider, Webhook, WebhookDelivery
from deploykit_sqlite.db import DB, Tx, from_text, to_text
from deploykit_sqlite.preview import drop_service_previews
from deploykit_sqlite.service import load_service

DEFAULT_DELIVERY_LIMIT = 50
UNKEYED_KEPT = 100
"""Deliveries without a key (refused signatures) kept per webhook; older ones are deleted."""


def row_to_webhook(tx: Tx, row: sqlite3.Row) -> Webhook:
    return Webhook(
        id=row["id"],
        service_id=row["service_id"],
        provider=Provider(row["provider"]),
        secret=tx.unseal(row["secret"]),
        enabled=bool(row["enabled"]),
        created_at=from_text(row["created_at"]),
        previews=bool(row["previews"]),
        max_previews=int(row["max_previews"]),
        previews_from_forks=bool(row["previews_from_forks"]),
    )


def row_to_delivery(row: sqlite3.Row) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        webhook_id=row["webhook_id"],
        event=row["event"],
        status=DeliveryStatus(row["status"]),
        delivery_key=row["delivery_key"],
        branch=row["branch"],
        commit_sha=row["commit_sha"],
        author=row["author"],
        message=row["message"],
        reason=row["reason"],
        deployment_id=row["deployment_id"],
        delivered_at=from_text(row["delivered_at"]),
        body_sha256=row["body_sha256"],
        preview_number=row["preview_number"],
        preview_action=row["preview_action"],
    )


class WebhookStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def get_webhook(self, id: str) -> Webhook:
        async with self.db.read() as tx:
            row = await tx.fetchone("SELECT * FROM webhooks WHERE id = ?", (id,))
            if row is None:
                raise not_found("Webhook")
            return row_to_webhook(tx, row)

    async def get_service_webhook(self, service_id: str) -> Webhook:
        async with self.db.read() as tx:
            row = await tx.fetchone("SELECT * FROM webhooks WHERE service_id = ?", (service_id,))
            if row is None:
                raise not_found("Webhook")
            return row_to_webhook(tx, row)

    async def create_webhook(self, service_id: str, provider: Provider) -> Webhook:
        try:
            provider = Provider(provider)
        except ValueError as exc:
            raise Error(INVALID, "The provider must be github or gitlab.") from exc
        async with self.db.tx() as tx:
            service = await load_service(tx, service_id)
            if not isinstance(service.config.source, GitSource):
                raise Error(INVALID, "Only a service built from git can have a push webhook.")
            # A new secret keeps the preview settings: they are the service's, not the secret's.
            old = await tx.fetchone(
                "SELECT previews, max_previews, previews_from_forks FROM webhooks WHERE service_id = ?", (service_id,)
            )
            previews, max_previews, forks = (
                (old["previews"], old["max_previews"], old["previews_from_forks"])
                if old
                else (0, DEFAULT_MAX_PREVIEWS, 0)
            )
            await tx.execute("DELETE FROM webhooks WHERE service_id = ?", (service_id,))
            id = str(uuid.uuid4())
            await tx.execute(
                "INSERT INTO webhooks (id, service_id, provider, secret, enabled, created_at, previews, max_previews, "
                "previews_from_forks) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
                (
                    id,
                    service_id,
                    provider.value,
                    tx.seal(secrets.token_hex(32)),
                    to_text(tx.now()),
                    previews,
                    max_previews,
                    forks,
                ),
            )
            row = await tx.fetchone("SELECT * FROM webhooks WHERE id = ?", (id,))
            assert row is not None
            tx.publish(
                Event(
                    EventType.WEBHOOK_CREATED,
                    service.project_id,
                    service.id,
                    payload={"webhook_id": id, "provider": provider.value},
                    at=tx.now(),
                )
            )
            return row_to_webhook(tx, row)

    async def update_webhook(
        self,
        service_id: str,
        *,
        enabled: bool | None = None,
        previews: bool | None = None,
        max_previews: int | None = None,
        previews_from_forks: bool | None = None,
    ) -> Webhook:
        if max_previews is not None:
            errors = FieldErrors()
            validate_max_previews(max_previews, errors)
            errors.raise_if_any()
        async with self.db.tx() as tx:
            current = await tx.fetchone("SELECT * FROM webhooks WHERE service_id = ?", (service_id,))
            if current is None:
                raise not_found("Webhook")
            await tx.execute(
                "UPDATE webhooks SET enabled = ?, previews = ?, max_previews = ?, previews_from_forks = ? "
                "WHERE service_id = ?",
                (
                    current["enabled"] if enabled is None else int(enabled),
                    current["previews"] if previews is None else int(previews),
                    current["max_previews"] if max_previews is None else max_previews,
                    current["previews_from_forks"] if previews_from_forks is None else int(previews_from_forks),
                    service_id,
                ),
            )
            row = await tx.fetchone("SELECT * FROM webhooks WHERE service_id = ?", (service_id,))
            assert row is not None
            return row_to_webhook(tx, row)

    async def delete_webhook(self, service_id: str) -> None:
        async with self.db.tx() as tx:
            if await tx.execute("DELETE FROM webhooks WHERE service_id = ?", (service_id,)) == 0:
                raise not_found("Webhook")
            # No delivery will ever close its previews now: they go with it.
            await drop_service_previews(tx, service_id)
            service = await load_service(tx, service_id)
            tx.publish(Event(EventType.WEBHOOK_DELETED, service.project_id, service.id, at=tx.now()))

    async def record_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        id = delivery.id or str(uuid.uuid4())
        async with self.db.tx() as tx:
            delivered_at = delivery.delivered_at or tx.now()
            await tx.execute(
                "INSERT INTO webhook_deliveries (id, webhook_id, event, status, delivery_key, branch, commit_sha, "
                "author, message, reason, deployment_id, delivered_at, body_sha256, preview_number, preview_action) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    id,
                    delivery.webhook_id,
                    delivery.event,
                    DeliveryStatus(delivery.status).value,
                    delivery.delivery_key,
                    delivery.branch,
                    delivery.commit_sha,
                    delivery.author,
                    delivery.message,
                    delivery.reason,
                    delivery.deployment_id,
                    to_text(delivered_at),
                    delivery.body_sha256,
                    delivery.preview_number,
                    delivery.preview_action,
                ),
                conflict="This delivery was already received.",
                missing=not_found("Webhook"),
            )
            row = await tx.fetchone("SELECT * FROM webhook_deliveries WHERE id = ?", (id,))
            if delivery.delivery_key is None and delivery.body_sha256 is None:
                # Refused and replayed requests: a bounded history. Signed bodies are all kept, so
                # that a replay is recognised however long after.
                await tx.execute(
                    "DELETE FROM webhook_deliveries WHERE webhook_id = ? AND delivery_key IS NULL "
                    "AND body_sha256 IS NULL AND seq < ("
                    "SELECT MIN(seq) FROM (SELECT seq FROM webhook_deliveries WHERE webhook_id = ? "
                    "AND delivery_key IS NULL AND body_sha256 IS NULL ORDER BY seq DESC LIMIT ?))",
                    (delivery.webhook_id, delivery.webhook_id, UNKEYED_KEPT),
                )
        assert row is not None
        return row_to_delivery(row)

    async def get_delivery(self, webhook_id: str, id: str) -> WebhookDelivery:
        async with self.db.read() as tx:
            row = await tx.fetchone(
                "SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND id = ?", (webhook_id, id)
            )
        if row is None:
            raise not_found("Delivery")
        return row_to_delivery(row)

    async def find_delivery(self, webhook_id: str, delivery_key: str) -> WebhookDelivery | None:
        async with self.db.read() as tx:
            row = await tx.fetchone(
                "SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND delivery_key = ?", (webhook_id, delivery_key)
            )
        return None if row is None else row_to_delivery(row)

    async def find_delivery_by_body(self, webhook_id: str, body_sha256: str) -> WebhookDelivery | None:
        async with self.db.read() as tx:
            row = await tx.fetchone(
                "SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND body_sha256 = ? AND status != ? "
                "ORDER BY seq LIMIT 1",
                (webhook_id, body_sha256, DeliveryStatus.FAILED.value),
            )
        return None if row is None else row_to_delivery(row)

    async def list_deliveries(self, webhook_id: str, limit: int = DEFAULT_DELIVERY_LIMIT) -> list[WebhookDelivery]:
        async with self.db.read() as tx:
            rows = await tx.fetchall(
                "SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY seq DESC LIMIT ?",
                (webhook_id, max(limit, 0)),
            )
        return [row_to_delivery(r) for r in rows]
