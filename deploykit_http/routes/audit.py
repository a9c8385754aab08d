"""The audit log, read-only. Admins see every entry; members see the entries about projects
(today every member sees every project), never users, keys or logins."""

from __future__ import annotations

from typing import Any

from deploykit.audit import AuditFilter
from deploykit_http import models_notify as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.shapes import page
from deploykit_http.shapes.notify import AuditPage, audit_entry_out


def endpoints(ctx: Context) -> list[Endpoint]:
    async def list_entries(call: Call) -> Any:
        q: m.AuditQuery = call.query
        filt = AuditFilter(
            project_id=q.project,
            user_id=q.user,
            action=q.action,
            since=q.since,
            projects_only=not call.user.is_admin,
            offset=q.offset,
            limit=q.limit,
        )
        items, total = await ctx.audit().list_entries(filt)
        return page([audit_entry_out(e) for e in items], total, q.offset, q.limit)

    return [
        Endpoint(
            "GET",
            "/audit-log",
            list_entries,
            "The audit log, newest first (members: project entries only)",
            "audit",
            query=m.AuditQuery,
            response=AuditPage,
            errors=(422, 503),
        )
    ]
