"""The ``dk`` command: logging in, projects, services and their status.

Staging (``add``, ``set``, ``env``, ``diff``, ``discard``) and running (``deploy``, ``logs``...)
register their commands from ``staging.py`` and ``runtime.py``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from deploykit import __version__
from deploykit.auth import APIKeyCreate
from deploykit.errors import Error
from deploykit.project import Project, ProjectCreate, ProjectFilter
from deploykit_cli import output, runtime, staging
from deploykit_cli.config import Config
from deploykit_cli.options import JsonOpt, ProjectOpt, ServiceArg, YesOpt
from deploykit_cli.session import EXIT_CODES_HELP, NOT_FOUND_EXIT, USAGE, Exit, Session, run
from deploykit_http.client import Client

app = typer.Typer(
    name="dk",
    help=(
        "DeployKit from the terminal: stage services and env vars, deploy and follow them, read logs.\n\n"
        "Log in once with [bold]dk login URL[/bold]; CI sets DK_URL and DK_TOKEN instead. "
        "Every read takes --json. "
        "Completion: [bold]dk --install-completion[/bold].\n\n" + EXIT_CODES_HELP
    ),
    epilog=(
        "Examples:\n\n"
        "  dk login https://deploy.example.com --email me@example.com\n\n"
        "  dk use shop\n\n"
        "  dk add web --image nginx:1.27 --port 80\n\n"
        "  dk env set DATABASE_URL=postgres://db/shop --service web\n\n"
        "  dk deploy --wait\n\n"
        "  dk logs web -f"
    ),
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
projects_app = typer.Typer(help="List projects; create or remove one.", no_args_is_help=False)
app.add_typer(projects_app, name="projects")


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"dk {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """DeployKit's command line."""


@app.command()
def login(
    url: Annotated[str, typer.Argument(help="The daemon's address, e.g. https://deploy.example.com")],
    token: Annotated[
        str | None, typer.Option("--token", "-t", help="An API key (dk_...) or access token.", show_default=False)
    ] = None,
    email: Annotated[
        str | None, typer.Option("--email", "-e", help="Log in with a password instead; dk makes itself an API key.")
    ] = None,
    password: Annotated[
        str | None, typer.Option("--password", envvar="DK_PASSWORD", help="The password (asked for when missing).")
    ] = None,
) -> None:
    """Log in to a daemon and remember it (in your config directory, readable by you only).

    With --token, the key or token is checked and stored. With --email, dk logs in with the
    password, creates an API key for this machine, stores the key and ends the session
    (dk logout deletes that key again). With neither, the token is asked for.

    Examples:

      dk login https://deploy.example.com --token dk_0123...

      dk login http://localhost:8080 --email ada@example.com
    """
    if token is None and email is None:
        token = typer.prompt("API key or token", hide_input=True)
    if email is not None and password is None:
        password = typer.prompt("Password", hide_input=True)

    async def work() -> None:
        if not url.startswith(("http://", "https://")):
            raise Exit(USAGE, f"'{url}' is not a URL: write http://... or https://...")
        config = Config.load()
        api_key_id: str | None = None
        async with Client(url) as client:
            if email is not None:
                assert password is not None
                tokens = await client.auth.login(email, password)
                client.transport.token = tokens.access_token
                user = await client.auth.me()
                key, secret = await client.auth.create_api_key(
                    user.id, APIKeyCreate(description=f"dk on {socket.gethostname()}")
                )
                await client.auth.logout("")
                api_key_id, stored = key.id, secret
            else:
                assert token is not None
                stored = token
                user = (await client.auth.authenticate(stored)).user
        config.url, config.token, config.api_key_id = url.rstrip("/"), stored, api_key_id
        path = config.save()
        output.console().print(f"Logged in to {config.url} as [bold]{user.email}[/bold] ({path}).")

    run(work)


@app.command()
def logout() -> None:
    """Forget the stored login (and delete the API key dk login made for it)."""

    async def work() -> None:
        config = Config.load()
        if config.url and config.token and config.api_key_id:
            async with Client(config.url, config.token) as client:
                try:
                    await client.auth.delete_api_key("", config.api_key_id)
                except Error as exc:
                    output.err_console().print(f"[yellow]The API key was not deleted:[/yellow] {exc.message}")
        was = config.url
        config.url = config.token = config.api_key_id = None
        config.save()
        output.console().print(f"Logged out of {was}." if was else "Not logged in.")

    run(work)


@app.command()
def whoami(json: JsonOpt = False) -> None:
    """Who the stored login (or DK_TOKEN) is, and on which daemon."""

    async def work() -> None:
        async with Session.open() as s:
            user = await s.client.auth.me()
            if json:
                output.print_json({"url": s.client.base_url, "user": user})
            else:
                output.console().print(f"{user.name} <{user.email}> ({user.role.value}) on {s.client.base_url}")

    run(work)


def project_rows(projects: list[Project]) -> list[list[str]]:
    return [[p.name, p.slug, p.id, output.when(p.created_at)] for p in projects]


@projects_app.callback(invoke_without_command=True)
def projects(ctx: typer.Context, json: JsonOpt = False) -> None:
    """List your projects.

    Examples:

      dk projects

      dk projects create Shop

      dk projects rm Shop --yes
    """
    if ctx.invoked_subcommand is not None:
        return

    async def work() -> None:
        async with Session.open() as s:
            found, _ = await s.client.projects.list_projects(ProjectFilter(limit=1000))
            if json:
                output.print_json(found)
            else:
                output.table(["NAME", "SLUG", "ID", "CREATED"], project_rows(found), empty="No projects yet.")

    run(work)


@projects_app.command("create")
def projects_create(
    name: Annotated[str, typer.Argument(help="The new project's name.")],
    use: Annotated[bool, typer.Option("--use", help="Also remember it for this directory.")] = False,
    json: JsonOpt = False,
) -> None:
    """Create a project (at once: it gets its own network)."""

    async def work() -> None:
        async with Session.open() as s:
            project = await s.client.projects.create_project(ProjectCreate(name=name))
            if use:
                remember(s.config, project)
            if json:
                output.print_json(project)
            else:
                output.console().print(f"Created project [bold]{project.name}[/bold] ({project.slug}).")

    run(work)


@projects_app.command("rm")
def projects_rm(
    name: Annotated[str, typer.Argument(help="Project name, slug or id.")],
    yes: YesOpt = False,
) -> None:
    """Delete a project with its services, containers, network and volumes."""

    async def work() -> None:
        async with Session.open() as s:
            project = await s.project(name)
            if not yes and not typer.confirm(f"Delete project '{project.name}' and everything it runs?"):
                raise Exit(USAGE, "Not deleted.")
            await s.client.projects.delete_project(project.id)
            output.console().print(f"Deleted project [bold]{project.name}[/bold].")

    run(work)


def remember(config: Config, project: Project) -> None:
    config.projects[str(Path.cwd())] = project.id
    config.save()


@app.command()
def use(project: Annotated[str, typer.Argument(help="Project name, slug or id.")]) -> None:
    """Remember a project for this directory (and the ones below it), so --project can be left out."""

    async def work() -> None:
        async with Session.open() as s:
            found = await s.project(project)
            remember(s.config, found)
            output.console().print(f"Using project [bold]{found.name}[/bold] in {Path.cwd()}.")

    run(work)


@app.command()
def services(project: ProjectOpt = None, json: JsonOpt = False) -> None:
    """List a project's services (applied ones; staged ones show in 'dk diff')."""

    async def work() -> None:
        async with Session.open() as s:
            found = await s.services(await s.project(project))
            if json:
                output.print_json(found)
                return
            rows = [
                [svc.name, output.source_text(svc.config), svc.config.port or "", svc.config.replicas, svc.status.value]
                for svc in found
            ]
            output.table(["NAME", "SOURCE", "PORT", "REPLICAS", "STATUS"], rows, empty="No services yet.")

    run(work)


@app.command()
def status(project: ProjectOpt = None, json: JsonOpt = False) -> None:
    """Each service's state, active deployment and URLs; and how many changes are staged."""

    async def work() -> None:
        async with Session.open() as s:
            proj = await s.project(project)
            found = await s.services(proj)
            staged = await s.client.pending_changes.list_pending_changes(proj.id)
            urls = {svc.id: await service_urls(s, svc.id) if svc.config.port else [] for svc in found}
            if json:
                output.print_json(
                    {
                        "project": proj,
                        "services": [{"service": svc, "urls": urls[svc.id]} for svc in found],
                        "pending_changes": len(staged),
                    }
                )
                return
            output.console().print(f"Project [bold]{proj.name}[/bold]")
            rows = [
                [
                    svc.name,
                    output.status_text("stopped" if svc.stopped else svc.status.value),
                    output.short(svc.active_deployment_id),
                    " ".join(urls[svc.id]),
                ]
                for svc in found
            ]
            output.table(["SERVICE", "STATE", "DEPLOYMENT", "URL"], rows, empty="No services yet.")
            if staged:
                output.console().print(f"[yellow]{len(staged)} staged change(s)[/yellow]: see 'dk diff'.")

    run(work)


async def service_urls(s: Session, service_id: str) -> list[str]:
    domains = await s.client.domains.list_domains(service_id)
    return [("http://" if d.tls_status.value == "none" else "https://") + d.hostname for d in domains]


@app.command("open")
def open_service(
    service: ServiceArg,
    project: ProjectOpt = None,
    browser: Annotated[bool, typer.Option("--browser/--no-browser", help="Open it in a browser.")] = True,
) -> None:
    """Print a service's URL and open it in a browser."""

    async def work() -> None:
        async with Session.open() as s:
            svc = await s.service(await s.project(project), service)
            urls = await service_urls(s, svc.id)
            if not urls:
                raise Exit(NOT_FOUND_EXIT, f"Service '{svc.name}' has no URL (it needs a port).")
            typer.echo(urls[0])
            if browser:
                typer.launch(urls[0])

    run(work)


staging.register(app)
runtime.register(app)


def main() -> None:
    app()
