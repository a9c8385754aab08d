"""The API's JSON bodies as domain entities (the inverse of the server's rendering)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deploykit.auth import APIKey, AuthTokens
from deploykit.deployment import Deployment, DeploymentStatus, DeploymentTrigger
from deploykit.env_edit import EnvEditResult, KeyEdit
from deploykit.envvar import EnvVar, Scope
from deploykit.ingress import Domain, TLSStatus
from deploykit.pending_change import ApplyResult, ChangeKind, PendingChange
from deploykit.project import Project
from deploykit.service import Service, ServiceConfig, ServiceStatus
from deploykit.staged_diff import DiffStatus, EnvDiff, EnvOp, FieldDiff, ScopeDiff
from deploykit.user import Role, User

Body = dict[str, Any]


def parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def project(d: Body) -> Project:
    return Project(
        id=d["id"],
        name=d["name"],
        slug=d["slug"],
        created_at=parse_time(d.get("created_at")),
        updated_at=parse_time(d.get("updated_at")),
    )


def service(d: Body) -> Service:
    # A service's config fields sit at the top level of its JSON, as in the API's service shape.
    return Service(
        id=d["id"],
        project_id=d["project_id"],
        name=d["name"],
        slug=d["slug"],
        config=ServiceConfig.from_dict(d),
        status=ServiceStatus(d["status"]),
        active_deployment_id=d.get("active_deployment_id"),
        group_id=d.get("group_id"),
        stopped=bool(d.get("stopped", False)),
        drain_s=float(d.get("drain_s", 10.0)),
        created_at=parse_time(d.get("created_at")),
        updated_at=parse_time(d.get("updated_at")),
    )


def deployment(d: Body) -> Deployment:
    return Deployment(
        id=d["id"],
        service_id=d["service_id"],
        project_id=d["project_id"],
        status=DeploymentStatus(d["status"]),
        config=ServiceConfig.from_dict(d),
        env_vars=dict(d.get("env_vars") or {}),
        image=d.get("image"),
        commit_sha=d.get("commit_sha"),
        commit_message=d.get("commit_message"),
        failure_reason=d.get("failure_reason"),
        exit_code=d.get("exit_code"),
        log_tail=d.get("log_tail"),
        attempt_count=int(d.get("attempt_count") or 0),
        rollback_of=d.get("rollback_of"),
        created_by=d.get("created_by"),
        created_at=parse_time(d.get("created_at")),
        started_at=parse_time(d.get("started_at")),
        healthy_at=parse_time(d.get("healthy_at")),
        finished_at=parse_time(d.get("finished_at")),
        was_healthy=d.get("healthy_at") is not None,
        trigger=DeploymentTrigger(d.get("trigger") or DeploymentTrigger.DEPLOY),
        changes=tuple(d.get("changes") or ()),
        actor=d.get("actor"),
    )


def env_var(d: Body, project_id: str) -> EnvVar:
    return EnvVar(
        id=d["id"],
        project_id=project_id,
        scope=Scope(d["scope"]),
        scope_id=d["scope_id"],
        key=d["key"],
        value=d["value"],
        created_at=parse_time(d.get("created_at")),
        updated_at=parse_time(d.get("updated_at")),
    )


def pending_change(d: Body) -> PendingChange:
    return PendingChange(
        id=d["id"],
        project_id=d["project_id"],
        kind=ChangeKind(d["kind"]),
        payload=dict(d.get("payload") or {}),
        target_id=d.get("target_id"),
        target_temp_id=d.get("target_temp_id"),
        before=d.get("before"),
        created_by=d.get("created_by"),
        created_at=parse_time(d.get("created_at")),
    )


def apply_result(d: Body) -> ApplyResult:
    return ApplyResult(
        applied_count=int(d["applied_count"]),
        temp_id_to_service_id=dict(d.get("temp_id_to_service_id") or {}),
        created_deployments=list(d.get("created_deployments") or []),
    )


def user(d: Body) -> User:
    return User(
        id=d["id"],
        email=d["email"],
        name=d["name"],
        role=Role(d["role"]),
        created_at=parse_time(d.get("created_at")),
        updated_at=parse_time(d.get("updated_at")),
    )


def tokens(d: Body) -> AuthTokens:
    expires = parse_time(d.get("expires_at"))
    assert expires is not None
    return AuthTokens(access_token=d["access_token"], refresh_token=d["refresh_token"], expires_at=expires)


def api_key(d: Body, user_id: str) -> APIKey:
    return APIKey(
        id=d["id"],
        user_id=user_id,
        description=d["description"],
        prefix=d["prefix"],
        created_at=parse_time(d.get("created_at")),
        expires_at=parse_time(d.get("expires_at")),
        last_used_at=parse_time(d.get("last_used_at")),
    )


def domain(d: Body, project_id: str, service_id: str) -> Domain:
    return Domain(
        hostname=d["hostname"],
        project_id=project_id,
        service_id=service_id,
        is_generated=bool(d.get("is_generated", False)),
        dns_ok=d.get("dns_ok"),
        tls_status=TLSStatus(d.get("tls_status") or TLSStatus.PENDING),
        created_at=parse_time(d.get("created_at")),
    )


def scope_diff(d: Body) -> ScopeDiff:
    return ScopeDiff(
        scope=Scope(d["scope"]),
        id=d["id"],
        name=d["name"],
        status=DiffStatus(d["status"]),
        fields=tuple(FieldDiff(f["field"], f["before"], f["after"]) for f in d["fields"]),
        env=tuple(
            EnvDiff(
                e["key"],
                EnvOp(e["op"]),
                e["before"],
                e["after"],
                tuple(e["change_ids"]),
                e.get("resolved"),
                tuple(e.get("problems") or ()),
            )
            for e in d["env"]
        ),
        change_ids=tuple(d["change_ids"]),
        running=tuple(FieldDiff(f["field"], f["before"], f["after"]) for f in d.get("running") or ()),
        after=d.get("after"),
    )


def env_edit_result(d: Body) -> EnvEditResult:
    return EnvEditResult(
        edits=[KeyEdit(e["key"], EnvOp(e["op"]), e["before"], e["after"]) for e in d["edits"]],
        staged=[pending_change(c) for c in d["staged"]],
        discarded=[str(x) for x in d["discarded"]],
        diff=scope_diff(d["diff"]) if d.get("diff") else None,
    )
