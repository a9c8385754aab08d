"""DeploymentService on SQLite: immutable snapshots and their lifecycle."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from deploykit.bus import Event, EventType
from deploykit.deployment import (
    IN_FLIGHT,
    Deployment,
    DeploymentCreate,
    DeploymentFailure,
    DeploymentFilter,
    DeploymentLog,
    DeploymentStatus,
    DeploymentTrigger,
    check_transition,
    clip_log,
)
from deploykit.drift import change_summary
from deploykit.envvar import EnvVarCreate, EnvVarUpdate, Scope
from deploykit.errors import CONFLICT, INVALID, Error, not_found
from deploykit.service import ImageSource, Service
from deploykit_sqlite.canvas import sync_env_edges
from deploykit_sqlite.db import DB, Tx, dumps, from_text, to_text
from deploykit_sqlite.envvar import delete_env_var, insert_env_var, resolve_for_service, scope_vars, update_env_var
from deploykit_sqlite.sealed_config import decode_config, encode_config
from deploykit_sqlite.service import deployed_row, load_service, save_service, with_deploy_state

MAX_LOG_BYTES = 1024 * 1024
EVENT_FOR: dict[DeploymentStatus, EventType] = {
    DeploymentStatus.PENDING: EventType.DEPLOYMENT_CREATED,
    DeploymentStatus.BUILDING: EventType.DEPLOYMENT_BUILDING,
    DeploymentStatus.STARTING: EventType.DEPLOYMENT_STARTING,
    DeploymentStatus.HEALTHY: EventType.DEPLOYMENT_HEALTHY,
    DeploymentStatus.FAILED: EventType.DEPLOYMENT_FAILED,
    DeploymentStatus.CANCELLED: EventType.DEPLOYMENT_CANCELLED,
}


def row_to_deployment(tx: Tx, row: sqlite3.Row) -> Deployment:
    return Deployment(
        id=row["id"],
        service_id=row["service_id"],
        project_id=row["project_id"],
        status=DeploymentStatus(row["status"]),
        config=decode_config(tx, row["config"]),
        env_vars=json.loads(tx.unseal(row["env_vars"])),
        image=row["image"],
        commit_sha=row["commit_sha"],
        commit_message=row["commit_message"],
        failure_reason=row["failure_reason"],
        exit_code=row["exit_code"],
        log_tail=row["log_tail"],
        attempt_count=int(row["attempt_count"]),
        rollback_of=row["rollback_of"],
        created_by=row["created_by"],
        created_at=from_text(row["created_at"]),
        started_at=from_text(row["started_at"]),
        healthy_at=from_text(row["healthy_at"]),
        finished_at=from_text(row["finished_at"]),
        was_healthy=bool(row["was_healthy"]),
        trigger=DeploymentTrigger(row["trigger"]),
        changes=tuple(json.loads(row["changes"])),
        actor=row["actor"],
        service_env=None if row["service_env"] is None else json.loads(tx.unseal(row["service_env"])),
    )


async def load_deployment(tx: Tx, id: str) -> Deployment:
    row = await tx.fetchone("SELECT * FROM deployments WHERE id = ?", (id,))
    if row is None:
        raise not_found("Deployment")
    return row_to_deployment(tx, row)


def publish_status(tx: Tx, deployment: Deployment, **extra: Any) -> None:
    event_type = EVENT_FOR.get(deployment.status)
    if event_type is None:
        return
    if deployment.status is DeploymentStatus.FAILED:
        extra.setdefault("reason", deployment.failure_reason)  # notifications tell build failures apart
    tx.publish(
        Event(
            event_type,
            project_id=deployment.project_id,
            service_id=deployment.service_id,
            payload={"deployment_id": deployment.id, "status": deployment.status.value, **extra},
            at=tx.now(),
        )
    )


async def insert_deployment(tx: Tx, create: DeploymentCreate) -> Deployment:
    """Insert a pending deployment and cancel the service's older in-flight ones; queues
    ``deployment.cancelled`` and ``deployment.created``. Raises ``not_found``."""
    service = await load_service(tx, create.service_id)
    now = to_text(tx.now())
    rows = await tx.fetchall(
        "SELECT * FROM deployments WHERE service_id = ? AND status IN (?, ?, ?) ORDER BY seq",
        (service.id, *(s.value for s in sorted(IN_FLIGHT))),
    )
    for row in rows:
        await tx.execute(
            "UPDATE deployments SET status = ?, finished_at = ? WHERE id = ?",
            (DeploymentStatus.CANCELLED.value, now, row["id"]),
        )
        publish_status(tx, await load_deployment(tx, row["id"]), reason="superseded by a newer deployment")
    image = create.image
    if image is None and isinstance(create.config.source, ImageSource):
        image = create.config.source.image
    previous = await tx.fetchone(
        "SELECT * FROM deployments WHERE service_id = ? AND status != ? ORDER BY seq DESC LIMIT 1",
        (service.id, DeploymentStatus.CANCELLED.value),
    )
    before = None
    if previous is not None:
        prev = row_to_deployment(tx, previous)
        before = (prev.config, prev.env_vars, prev.commit_sha)
    changes = change_summary(before, (create.config, create.env_vars, create.commit_sha))
    own_env = await scope_vars(tx, service.project_id, Scope.SERVICE, service.id)
    id = str(uuid.uuid4())
    await tx.execute(
        "INSERT INTO deployments (id, service_id, project_id, status, config, env_vars, image, commit_sha, "
        "commit_message, rollback_of, created_by, created_at, trigger, changes, actor, service_env) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            id,
            service.id,
            service.project_id,
            DeploymentStatus.PENDING.value,
            encode_config(tx, create.config),
            tx.seal(dumps(create.env_vars)),
            image,
            create.commit_sha,
            create.commit_message,
            create.rollback_of,
            create.created_by,
            now,
            create.trigger.value,
            dumps(changes),
            create.actor,
            tx.seal(dumps(own_env)),
        ),
    )
    deployment = await load_deployment(tx, id)
    publish_status(tx, deployment, rollback_of=deployment.rollback_of, commit_sha=deployment.commit_sha)
    return deployment


async def restore_service_env(tx: Tx, service: Service, kept: dict[str, str] | None) -> None:
    """Make the service's own variables ``kept`` (a deployment's ``service_env``): update, add and
    remove; nothing when the deployment did not keep them. The canvas's reference edges follow."""
    if kept is None:
        return
    rows = await tx.fetchall(
        "SELECT id, key, value FROM env_vars WHERE project_id = ? AND scope = ? AND scope_id = ?",
        (service.project_id, Scope.SERVICE.value, service.id),
    )
    changed = False
    for row in rows:
        if row["key"] not in kept:
            await delete_env_var(tx, row["id"])
            changed = True
        elif tx.unseal(row["value"]) != kept[row["key"]]:
            await update_env_var(tx, row["id"], EnvVarUpdate(value=kept[row["key"]]))
            changed = True
    have = {r["key"] for r in rows}
    for key, value in kept.items():
        if key not in have:
            await insert_env_var(tx, EnvVarCreate(service.project_id, Scope.SERVICE, service.id, key, value))
            changed = True
    if changed:
        await sync_env_edges(tx, service.project_id)


async def has_deployments(tx: Tx, service_id: str) -> bool:
    return await tx.scalar("SELECT 1 FROM deployments WHERE service_id = ? LIMIT 1", (service_id,)) is not None


class DeploymentStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def get_deployment(self, id: str) -> Deployment:
        async with self.db.read() as tx:
            return await load_deployment(tx, id)

    async def list_deployments(self, filt: DeploymentFilter) -> tuple[list[Deployment], int]:
        where, params = ["1 = 1"], []
        if filt.service_id is not None:
            where.append("service_id = ?")
            params.append(filt.service_id)
        if filt.project_id is not None:
            where.append("project_id = ?")
            params.append(filt.project_id)
        if filt.statuses is not None:
            statuses = sorted(s.value for s in filt.statuses)
            where.append(f"status IN ({', '.join('?' for _ in statuses)})" if statuses else "0 = 1")
            params.extend(statuses)
        clause = " AND ".join(where)
        async with self.db.read() as tx:
            total = int(await tx.scalar(f"SELECT COUNT(*) FROM deployments WHERE {clause}", tuple(params)))
            rows = await tx.fetchall(
                f"SELECT * FROM deployments WHERE {clause} ORDER BY seq DESC LIMIT ? OFFSET ?",
                (*params, max(filt.limit, 0), max(filt.offset, 0)),
            )
            return [row_to_deployment(tx, r) for r in rows], total

    async def create_deployment(self, create: DeploymentCreate) -> Deployment:
        async with self.db.tx() as tx:
            return await insert_deployment(tx, create)

    async def redeploy(
        self,
        service_id: str,
        created_by: str | None,
        commit_sha: str | None = None,
        commit_message: str | None = None,
        trigger: DeploymentTrigger = DeploymentTrigger.REDEPLOY,
        actor: str | None = None,
    ) -> Deployment:
        async with self.db.tx() as tx:
            service = await load_service(tx, service_id)
            if not await has_deployments(tx, service_id):
                raise Error(CONFLICT, "The service has never been deployed; deploy its pending changes first.")
            env = await resolve_for_service(tx, service)
            return await insert_deployment(
                tx,
                DeploymentCreate(
                    service_id=service.id,
                    config=service.config,
                    env_vars=env.values,
                    commit_sha=commit_sha,
                    commit_message=commit_message,
                    created_by=created_by,
                    trigger=trigger,
                    actor=actor,
                ),
            )

    async def rollback(
        self, service_id: str, deployment_id: str, created_by: str | None, actor: str | None = None
    ) -> Deployment:
        async with self.db.tx() as tx:
            service = await load_service(tx, service_id)
            target = await load_deployment(tx, deployment_id)
            if target.service_id != service_id:
                raise not_found("Deployment")
            if not target.was_healthy:
                raise Error(INVALID, "Only a deployment that was healthy once can be rolled back to.")
            if service.config != target.config:
                # What is configured is what runs: a later unrelated deploy keeps the rolled-back version.
                service.config = target.config
                await save_service(tx, service)
            await restore_service_env(tx, service, target.service_env)
            return await insert_deployment(
                tx,
                DeploymentCreate(
                    service_id=service_id,
                    config=target.config,
                    env_vars=target.env_vars,
                    image=target.image,
                    commit_sha=target.commit_sha,
                    commit_message=target.commit_message,
                    created_by=created_by,
                    rollback_of=target.id,
                    trigger=DeploymentTrigger.ROLLBACK,
                    actor=actor,
                ),
            )

    async def retry(
        self, service_id: str, deployment_id: str, created_by: str | None, actor: str | None = None
    ) -> Deployment:
        async with self.db.tx() as tx:
            await load_service(tx, service_id)
            target = await load_deployment(tx, deployment_id)
            if target.service_id != service_id:
                raise not_found("Deployment")
            if target.status not in (DeploymentStatus.FAILED, DeploymentStatus.CANCELLED):
                raise Error(INVALID, "Only a failed or cancelled deployment can be retried.")
            return await insert_deployment(
                tx,
                DeploymentCreate(
                    service_id=service_id,
                    config=target.config,
                    env_vars=target.env_vars,
                    image=target.image,
                    commit_sha=target.commit_sha,
                    commit_message=target.commit_message,
                    created_by=created_by,
                    trigger=DeploymentTrigger.RETRY,
                    actor=actor,
                ),
            )

    async def revert_config(self, service_id: str) -> Service:
        async with self.db.tx() as tx:
            service = await load_service(tx, service_id)
            running = await deployed_row(tx, service)
            if running is None:
                raise Error(CONFLICT, "Nothing runs for this service yet; there is no config to go back to.")
            deployed = decode_config(tx, running["config"])
            if service.config != deployed:
                service.config = deployed
                service = await save_service(tx, service)
            kept = running["service_env"]
            await restore_service_env(tx, service, None if kept is None else json.loads(tx.unseal(kept)))
            return await with_deploy_state(tx, service)

    async def _transition(self, id: str, target: DeploymentStatus, sets: dict[str, Any]) -> Deployment:
        async with self.db.tx() as tx:
            current = await load_deployment(tx, id)
            check_transition(current.status, target)
            await self._write(tx, id, target, sets)
            deployment = await load_deployment(tx, id)
            extra = {"failure_reason": deployment.failure_reason} if target == DeploymentStatus.FAILED else {}
            publish_status(tx, deployment, **extra)
            return deployment

    @staticmethod
    async def _write(tx: Tx, id: str, status: DeploymentStatus, sets: dict[str, Any]) -> None:
        columns = {"status": status.value, **sets}
        assignments = ", ".join(f"{c} = ?" for c in columns)
        await tx.execute(f"UPDATE deployments SET {assignments} WHERE id = ?", (*columns.values(), id))

    async def mark_building(self, id: str) -> Deployment:
        return await self._transition(id, DeploymentStatus.BUILDING, {"started_at": to_text(self.db.clock.now())})

    async def mark_starting(
        self,
        id: str,
        image: str | None = None,
        commit_sha: str | None = None,
        commit_message: str | None = None,
    ) -> Deployment:
        async with self.db.tx() as tx:
            current = await load_deployment(tx, id)
            check_transition(current.status, DeploymentStatus.STARTING)
            sets: dict[str, Any] = {"started_at": to_text(current.started_at or tx.now())}
            for column, value in (("image", image), ("commit_sha", commit_sha), ("commit_message", commit_message)):
                if value is not None:
                    sets[column] = value
            await self._write(tx, id, DeploymentStatus.STARTING, sets)
            deployment = await load_deployment(tx, id)
            publish_status(tx, deployment)
            return deployment

    async def mark_healthy(self, id: str) -> Deployment:
        async with self.db.tx() as tx:
            current = await load_deployment(tx, id)
            check_transition(current.status, DeploymentStatus.HEALTHY)
            now = to_text(tx.now())
            await tx.execute(
                "UPDATE deployments SET status = ?, finished_at = ? WHERE service_id = ? AND status = ? AND id != ?",
                (DeploymentStatus.SUPERSEDED.value, now, current.service_id, DeploymentStatus.HEALTHY.value, id),
            )
            await self._write(tx, id, DeploymentStatus.HEALTHY, {"healthy_at": now, "was_healthy": 1})
            await tx.execute(
                "UPDATE services SET active_deployment_id = ?, updated_at = ? WHERE id = ?",
                (id, now, current.service_id),
            )
            deployment = await load_deployment(tx, id)
            publish_status(tx, deployment)
            return deployment

    async def mark_failed(self, id: str, failure: DeploymentFailure) -> Deployment:
        return await self._transition(
            id,
            DeploymentStatus.FAILED,
            {
                "failure_reason": failure.reason,
                "exit_code": failure.exit_code,
                "log_tail": clip_log(failure.log_tail) if failure.log_tail is not None else None,
                "finished_at": to_text(self.db.clock.now()),
            },
        )

    async def mark_cancelled(self, id: str) -> Deployment:
        return await self._transition(id, DeploymentStatus.CANCELLED, {"finished_at": to_text(self.db.clock.now())})

    async def record_attempt(self, id: str) -> Deployment:
        async with self.db.tx() as tx:
            if await tx.execute("UPDATE deployments SET attempt_count = attempt_count + 1 WHERE id = ?", (id,)) == 0:
                raise not_found("Deployment")
            return await load_deployment(tx, id)

    async def append_log(self, id: str, text: str) -> None:
        async with self.db.tx() as tx:
            row = await tx.fetchone("SELECT log, log_end, service_id, project_id FROM deployments WHERE id = ?", (id,))
            if row is None:
                raise not_found("Deployment")
            if not text:
                return
            combined = str(row["log"]) + text
            if len(combined.encode()) > MAX_LOG_BYTES:
                combined = clip_log(combined, MAX_LOG_BYTES)
            start = int(row["log_end"])
            end = start + len(text)
            await tx.execute("UPDATE deployments SET log = ?, log_end = ? WHERE id = ?", (combined, end, id))
            # Published after commit, while no other append can commit: the events keep the log's order.
            payload = {"deployment_id": id, "line": text.removesuffix("\n"), "start": start, "end": end}
            tx.publish(Event(EventType.BUILD_LOG, row["project_id"], row["service_id"], payload))

    async def get_log(self, id: str) -> str:
        async with self.db.read() as tx:
            log = await tx.scalar("SELECT log FROM deployments WHERE id = ?", (id,))
        if log is None:
            raise not_found("Deployment")
        return str(log)

    async def read_log(self, id: str) -> DeploymentLog:
        async with self.db.read() as tx:
            # One statement: the text and its end come from the same commit.
            row = await tx.fetchone("SELECT log, log_end FROM deployments WHERE id = ?", (id,))
        if row is None:
            raise not_found("Deployment")
        return DeploymentLog(text=str(row["log"]), end=int(row["log_end"]))
