"""Docker Compose import: the YAML is parsed here (PyYAML's safe loader), translated by the
domain (``deploykit.compose``) and staged in one go, or only previewed on a dry run. PyYAML is
imported by the first import, and so is the translation: an idle daemon carries neither."""

from __future__ import annotations

from typing import Any

from deploykit.errors import ValidationError
from deploykit.staging import ServiceStage
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.shapes.compose import ComposeImportOut, compose_import_out
from deploykit_http.staging import check_source


def parse_yaml(text: str) -> Any:
    """The compose file as plain data. Raises ``invalid`` on ``compose`` with where YAML broke."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValidationError({"compose": [f"is not valid YAML{where}: {exc.problem or exc}"]}) from exc
    except yaml.YAMLError as exc:
        raise ValidationError({"compose": [f"is not valid YAML: {exc}"]}) from exc


def endpoints(ctx: Context) -> list[Endpoint]:
    async def import_compose(call: Call) -> Any:
        from deploykit.compose import NODE_H, NODE_W, GitRepo, translate

        body: m.ComposeImportIn = call.body
        project = await ctx.project(call.params["project_id"])
        doc = parse_yaml(body.compose)
        repo = GitRepo(body.repo_url, body.branch) if body.repo_url else None
        occupied = [
            (n.position_x, n.position_y, n.width or NODE_W, n.height or NODE_H)
            for n in await ctx.c.canvas.list_nodes(project.id)
            if n.parent_id is None
        ]
        result = translate(doc, repo=repo, occupied=occupied)
        stages = [
            ServiceStage(
                project_id=project.id,
                name=s.name,
                config=s.config,
                position=s.position,
                env=s.env,
                created_by=call.user.id,
            )
            for s in result.services
        ]
        for stage in stages:
            stage.validate()
            check_source(ctx.settings, stage.config.source)
        if body.dry_run:
            return compose_import_out(result, None)
        index = {s.name: i for i, s in enumerate(result.services)}
        edges = [(index[a], index[b]) for a, b in result.edges]
        staged = await ctx.c.pending_changes.stage_services(stages, edges)
        return compose_import_out(result, staged)

    return [
        Endpoint(
            "POST",
            "/projects/{project_id}/compose",
            import_compose,
            "Stage the services of a Docker Compose file (or preview them with dry_run)",
            "services",
            body=m.ComposeImportIn,
            response=ComposeImportOut,
            errors=(400, 404, 409, 422),
        )
    ]
