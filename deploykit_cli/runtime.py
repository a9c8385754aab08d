"""Running services from the terminal: ``dk deploy``, ``redeploy``, ``rollback``, ``stop``,
``start``, ``restart``, ``deployments`` and ``logs``."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table

from deploykit.deployment import Deployment, DeploymentFilter, DeploymentStatus
from deploykit.service import Service
from deploykit_cli import output
from deploykit_cli.options import JsonOpt, ProjectOpt, ServiceArg, TimeoutOpt, WaitOpt
from deploykit_cli.session import DEPLOY_FAILED, NOT_FOUND_EXIT, UNAVAILABLE_EXIT, Exit, Session, run

LOG_TAIL_LINES = 15


def register(app: typer.Typer) -> None:
    app.command()(deploy)
    app.command()(redeploy)
    app.command()(rollback)
    app.command()(stop)
    app.command()(start)
    app.command()(restart)
    app.command()(deployments)
    app.command()(logs)


class Follower:
    """Follows deployments to the end through their build/start log streams (which end when the
    deployment does), showing each one's latest line; then reads how each ended."""

    def __init__(self, s: Session, names: dict[str, str]) -> None:
        self.s = s
        self.names = names
        self.latest: dict[str, str] = {}
        self.done: dict[str, Deployment] = {}
        self.tty = output.err_console().is_terminal

    def view(self, ids: list[str]) -> Table:
        grid = Table.grid(padding=(0, 2))
        for dep_id in ids:
            name = self.names.get(dep_id, output.short(dep_id))
            done = self.done.get(dep_id)
            mark = output.status_text(done.status.value) if done else Spinner("dots", style="yellow")
            grid.add_row(mark, f"[bold]{name}[/bold]", f"[dim]{self.latest.get(dep_id, '')[:100]}[/dim]")
        return grid

    async def one(self, dep_id: str) -> None:
        async for line in self.s.client.deployments.follow_log(dep_id):
            self.latest[dep_id] = line
            if not self.tty:
                output.err_console().print(f"{self.names.get(dep_id, dep_id)} | {line}", markup=False)
        self.done[dep_id] = await self.s.client.deployments.get_deployment(dep_id)
        if not self.tty:
            output.err_console().print(f"{self.names.get(dep_id, dep_id)}: {self.done[dep_id].status.value}")

    async def follow(self, ids: list[str], deadline_s: float) -> list[Deployment]:
        try:
            async with asyncio.timeout(deadline_s):
                if self.tty:
                    with Live(self.view(ids), console=output.err_console(), refresh_per_second=8) as live:
                        work = asyncio.gather(*(self.one(i) for i in ids))
                        while not work.done():
                            live.update(self.view(ids))
                            await asyncio.wait({work}, timeout=0.125)
                        await work
                        live.update(self.view(ids))
                else:
                    await asyncio.gather(*(self.one(i) for i in ids))
        except TimeoutError:
            waiting = ", ".join(self.names.get(i, i) for i in ids if i not in self.done)
            raise Exit(UNAVAILABLE_EXIT, f"Still deploying after {deadline_s:g}s: {waiting}.") from None
        return [self.done[i] for i in ids]


async def follow(s: Session, deps: list[Deployment], deadline_s: float, names: dict[str, str]) -> list[Deployment]:
    """Wait for ``deps`` to finish. Exits 6 naming each failure and its reason."""
    by_id = {d.id: names.get(d.service_id, output.short(d.service_id)) for d in deps}
    finished = await Follower(s, by_id).follow([d.id for d in deps], deadline_s)
    failed = [d for d in finished if d.status not in (DeploymentStatus.HEALTHY, DeploymentStatus.SUPERSEDED)]
    con = output.err_console()
    for dep in finished:
        if dep not in failed:
            con.print(f"[green]✓[/green] {by_id[dep.id]} is healthy ({output.short(dep.id)}).")
    for dep in failed:
        reason = dep.failure_reason or (
            "cancelled: a newer deployment replaced it"
            if dep.status == DeploymentStatus.CANCELLED
            else dep.status.value
        )
        con.print(f"[red]✗[/red] {by_id[dep.id]} {dep.status.value} ({output.short(dep.id)}): {reason}", markup=True)
        tail = (dep.log_tail or "").strip().splitlines()[-LOG_TAIL_LINES:]
        for line in tail:
            con.print(f"    {line}", markup=False)
    if failed:
        raise Exit(DEPLOY_FAILED, f"{len(failed)} deployment(s) failed.")
    return finished


async def service_names(s: Session, project_id: str) -> dict[str, str]:
    from deploykit.service import ServiceFilter

    found, _ = await s.client.services.list_services(ServiceFilter(project_id=project_id, limit=1000))
    return {svc.id: svc.name for svc in found}


def deploy(
    project: ProjectOpt = None, wait: WaitOpt = False, timeout: TimeoutOpt = 600.0, json: JsonOpt = False
) -> None:
    """Apply every staged change at once; with --wait, follow the deployments until healthy.

    Exits 6 when a deployment fails, printing its reason and last log lines.

    Examples:

      dk deploy

      dk deploy --wait --timeout 300
    """

    async def work() -> None:
        async with Session.open() as s:
            proj = await s.project(project)
            result = await s.client.pending_changes.apply_pending_changes(proj.id, None)
            names = await service_names(s, proj.id)
            deps = [await s.client.deployments.get_deployment(d) for d in result.created_deployments]
            if not json:
                listed = ", ".join(f"{names.get(d.service_id, '?')} ({output.short(d.id)})" for d in deps)
                output.console().print(
                    f"Applied {result.applied_count} change(s)" + (f"; deploying {listed}." if deps else ".")
                )
            if wait and deps:
                deps = await follow(s, deps, timeout, names)
            if json:
                output.print_json({"result": result, "deployments": deps})

    run(work)


async def one_deployment(s: Session, svc: Service, dep: Deployment, wait: bool, deadline_s: float, verb: str) -> None:
    output.console().print(f"{verb} [bold]{svc.name}[/bold]: deployment {output.short(dep.id)}.")
    if wait:
        await follow(s, [dep], deadline_s, {svc.id: svc.name})


def redeploy(
    service: ServiceArg, project: ProjectOpt = None, wait: WaitOpt = False, timeout: TimeoutOpt = 600.0
) -> None:
    """Deploy a service's active config again, with freshly resolved env (and a fresh build for git)."""

    async def work() -> None:
        async with Session.open() as s:
            svc = await s.service(await s.project(project), service)
            dep = await s.client.deployments.redeploy(svc.id, None)
            await one_deployment(s, svc, dep, wait, timeout, "Redeploying")

    run(work)


def rollback(
    service: ServiceArg,
    deployment: Annotated[
        str | None, typer.Argument(help="Deployment id or its first 8 characters (default: the previous healthy one).")
    ] = None,
    project: ProjectOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 600.0,
) -> None:
    """Run an older deployment's snapshot again, through the same readiness gate.

    Examples:

      dk rollback web

      dk rollback web 1a2b3c4d --wait
    """

    async def work() -> None:
        async with Session.open() as s:
            svc = await s.service(await s.project(project), service)
            history, _ = await s.client.deployments.list_deployments(DeploymentFilter(service_id=svc.id, limit=100))
            if deployment is None:
                candidates = [d for d in history if d.was_healthy and d.id != svc.active_deployment_id]
                if not candidates:
                    raise Exit(NOT_FOUND_EXIT, f"'{svc.name}' has no earlier healthy deployment to roll back to.")
                target = candidates[0]
            else:
                wanted = deployment.replace("-", "")
                matches = [d for d in history if d.id == deployment or d.id.replace("-", "").startswith(wanted)]
                if not matches:
                    raise Exit(NOT_FOUND_EXIT, f"Deployment '{deployment}' of '{svc.name}' not found.")
                target = matches[0]
            dep = await s.client.deployments.rollback(svc.id, target.id, None)
            await one_deployment(s, svc, dep, wait, timeout, f"Rolling back to {output.short(target.id)}:")

    run(work)


def switch(service: str, project: str | None, what: str) -> None:
    async def work() -> None:
        async with Session.open() as s:
            svc = await s.service(await s.project(project), service)
            if what == "restart":
                await s.client.services.restart_service(svc.id)
            else:
                await s.client.services.set_service_stopped(svc.id, what == "stop")
            done = {"stop": "Stopped", "start": "Started", "restart": "Restarted"}[what]
            output.console().print(f"{done} [bold]{svc.name}[/bold].")

    run(work)


def stop(service: ServiceArg, project: ProjectOpt = None) -> None:
    """Stop a service; it stays stopped until 'dk start'."""
    switch(service, project, "stop")


def start(service: ServiceArg, project: ProjectOpt = None) -> None:
    """Start a stopped service again."""
    switch(service, project, "start")


def restart(service: ServiceArg, project: ProjectOpt = None) -> None:
    """Restart a service's running replicas one at a time."""
    switch(service, project, "restart")


def deployments(
    service: ServiceArg,
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 20,
    json: JsonOpt = False,
) -> None:
    """List a service's deployments, newest first."""

    async def work() -> None:
        async with Session.open() as s:
            svc = await s.service(await s.project(project), service)
            found, _ = await s.client.deployments.list_deployments(DeploymentFilter(service_id=svc.id, limit=limit))
            if json:
                output.print_json(found)
                return
            rows = [
                [
                    output.short(d.id) + (" *" if d.id == svc.active_deployment_id else ""),
                    output.status_text(d.status.value),
                    d.image or "",
                    output.when(d.created_at),
                    d.failure_reason or "",
                ]
                for d in found
            ]
            output.table(["ID", "STATUS", "IMAGE", "CREATED", "REASON"], rows, empty="No deployments yet.")

    run(work)


def logs(
    service: ServiceArg,
    project: ProjectOpt = None,
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the service stops.")
    ] = False,
    tail: Annotated[int, typer.Option("--tail", "-n", help="Lines to start with, per replica.")] = 100,
    json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print a service's runtime logs (every replica's), optionally following them.

    Examples:

      dk logs web --tail 50

      dk logs web -f
    """

    async def work() -> None:
        async with Session.open() as s:
            svc = await s.service(await s.project(project), service)
            con = output.console()
            async for line in s.client.runtime.service_logs(svc.id, tail=tail, follow=follow_):
                if json:
                    output.print_json_line(line)
                else:
                    style = "red" if line.stream == "stderr" else "dim"
                    con.print(f"[{style}]{line.container_id[:8]}[/{style}] ", end="")
                    con.print(line.line, markup=False)
                    con.file.flush()

    run(work)
