"""Domain entities in their JSON form (the shapes ``models.py`` declares for OpenAPI).

Rendering is plain dict building: it is on every request's hot path and the response models are
only the documentation of these shapes (the schemathesis suite checks that they agree).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from deploykit.auth import APIKey, AuthTokens
from deploykit.build import DeployKeyPair
from deploykit.canvas import CanvasEdge, CanvasNode
from deploykit.container import ContainerRecord
from deploykit.deployment import Deployment
from deploykit.envvar import EnvVar
from deploykit.health import HealthResult, ReplicaHealth
from deploykit.ingress import Domain, generated_hostname
from deploykit.pending_change import ApplyResult, PendingChange
from deploykit.project import Project
from deploykit.repository import redact_source
from deploykit.service import Service, ServiceConfig
from deploykit.user import User
from deploykit.webhook import Webhook, WebhookDelivery


def iso(value: datetime | None) -> str | None:
    """``deploykit.clock.isoformat`` (ISO-8601 UTC with ``Z``), three times faster: orjson formats
    the instant in C. A list page formats dozens of timestamps per request, and
    ``datetime.isoformat`` alone was a tenth of the request's cost."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)[1:-1].decode()


def user(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "role": u.role.value,
        "created_at": iso(u.created_at),
        "updated_at": iso(u.updated_at),
    }


def tokens(t: AuthTokens) -> dict[str, Any]:
    return {"access_token": t.access_token, "refresh_token": t.refresh_token, "expires_at": iso(t.expires_at)}


def api_key(k: APIKey, token: str | None = None) -> dict[str, Any]:
    out = {
        "id": k.id,
        "description": k.description,
        "prefix": k.prefix,
        "created_at": iso(k.created_at),
        "expires_at": iso(k.expires_at),
        "last_used_at": iso(k.last_used_at),
    }
    if token is not None:
        out["token"] = token
    return out


def project(p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "slug": p.slug,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
    }


def config(c: ServiceConfig) -> dict[str, Any]:
    out = c.to_dict()
    out["source"] = redact_source(out["source"])
    if out["health_check"] is not None:
        out["health_check"] = dict(out["health_check"])
    return out


def service(s: Service, project_slug: str | None = None, base_domain: str | None = None) -> dict[str, Any]:
    domains: list[str] = []
    if s.config.port is not None and project_slug and base_domain:
        domains.append(generated_hostname(s.slug, project_slug, base_domain))
    return {
        "id": s.id,
        "project_id": s.project_id,
        "name": s.name,
        "slug": s.slug,
        **config(s.config),
        "status": s.status.value,
        "active_deployment_id": s.active_deployment_id,
        "group_id": s.group_id,
        "stopped": s.stopped,
        "domains": domains,
        "drain_s": s.drain_s,
        "rollout": "stop-first" if s.config.rolls_stop_first else "start-first",
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
    }


def deployment(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.id,
        "service_id": d.service_id,
        "project_id": d.project_id,
        "status": d.status.value,
        "image": d.image,
        **config(d.config),
        "commit_sha": d.commit_sha,
        "commit_message": d.commit_message,
        "env_vars": dict(d.env_vars),
        "failure_reason": d.failure_reason,
        "exit_code": d.exit_code,
        "log_tail": d.log_tail,
        "attempt_count": d.attempt_count,
        "rollback_of": d.rollback_of,
        "created_by": d.created_by,
        "created_at": iso(d.created_at),
        "started_at": iso(d.started_at),
        "healthy_at": iso(d.healthy_at),
        "finished_at": iso(d.finished_at),
    }


def container(c: ContainerRecord) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "project_id": c.project_id,
        "service_id": c.service_id,
        "deployment_id": c.deployment_id,
        "replica_index": c.replica_index,
        "state": c.state,
        "exit_code": c.exit_code,
        "restart_count": c.restart_count,
        "ip_address": c.ip_address,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


def env_var(e: EnvVar) -> dict[str, Any]:
    return {
        "id": e.id,
        "scope": e.scope.value,
        "scope_id": e.scope_id,
        "key": e.key,
        "value": e.value,
        "created_at": iso(e.created_at),
        "updated_at": iso(e.updated_at),
    }


def redacted_payload(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """A change's payload as every member may see it: a repository URL's credentials hidden."""
    if payload is None or "source" not in payload:
        return payload
    return {**payload, "source": redact_source(payload["source"])}


def pending_change(c: PendingChange) -> dict[str, Any]:
    return {
        "id": c.id,
        "project_id": c.project_id,
        "kind": c.kind.value,
        "payload": redacted_payload(c.payload),
        "target_id": c.target_id,
        "target_temp_id": c.target_temp_id,
        "before": redacted_payload(c.before),
        "created_by": c.created_by,
        "created_at": iso(c.created_at),
    }


def apply_result(r: ApplyResult) -> dict[str, Any]:
    return {
        "applied_count": r.applied_count,
        "temp_id_to_service_id": dict(r.temp_id_to_service_id),
        "created_deployments": list(r.created_deployments),
    }


def node(n: CanvasNode) -> dict[str, Any]:
    return {
        "id": n.id,
        "project_id": n.project_id,
        "type": n.type.value,
        "position_x": n.position_x,
        "position_y": n.position_y,
        "width": n.width,
        "height": n.height,
        "parent_id": n.parent_id,
        "data": n.data,
        "created_at": iso(n.created_at),
        "updated_at": iso(n.updated_at),
    }


def edge(e: CanvasEdge) -> dict[str, Any]:
    return {
        "id": e.id,
        "project_id": e.project_id,
        "source": e.source,
        "target": e.target,
        "type": e.type.value,
        "managed": e.managed,
        "data": e.data,
        "created_at": iso(e.created_at),
    }


def page(items: list[dict[str, Any]], total: int, offset: int, limit: int) -> dict[str, Any]:
    return {"data": items, "total_count": total, "offset": offset, "limit": limit}


def health_result(container_id: str, r: HealthResult) -> dict[str, Any]:
    return {
        "container_id": container_id,
        "ok": r.ok,
        "latency_ms": r.latency_ms,
        "status_code": r.status_code,
        "error": r.error,
        "checked_at": iso(r.checked_at),
    }


def replica_health(r: ReplicaHealth) -> dict[str, Any]:
    return {
        "container_id": r.container_id,
        "deployment_id": r.deployment_id,
        "replica_index": r.replica_index,
        "healthy": r.healthy,
        "consecutive_failures": r.consecutive_failures,
        "consecutive_successes": r.consecutive_successes,
        "restarts": r.restarts,
        "last_result": health_result(r.container_id, r.last_result) if r.last_result is not None else None,
        "since": iso(r.since),
    }


def domain(d: Domain) -> dict[str, Any]:
    return {
        "hostname": d.hostname,
        "is_generated": d.is_generated,
        "dns_ok": d.dns_ok,
        "tls_status": d.tls_status.value,
        "created_at": iso(d.created_at),
    }


def webhook(hook: Webhook, url: str) -> dict[str, Any]:
    """``url`` is where the provider delivers: it depends on the address the API was reached at."""
    return {
        "id": hook.id,
        "provider": hook.provider.value,
        "url": url,
        "secret": hook.secret,
        "enabled": hook.enabled,
        "created_at": iso(hook.created_at),
    }


def delivery(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "event": d.event,
        "branch": d.branch,
        "commit_sha": d.commit_sha,
        "author": d.author,
        "message": d.message,
        "status": d.status.value,
        "reason": d.reason,
        "deployment_id": d.deployment_id,
        "delivered_at": iso(d.delivered_at),
    }


def deploy_key(pair: DeployKeyPair) -> dict[str, Any]:
    return {"public_key": pair.public_key, "fingerprint": pair.fingerprint}  # never the private half
