"""What each notification says, in one sentence a person reads on a phone."""

from __future__ import annotations

from typing import Any

from deploykit.deployment import Deployment
from deploykit.notification import NotificationKind


def describe(
    kind: NotificationKind, payload: dict[str, Any], service: str | None, deployment: Deployment | None
) -> str:
    name = service or "A service"
    short = deployment.short_id if deployment is not None else str(payload.get("deployment_id") or "")[:8]
    reason = (deployment.failure_reason if deployment is not None else None) or payload.get("reason") or ""
    replica = payload.get("replica_index")
    if kind is NotificationKind.DEPLOYMENT_FAILED:
        return f"Deployment {short} of {name} failed" + (f": {reason}" if reason else ".")
    if kind is NotificationKind.BUILD_FAILED:
        return f"The build of deployment {short} of {name} failed" + (
            f": {reason.removeprefix('build failed: ')}" if reason else "."
        )
    if kind is NotificationKind.DEPLOYMENT_HEALTHY:
        return f"Deployment {short} of {name} is healthy and serving."
    if kind is NotificationKind.SERVICE_UNHEALTHY:
        return f"{name} replica {replica} is unhealthy" + (f": {reason}" if reason else ".")
    if kind is NotificationKind.SERVICE_RECOVERED:
        return f"{name} replica {replica} recovered" + (f": {reason}" if reason else ".")
    if kind is NotificationKind.CRASH_LOOP:
        return f"{name} replica {replica} is crash-looping ({payload.get('restarts')} restarts in a short time)."
    if kind is NotificationKind.DISK_HIGH:
        return f"The disk at {payload.get('path')} is {float(payload.get('percent') or 0):.0f}% full."
    if kind is NotificationKind.BACKUP_FAILED:
        return "A backup failed" + (f": {reason}" if reason else ".")
    return "A test notification."
