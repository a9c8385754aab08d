"""One ``dk`` invocation: the client it talks through, the project and services it names, and
the exit code each kind of failure ends with."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from deploykit.errors import (
    CONFLICT,
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
    Error,
    ValidationError,
)
from deploykit.pending_change import ChangeKind
from deploykit.project import Project, ProjectFilter
from deploykit.service import Service, ServiceFilter
from deploykit.staging import ServiceTarget
from deploykit_cli.config import Config
from deploykit_cli.output import err_console
from deploykit_http.client import Client

T = TypeVar("T")

# Exit codes, documented in ``dk --help`` and the README.
OK = 0
FAILURE = 1
USAGE = 2
AUTH = 3
NOT_FOUND_EXIT = 4
CONFLICT_EXIT = 5
DEPLOY_FAILED = 6
UNAVAILABLE_EXIT = 7

EXIT_BY_CODE = {
    INVALID: USAGE,
    UNAUTHORIZED: AUTH,
    FORBIDDEN: AUTH,
    NOT_FOUND: NOT_FOUND_EXIT,
    CONFLICT: CONFLICT_EXIT,
    UNAVAILABLE: UNAVAILABLE_EXIT,
    RATE_LIMITED: UNAVAILABLE_EXIT,
}

EXIT_CODES_HELP = (
    "Exit codes: 0 ok · 1 unexpected error · 2 bad usage or invalid input · 3 not logged in or not allowed · "
    "4 not found · 5 conflict · 6 a deployment failed · 7 daemon unreachable, busy or too slow."
)


class Exit(Exception):
    """Leave ``run`` with ``code`` after printing ``message`` on stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def fail(error: Error) -> Exit:
    return Exit(EXIT_BY_CODE.get(error.code, FAILURE), describe(error))


def describe(error: Error) -> str:
    if isinstance(error, ValidationError) and len(error.fields) > 1:
        lines = [f"  {name}: {'; '.join(reasons)}" for name, reasons in error.fields.items()]
        return "Invalid input:\n" + "\n".join(lines)
    text = error.message
    if error.code == UNAUTHORIZED:
        text += " Log in with 'dk login URL'."
    return text


def run(work: Callable[[], Awaitable[T]]) -> T:
    """Run one command's coroutine; turn its failure into a message and an exit code."""
    try:
        return asyncio.run(_guard(work))
    except Exit as exc:
        err_console().print(f"[red]Error:[/red] {exc.message}", markup=True)
        raise SystemExit(exc.code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def run_quietly(work: Callable[[], Coroutine[Any, Any, T]]) -> T | None:
    """Run a coroutine whose failure is no one's business (shell completion): None then."""
    try:
        return asyncio.run(work())
    except (Error, Exit, SystemExit, OSError):
        return None


async def _guard(work: Callable[[], Awaitable[T]]) -> T:
    try:
        return await work()
    except Error as exc:
        raise fail(exc) from exc


class Session:
    """The logged-in client of this invocation, and name resolution for projects and services."""

    def __init__(self, config: Config, client: Client) -> None:
        self.config = config
        self.client = client

    @classmethod
    def open(cls, config: Config | None = None, *, timeout: float = 30.0) -> Session:
        config = config or Config.load()
        url, token = config.effective_url(), config.effective_token()
        if not url or not token:
            raise Exit(AUTH, "Not logged in: run 'dk login URL' (or set DK_URL and DK_TOKEN).")
        return cls(config, Client(url, token, timeout=timeout))

    async def __aenter__(self) -> Session:
        await self.client.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def project(self, name: str | None) -> Project:
        """``--project`` (name, slug or id), else ``DK_PROJECT``, else the one remembered here."""
        wanted = name or self.config.remembered_project(Path.cwd())
        if not wanted:
            raise Exit(
                USAGE, "No project: pass --project NAME, set DK_PROJECT, or run 'dk use NAME' in this directory."
            )
        found, _ = await self.client.projects.list_projects(ProjectFilter(limit=1000))
        for project in found:
            if wanted in (project.id, project.slug) or wanted.lower() == project.name.lower():
                return project
        raise Exit(NOT_FOUND_EXIT, f"Project '{wanted}' not found.")

    async def services(self, project: Project) -> list[Service]:
        found, _ = await self.client.services.list_services(ServiceFilter(project_id=project.id, limit=1000))
        return found

    async def service(self, project: Project, name: str) -> Service:
        """An applied service by name, slug or id. Exits 4 when there is none."""
        for svc in await self.services(project):
            if name in (svc.id, svc.slug) or name.lower() == svc.name.lower():
                return svc
        raise Exit(NOT_FOUND_EXIT, f"Service '{name}' not found in project '{project.name}'.")

    async def target(self, project: Project, name: str) -> ServiceTarget:
        """A service that staged changes can address: applied, or staged for creation (by
        name, slug, id or temp id). Exits 4 when there is none."""
        wanted = name
        try:
            wanted = (await self.service(project, name)).id
        except Exit:
            for change in await self.client.pending_changes.list_pending_changes(project.id):
                staged_name = str(change.payload.get("name", ""))
                if change.kind == ChangeKind.SERVICE_CREATE and name.lower() == staged_name.lower():
                    wanted = str(change.target_temp_id)
        try:
            return await self.client.pending_changes.get_service_target(project.id, wanted)
        except Error as exc:
            if exc.code == NOT_FOUND:
                raise Exit(NOT_FOUND_EXIT, f"Service '{name}' not found in project '{project.name}'.") from None
            raise


def warn(message: str) -> None:
    print(message, file=sys.stderr)
