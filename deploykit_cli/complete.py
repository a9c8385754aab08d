"""Shell completion of project and service names, asked of the daemon (briefly: a slow or
absent daemon completes nothing rather than hanging the shell)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import typer

from deploykit.pending_change import ChangeKind
from deploykit.project import ProjectFilter
from deploykit_cli.config import Config
from deploykit_cli.session import Session, run_quietly

TIMEOUT_S = 3.0


def _matching(names: Callable[[Session], Awaitable[list[str]]], incomplete: str) -> list[str]:
    async def work() -> list[str]:
        session = Session.open(Config.load(), timeout=TIMEOUT_S)
        async with session as s:
            return await names(s)

    found = run_quietly(work) or []
    return sorted({n for n in found if n.lower().startswith(incomplete.lower())})


def project_names(incomplete: str) -> list[str]:
    async def names(s: Session) -> list[str]:
        found, _ = await s.client.projects.list_projects(ProjectFilter(limit=1000))
        return [p.name for p in found]

    return _matching(names, incomplete)


def service_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """The project's applied services and those staged for creation."""
    project = ctx.params.get("project")

    async def names(s: Session) -> list[str]:
        proj = await s.project(project if isinstance(project, str) else None)
        applied = [svc.name for svc in await s.services(proj)]
        staged = [
            str(c.payload.get("name"))
            for c in await s.client.pending_changes.list_pending_changes(proj.id)
            if c.kind == ChangeKind.SERVICE_CREATE
        ]
        return applied + staged

    return _matching(names, incomplete)
