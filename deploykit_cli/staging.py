"""Staging from the terminal: ``dk add``, ``dk set``, ``dk env``, ``dk diff``, ``dk discard``.

Nothing here changes what runs: each command appends pending changes, ``dk deploy`` applies them.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from dotenv import dotenv_values

from deploykit.drift import ENV_PREFIX
from deploykit.envvar import EnvVar, EnvVarFilter, Scope
from deploykit.errors import FieldErrors, ValidationError
from deploykit.health import HealthCheck, HealthCheckType
from deploykit.pending_change import ChangeKind, PendingChange, PendingChangeCreate
from deploykit.project import Project
from deploykit.service import (
    GitSource,
    ImageSource,
    Resources,
    RestartPolicy,
    ServiceConfig,
    ServiceUpdate,
    Source,
)
from deploykit.staged_diff import DiffStatus, EnvOp, FieldDiff, ScopeDiff
from deploykit.staging import ServiceStage, ServiceTarget
from deploykit_cli import output
from deploykit_cli.options import JsonOpt, ProjectOpt, ServiceArg, YesOpt
from deploykit_cli.session import NOT_FOUND_EXIT, USAGE, Exit, Session, run

env_app = typer.Typer(help="List, set and unset env vars at project, group or service scope (staged).")

SETTABLE = (
    "image, git, branch, dockerfile, context, port, command, replicas, cpus, memory, restart, health, drain, name"
)
ServiceScope = Annotated[
    str | None, typer.Option("--service", "-s", help="Service scope (default: project scope).", show_default=False)
]
GroupScope = Annotated[
    str | None, typer.Option("--group", "-g", help="Group scope: the group's id.", show_default=False)
]


def pairs(items: list[str], what: str = "pair") -> dict[str, str]:
    """``KEY=value`` arguments as a dict; a missing '=' is an ``invalid`` error naming the item."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError({item: [f"must be a {what} written KEY=value"]})
        out[key] = value
    return out


def number(field: str, text: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ValidationError({field: [f"must be a {'whole ' if kind is int else ''}number"]}) from None


def nullable(text: str) -> bool:
    return text.lower() in ("", "none", "null")


def update_from(settings: dict[str, str], current: ServiceConfig) -> ServiceUpdate:
    """``key=value`` settings as a partial service update over ``current``."""
    fields: dict[str, Any] = {}
    source: Source = current.source
    resources = current.resources
    for key, value in settings.items():
        if key == "image":
            source = ImageSource(image=value)
        elif key in ("git", "repo"):
            branch = source.branch if isinstance(source, GitSource) else "main"
            source = GitSource(repo_url=value, branch=branch)
        elif key in ("branch", "dockerfile", "context"):
            if not isinstance(source, GitSource):
                raise ValidationError({key: ["needs a git source (set git=URL first)"]})
            attr = {"branch": "branch", "dockerfile": "dockerfile_path", "context": "context"}[key]
            source = GitSource(**{**vars(source), attr: value})
        elif key == "port":
            fields["port"] = None if nullable(value) else number("port", value, int)
        elif key in ("command", "cmd"):
            fields["command"] = None if nullable(value) else shlex.split(value)
        elif key == "replicas":
            fields["replicas"] = number("replicas", value, int)
        elif key == "cpus":
            resources = Resources(
                cpus=None if nullable(value) else number("cpus", value, float), memory_mb=resources.memory_mb
            )
        elif key in ("memory", "memory_mb"):
            mem = None if nullable(value) else number("memory", value, int)
            resources = Resources(cpus=resources.cpus, memory_mb=mem)
        elif key in ("restart", "restart_policy"):
            try:
                fields["restart_policy"] = RestartPolicy(value)
            except ValueError:
                allowed = ", ".join(p.value for p in RestartPolicy)
                raise ValidationError({"restart": [f"must be one of {allowed}"]}) from None
        elif key in ("health", "health_check"):
            if nullable(value):
                fields["health_check"] = None
            elif value == "tcp":
                fields["health_check"] = HealthCheck(type=HealthCheckType.TCP)
            else:
                fields["health_check"] = HealthCheck(type=HealthCheckType.HTTP, path=value)
        elif key in ("drain", "drain_s"):
            fields["drain_s"] = number("drain", value, float)
        elif key == "name":
            fields["name"] = value
        else:
            raise ValidationError({key: [f"is not a setting; use one of: {SETTABLE}"]})
    if source != current.source:
        fields["source"] = source
    if resources != current.resources:
        fields["resources"] = resources
    return ServiceUpdate(**fields)


def register(app: typer.Typer) -> None:
    app.command()(add)
    app.command("set")(set_config)
    app.add_typer(env_app, name="env")
    app.command()(diff)
    app.command()(discard)


def add(
    name: Annotated[str, typer.Argument(help="The new service's name.")],
    image: Annotated[str | None, typer.Option("--image", "-i", help="Run a published image.")] = None,
    git: Annotated[str | None, typer.Option("--git", help="Build from a git repository (URL or path).")] = None,
    branch: Annotated[str, typer.Option("--branch", "-b", help="The git branch to build.")] = "main",
    dockerfile: Annotated[str, typer.Option("--dockerfile", help="Dockerfile path in the repository.")] = "Dockerfile",
    port: Annotated[int | None, typer.Option("--port", help="The port the service listens on (gets a URL).")] = None,
    replicas: Annotated[int, typer.Option("--replicas", help="How many containers to run.")] = 1,
    command: Annotated[str | None, typer.Option("--command", "-c", help="Override the image's command.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=value (repeatable).")] = None,
    project: ProjectOpt = None,
) -> None:
    """Stage a new service from an image or a git repository.

    Examples:

      dk add web --image nginx:1.27 --port 80

      dk add api --git https://github.com/acme/api --branch main --port 8080 -e LOG_LEVEL=info
    """

    async def work() -> None:
        if (image is None) == (git is None):
            raise Exit(USAGE, "Give exactly one of --image or --git.")
        source: Source = (
            ImageSource(image=image)
            if image is not None
            else GitSource(repo_url=str(git), branch=branch, dockerfile_path=dockerfile)
        )
        async with Session.open() as s:
            proj = await s.project(project)
            config = ServiceConfig(
                source=source,
                port=port,
                replicas=replicas,
                command=shlex.split(command) if command is not None else None,
            )
            stage = ServiceStage(project_id=proj.id, name=name, config=config, env=pairs(env or []))
            stage.validate()
            staged = await s.client.pending_changes.stage_service(stage)
            output.console().print(
                f"Staged service [bold]{name}[/bold] ({staged.temp_id}). Run 'dk deploy' to create it."
            )

    run(work)


def set_config(
    service: ServiceArg,
    settings: Annotated[list[str], typer.Argument(help=f"key=value settings: {SETTABLE}.", show_default=False)],
    project: ProjectOpt = None,
) -> None:
    """Stage config changes of a service.

    'none' clears port, command, health, cpus or memory; health=/path checks HTTP, health=tcp a TCP connect.

    Examples:

      dk set web replicas=3 memory=256

      dk set web image=nginx:1.28 health=/healthz

      dk set api command="gunicorn app:app -b 0.0.0.0:8080"
    """

    async def work() -> None:
        async with Session.open() as s:
            proj = await s.project(project)
            target = await s.target(proj, service)
            upd = update_from(pairs(settings, "setting"), target.config)
            errors = FieldErrors()
            upd.apply_to(target.config).validate(errors)
            errors.raise_if_any()
            await s.client.pending_changes.append_pending_change(
                PendingChangeCreate(
                    project_id=proj.id,
                    kind=ChangeKind.SERVICE_UPDATE,
                    payload=upd.to_dict(),
                    target_id=target.target_id,
                    target_temp_id=target.target_temp_id,
                )
            )
            output.console().print(
                f"Staged {len(settings)} setting(s) of [bold]{target.name}[/bold]. Run 'dk deploy' to apply."
            )

    run(work)


async def scope_of(
    s: Session, proj: Project, service: str | None, group: str | None
) -> tuple[Scope, str, ServiceTarget | None]:
    if service is not None and group is not None:
        raise Exit(USAGE, "Give --service or --group, not both.")
    if service is not None:
        target = await s.target(proj, service)
        return Scope.SERVICE, target.key, target
    if group is not None:
        return Scope.GROUP, group, None
    return Scope.PROJECT, proj.id, None


def is_staged(target: ServiceTarget | None) -> bool:
    return target is not None and target.target_id is None


async def applied_vars(s: Session, proj: Project, scope: Scope, scope_id: str, staged: bool) -> list[EnvVar]:
    if staged:
        return []
    return await s.client.env_vars.list_env_vars(EnvVarFilter(project_id=proj.id, scope=scope, scope_id=scope_id))


@env_app.command("list")
def env_list(
    service: ServiceScope = None, group: GroupScope = None, project: ProjectOpt = None, json: JsonOpt = False
) -> None:
    """List the applied env vars of a scope (staged ones show in 'dk diff')."""

    async def work() -> None:
        async with Session.open() as s:
            proj = await s.project(project)
            scope, scope_id, target = await scope_of(s, proj, service, group)
            found = await applied_vars(s, proj, scope, scope_id, is_staged(target))
            if json:
                output.print_json(found)
            else:
                output.table(["KEY", "VALUE"], [[v.key, v.value] for v in found], empty="No env vars at this scope.")

    run(work)


@env_app.command("set")
def env_set(
    assignments: Annotated[list[str] | None, typer.Argument(help="KEY=value pairs.", show_default=False)] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read KEY=value lines from a .env file.")] = None,
    service: ServiceScope = None,
    group: GroupScope = None,
    project: ProjectOpt = None,
) -> None:
    """Stage env vars: new keys are added, existing ones updated.

    Examples:

      dk env set LOG_LEVEL=debug

      dk env set --service api DATABASE_URL='postgres://${{db.HOST}}:5432/app'

      dk env set --file .env --service api
    """

    async def work() -> None:
        values: dict[str, str] = {}
        if file is not None:
            if not file.is_file():
                raise Exit(USAGE, f"Cannot read {file}: no such file.")
            values.update({k: v or "" for k, v in dotenv_values(file).items()})
        values.update(pairs(assignments or []))
        if not values:
            raise Exit(USAGE, "Nothing to set: give KEY=value pairs or --file.")
        async with Session.open() as s:
            proj = await s.project(project)
            scope, scope_id, target = await scope_of(s, proj, service, group)
            staged = is_staged(target)
            existing = {v.key: v for v in await applied_vars(s, proj, scope, scope_id, staged)}
            for key, value in values.items():
                var = existing.get(key)
                if var is not None:
                    create = PendingChangeCreate(
                        project_id=proj.id, kind=ChangeKind.ENV_VAR_UPDATE, payload={"value": value}, target_id=var.id
                    )
                else:
                    payload = {"scope": scope.value, "scope_id": scope_id, "key": key, "value": value}
                    create = PendingChangeCreate(
                        project_id=proj.id,
                        kind=ChangeKind.ENV_VAR_CREATE,
                        payload=payload,
                        target_temp_id=scope_id if staged else None,
                    )
                await s.client.pending_changes.append_pending_change(create)
            output.console().print(f"Staged {len(values)} env var(s) at {scope.value} scope. Run 'dk deploy' to apply.")

    run(work)


@env_app.command("unset")
def env_unset(
    keys: Annotated[list[str], typer.Argument(help="Keys to remove.", show_default=False)],
    service: ServiceScope = None,
    group: GroupScope = None,
    project: ProjectOpt = None,
) -> None:
    """Stage the removal of env vars."""

    async def work() -> None:
        async with Session.open() as s:
            proj = await s.project(project)
            scope, scope_id, target = await scope_of(s, proj, service, group)
            existing = {v.key: v for v in await applied_vars(s, proj, scope, scope_id, is_staged(target))}
            missing = [k for k in keys if k not in existing]
            if missing:
                raise Exit(NOT_FOUND_EXIT, f"Not set at {scope.value} scope: {', '.join(missing)}.")
            for key in keys:
                await s.client.pending_changes.append_pending_change(
                    PendingChangeCreate(
                        project_id=proj.id,
                        kind=ChangeKind.ENV_VAR_DELETE,
                        payload={"key": key},
                        target_id=existing[key].id,
                    )
                )
            output.console().print(f"Staged the removal of {len(keys)} env var(s). Run 'dk deploy' to apply.")

    run(work)


def change_lines(change: PendingChange) -> tuple[str, list[str]]:
    """What a change is about, and its edits as ``field: old -> new`` lines."""
    p, before = change.payload, change.before or {}
    kind = change.kind
    if kind == ChangeKind.SERVICE_CREATE:
        config = ServiceConfig.from_dict(p)
        lines = [f"source: {output.source_text(config)}"] + ([f"port: {config.port}"] if config.port else [])
        return f"+ service {p.get('name')}", lines
    if kind == ChangeKind.SERVICE_UPDATE:
        name = before.get("name") or change.target_id or change.target_temp_id
        return f"~ service {name}", [f"{k}: {before.get(k)!r} -> {v!r}" for k, v in p.items()]
    if kind == ChangeKind.SERVICE_DELETE:
        return f"- service {p.get('name') or before.get('name')}", []
    if kind == ChangeKind.PROJECT_UPDATE:
        return "~ project", [f"name: {before.get('name')!r} -> {p.get('name')!r}"]
    if kind == ChangeKind.ENV_VAR_CREATE:
        return f"+ env {p.get('key')} ({p.get('scope')})", [f"= {p.get('value')}"]
    if kind == ChangeKind.ENV_VAR_UPDATE:
        key = before.get("key", change.target_id)
        if "value" in before:
            return f"~ env {key}", [f"{before['value']!r} -> {p.get('value')!r}"]
        return f"~ env {key}", [f"= {p.get('value')}"]
    if kind == ChangeKind.ENV_VAR_DELETE:
        return f"- env {p.get('key') or before.get('key')}", []
    return f"{kind.value}", [f"{k}: {v!r}" for k, v in p.items()]


def running_line(f: FieldDiff) -> str:
    """A setting that differs from the running deployment (a deploy of it failed; this deploy
    deploys it), as the web UI's diff shows it: the running value first."""
    if f.field.startswith(ENV_PREFIX):
        key = f.field[len(ENV_PREFIX) :]
        if f.before is None:
            return f"differs from running: env + {key}={f.after}"
        if f.after is None:
            return f"differs from running: env - {key}"
        return f"differs from running: env ~ {key}: {f.before!r} -> {f.after!r}"
    return f"differs from running: {f.field}: {f.before!r} -> {f.after!r}"


def scope_lines(d: ScopeDiff) -> tuple[str, list[str]]:
    """One project, service or group the staged changes touch: a title and its edits."""
    sign = {DiffStatus.CREATED: "+", DiffStatus.DELETED: "-"}.get(d.status, "~")
    lines = []
    for f in d.fields:
        if d.status == DiffStatus.CREATED:
            lines.append(f"{f.field}: {f.after!r}")
        else:
            lines.append(f"{f.field}: {f.before!r} -> {f.after!r}")
    for e in d.env:
        if e.op == EnvOp.ADDED:
            lines.append(f"env + {e.key}={e.after}")
        elif e.op == EnvOp.REMOVED:
            lines.append(f"env - {e.key}")
        else:
            lines.append(f"env ~ {e.key}: {e.before!r} -> {e.after!r}")
    lines += [running_line(f) for f in d.running]
    ids = " ".join(output.short(i) for i in d.change_ids)
    return f"{sign} {d.scope.value} {d.name}  [dim]{ids}[/dim]", lines


def diff(
    project: ProjectOpt = None,
    changes: Annotated[
        bool, typer.Option("--changes", help="List the staged changes one by one (with the ids discard takes).")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Show what 'dk deploy' would do: per project, service and group, each field and env var
    before and after, and each setting or variable that differs from the running deployment (a
    deploy of it failed; 'dk deploy' deploys it), computed by the daemon, as the web UI shows it.

    Examples:

      dk diff

      dk diff --changes

      dk diff --json
    """

    async def work() -> None:
        async with Session.open() as s:
            proj = await s.project(project)
            con = output.console()
            anything: bool
            if changes:
                staged = await s.client.pending_changes.list_pending_changes(proj.id)
                anything = bool(staged)
                if json:
                    output.print_json(staged)
                    return
                for change in staged:
                    title, lines = change_lines(change)
                    color = {"+": "green", "-": "red"}.get(title[0], "yellow")
                    con.print(f"[{color}]{title}[/{color}]  [dim]{output.short(change.id)}[/dim]")
                    for line in lines:
                        con.print(f"    {line}", markup=False)
            else:
                diffs = await s.client.pending_changes.diff_pending_changes(proj.id)
                anything = bool(diffs)
                if json:
                    output.print_json(diffs)
                    return
                for d in diffs:
                    title, lines = scope_lines(d)
                    color = {"+": "green", "-": "red"}.get(title[0], "yellow")
                    con.print(f"[{color}]{title[:2]}[/{color}]{title[2:]}")
                    for line in lines:
                        con.print(f"    {line}", markup=False)
            if not anything:
                con.print("[dim]No staged changes.[/dim]")

    run(work)


def discard(
    change: Annotated[str | None, typer.Argument(help="One change's id (or its first 8 characters).")] = None,
    project: ProjectOpt = None,
    yes: YesOpt = False,
) -> None:
    """Drop every staged change (or one, with the changes that depend on it)."""

    async def work() -> None:
        async with Session.open() as s:
            proj = await s.project(project)
            change_id: str | None = None
            if change is not None:
                known = await s.client.pending_changes.list_pending_changes(proj.id)
                matches = [c.id for c in known if c.id == change or output.short(c.id) == change.replace("-", "")[:8]]
                if not matches:
                    raise Exit(NOT_FOUND_EXIT, f"Staged change '{change}' not found.")
                change_id = matches[0]
            elif not yes and not typer.confirm(f"Discard every staged change of '{proj.name}'?"):
                raise Exit(USAGE, "Nothing discarded.")
            removed = await s.client.pending_changes.discard_pending_changes(proj.id, change_id)
            output.console().print(f"Discarded {len(removed)} staged change(s).")

    run(work)
