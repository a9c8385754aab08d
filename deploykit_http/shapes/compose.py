"""What a compose import stages (or would stage, on a dry run) and what it left out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from typing_extensions import TypedDict

from deploykit_http.shapes.services import ConfigOut, config_out

if TYPE_CHECKING:  # the compose route imports the translation on first use
    from deploykit.compose import ComposeImport, ComposeService
    from deploykit.staging import StagedService


class ComposeServiceOut(ConfigOut):
    name: str
    temp_id: str | None
    """The staged service's temp id (its canvas node); null on a dry run."""
    env_vars: dict[str, str]
    depends_on: list[str]
    position_x: float
    position_y: float


class ComposeSkippedOut(TypedDict):
    key: str
    reason: str


class ComposeImportOut(TypedDict):
    dry_run: bool
    services: list[ComposeServiceOut]
    skipped: list[ComposeSkippedOut]


def compose_service_out(s: ComposeService, staged: StagedService | None) -> ComposeServiceOut:
    return {
        **config_out(s.config),
        "name": s.name,
        "temp_id": staged.temp_id if staged is not None else None,
        "env_vars": dict(s.env),
        "depends_on": list(s.depends_on),
        "position_x": s.position[0],
        "position_y": s.position[1],
    }


def compose_import_out(result: ComposeImport, staged: list[StagedService] | None) -> ComposeImportOut:
    return {
        "dry_run": staged is None,
        "services": [
            compose_service_out(s, staged[i] if staged is not None else None) for i, s in enumerate(result.services)
        ],
        "skipped": [{"key": s.key, "reason": s.reason} for s in result.skipped],
    }
