"""PreviewService on SQLite: each preview is a hidden service (``services.preview_of``) plus the
request it runs (``previews``); opening, updating and closing one is one transaction that also
creates its deployment (or deletes the hidden service), so that the reconciler converges it like
any service and a daemon restart finds it again."""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid

from deploykit.bus import Event, EventType
from deploykit.deployment import DeploymentCreate, DeploymentStatus, DeploymentTrigger
from deploykit.envvar import Scope, overlay, resolve_env, validate_env_key, validate_env_value
from deploykit.errors import INVALID, Error, FieldErrors, not_found
from deploykit.preview import (
    Preview,
    PreviewAction,
    PreviewOpen,
    PreviewOutcome,
    limit_reached,
    limit_reason,
    preview_hostname,
    preview_service_name,
    preview_service_slug,
)
from deploykit.runtime import network_name, volume_name
from deploykit.service import GitSource, Service, ServiceConfig, ServiceStatus, name_key
from deploykit_sqlite.db import DB, Tx, from_text, to_text
from deploykit_sqlite.deployment import insert_deployment
from deploykit_sqlite.domain import insert_domain
from deploykit_sqlite.envvar import addresses_of, scope_vars
from deploykit_sqlite.project import load_project
from deploykit_sqlite.sealed_config import encode_config
from deploykit_sqlite.service import load_service, project_services

PREVIEW_SELECT = """
SELECT p.*, s.project_id AS project_id,
  (SELECT hostname FROM domains d WHERE d.service_id = p.preview_service_id AND d.is_generated = 1) AS hostname,
  (SELECT id FROM deployments x WHERE x.service_id = p.preview_service_id ORDER BY seq DESC LIMIT 1)
    AS deployment_id,
  (SELECT status FROM deployments x WHERE x.service_id = p.preview_service_id ORDER BY seq DESC LIMIT 1) AS status
FROM previews p JOIN services s ON s.id = p.preview_service_id
"""


def row_to_preview(row: sqlite3.Row) -> Preview:
    return Preview(
        id=row["id"],
        service_id=row["service_id"],
        preview_service_id=row["preview_service_id"],
        project_id=row["project_id"],
        number=int(row["number"]),
        title=row["title"],
        url=row["url"],
        head_ref=row["head_ref"],
        head_sha=row["head_sha"],
        author=row["author"],
        hostname=row["hostname"],
        status=row["status"],
        deployment_id=row["deployment_id"],
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
    )


async def previewed_service(tx: Tx, service_id: str) -> Service:
    """A service that may have previews: not itself a preview's."""
    if await tx.scalar("SELECT preview_of FROM services WHERE id = ?", (service_id,)) is not None:
        raise not_found("Service")
    return await load_service(tx, service_id)


def preview_config(source: Service, head_ref: str, repo_url: str | None = None) -> ServiceConfig:
    """The service's config, built from the request's branch (of ``repo_url``, a fork's, when
    given), with one replica."""
    git = source.config.source
    assert isinstance(git, GitSource)
    head = dataclasses.replace(git, branch=head_ref, repo_url=repo_url or git.repo_url)
    return dataclasses.replace(source.config, source=head, replicas=1)


def preview_event(type: EventType, preview: Preview, tx: Tx) -> Event:
    payload = {
        "preview_id": preview.id,
        "number": preview.number,
        "preview_service_id": preview.preview_service_id,
        "hostname": preview.hostname,
        "head_sha": preview.head_sha,
    }
    return Event(type, preview.project_id, preview.service_id, payload, tx.now())


async def drop_preview(tx: Tx, preview: Preview) -> None:
    """Delete the preview's hidden service (its preview row, deployments and domain go with it)
    and tell the reconciler, which removes its containers, volumes, images and route."""
    hidden = await load_service(tx, preview.preview_service_id)
    project = await load_project(tx, preview.project_id)
    volumes = [volume_name(project.slug, hidden.slug, v.name, hidden.volume_names) for v in hidden.config.volumes]
    await tx.execute("DELETE FROM services WHERE id = ?", (hidden.id,))
    payload = {
        "name": hidden.name,
        "project_slug": project.slug,
        "service_slug": hidden.slug,
        "network": network_name(project.slug),
        "volumes": volumes,
    }
    tx.publish(Event(EventType.SERVICE_DELETED, project.id, hidden.id, payload, tx.now()))
    tx.publish(preview_event(EventType.PREVIEW_REMOVED, preview, tx))


async def drop_service_previews(tx: Tx, service_id: str) -> int:
    """Remove every preview of the service (its webhook is deleted); how many there were."""
    rows = await tx.fetchall(PREVIEW_SELECT + " WHERE p.service_id = ?", (service_id,))
    for row in rows:
        await drop_preview(tx, row_to_preview(row))
    return len(rows)


class PreviewStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def list_previews(self, service_id: str) -> list[Preview]:
        async with self.db.read() as tx:
            await previewed_service(tx, service_id)
            rows = await tx.fetchall(PREVIEW_SELECT + " WHERE p.service_id = ? ORDER BY p.number", (service_id,))
        return [row_to_preview(r) for r in rows]

    async def open_preview(self, req: PreviewOpen) -> PreviewOutcome:
        async with self.db.tx() as tx:
            source = await previewed_service(tx, req.service_id)
            if not isinstance(source.config.source, GitSource):
                raise Error(INVALID, "Only a service built from git can have previews.")
            rows = await tx.fetchall(PREVIEW_SELECT + " WHERE p.service_id = ?", (source.id,))
            existing = {int(r["number"]): row_to_preview(r) for r in rows}
            config = preview_config(source, req.head_ref, req.repo_url)
            current = existing.get(req.number)
            if current is None:
                if limit_reached(set(existing), req.number, req.max_previews):
                    return PreviewOutcome(
                        PreviewAction.SKIPPED, limit_reason(req.number, set(existing), req.max_previews)
                    )
                hidden = await self._insert_hidden(tx, source, req, config)
                action, type = PreviewAction.CREATED, EventType.PREVIEW_CREATED
            else:
                if current.head_sha == req.head_sha and current.status not in {
                    DeploymentStatus.FAILED.value,
                    DeploymentStatus.CANCELLED.value,
                }:
                    await self._describe(tx, current.id, req)
                    reason = f"The preview of #{req.number} already runs {req.head_sha[:12]}; nothing deployed."
                    return PreviewOutcome(PreviewAction.SKIPPED, reason, current, current.deployment_id)
                hidden = await load_service(tx, current.preview_service_id)
                await tx.execute(
                    "UPDATE services SET config = ?, updated_at = ? WHERE id = ?",
                    (encode_config(tx, config), to_text(tx.now()), hidden.id),
                )
                await self._describe(tx, current.id, req)
                action, type = PreviewAction.UPDATED, EventType.PREVIEW_UPDATED
            env = await self._env(tx, source)
            deployment = await insert_deployment(
                tx,
                DeploymentCreate(
                    service_id=hidden.id,
                    config=config,
                    env_vars=env,
                    commit_sha=req.head_sha,
                    trigger=DeploymentTrigger.WEBHOOK,
                ),
            )
            row = await tx.fetchone(PREVIEW_SELECT + " WHERE p.preview_service_id = ?", (hidden.id,))
            assert row is not None
            preview = row_to_preview(row)
            tx.publish(preview_event(type, preview, tx))
            verb = "Creating" if action == PreviewAction.CREATED else "Updating"
            where = f" at {preview.hostname}" if preview.hostname else ""
            reason = f"{verb} the preview of #{req.number} from {req.head_sha[:12]}{where}."
            return PreviewOutcome(action, reason, preview, deployment.id)

    async def _insert_hidden(self, tx: Tx, source: Service, req: PreviewOpen, config: ServiceConfig) -> Service:
        id, now = str(uuid.uuid4()), to_text(tx.now())
        name = preview_service_name(source.name, req.number)
        await tx.execute(
            "INSERT INTO services (id, project_id, name, name_key, slug, config, status, preview_of, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                id,
                source.project_id,
                name,
                name_key(name),
                preview_service_slug(source.slug, req.number),
                encode_config(tx, config),
                ServiceStatus.CREATED.value,
                source.id,
                now,
                now,
            ),
            conflict=f"A preview of #{req.number} already exists.",
        )
        hidden = await load_service(tx, id)
        if config.port is not None:
            project = await load_project(tx, source.project_id)
            await insert_domain(
                tx, hidden, preview_hostname(req.number, source.slug, project.slug, tx.db.base_domain), generated=True
            )
        await tx.execute(
            "INSERT INTO previews (id, service_id, preview_service_id, number, title, url, head_ref, head_sha, "
            "author, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), source.id, id, req.number, req.title, req.url, req.head_ref, req.head_sha,
             req.author, now, now),
        )  # fmt: skip
        return hidden

    async def _describe(self, tx: Tx, preview_id: str, req: PreviewOpen) -> None:
        await tx.execute(
            "UPDATE previews SET title = ?, url = ?, head_ref = ?, head_sha = ?, author = ?, updated_at = ? "
            "WHERE id = ?",
            (req.title, req.url, req.head_ref, req.head_sha, req.author, to_text(tx.now()), preview_id),
        )

    async def _env(self, tx: Tx, source: Service) -> dict[str, str]:
        """The service's variables overlaid by the preview scope, references resolved."""
        service_vars = overlay(
            await scope_vars(tx, source.project_id, Scope.SERVICE, source.id), await self._vars(tx, source.id)
        )
        resolved = resolve_env(
            await scope_vars(tx, source.project_id, Scope.PROJECT, source.project_id),
            await scope_vars(tx, source.project_id, Scope.GROUP, source.group_id),
            service_vars,
            addresses_of(await project_services(tx, source.project_id)),
        )
        return resolved.values

    async def close_preview(self, service_id: str, number: int) -> PreviewOutcome:
        async with self.db.tx() as tx:
            source = await previewed_service(tx, service_id)
            row = await tx.fetchone(PREVIEW_SELECT + " WHERE p.service_id = ? AND p.number = ?", (source.id, number))
            if row is None:
                return PreviewOutcome(PreviewAction.SKIPPED, f"#{number} has no preview; nothing to remove.")
            preview = row_to_preview(row)
            await drop_preview(tx, preview)
            reason = f"Removing the preview of #{number} (its containers, volumes, images and route)."
            return PreviewOutcome(PreviewAction.REMOVED, reason, preview)

    async def get_preview_vars(self, service_id: str) -> dict[str, str]:
        async with self.db.read() as tx:
            await previewed_service(tx, service_id)
            return await self._vars(tx, service_id)

    async def set_preview_vars(self, service_id: str, values: dict[str, str]) -> dict[str, str]:
        errors = FieldErrors()
        for key, value in values.items():
            validate_env_key(key, errors, f"vars.{key}")
            validate_env_value(value, errors, f"vars.{key}")
        errors.raise_if_any()
        async with self.db.tx() as tx:
            await previewed_service(tx, service_id)
            await tx.execute("DELETE FROM preview_env_vars WHERE service_id = ?", (service_id,))
            for key, value in values.items():
                await tx.execute(
                    "INSERT INTO preview_env_vars (service_id, key, value) VALUES (?, ?, ?)",
                    (service_id, key, tx.seal(value)),
                )
            return await self._vars(tx, service_id)

    async def _vars(self, tx: Tx, service_id: str) -> dict[str, str]:
        rows = await tx.fetchall(
            "SELECT key, value FROM preview_env_vars WHERE service_id = ? ORDER BY key", (service_id,)
        )
        return {r["key"]: tx.unseal(r["value"]) for r in rows}
