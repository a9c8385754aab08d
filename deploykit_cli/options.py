"""Options every command shares, as annotated types."""

from __future__ import annotations

from typing import Annotated

import typer

from deploykit_cli import complete

ProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-p",
        envvar="DK_PROJECT",
        help="Project name, slug or id (default: DK_PROJECT, else the one 'dk use' remembered here).",
        show_default=False,
        autocompletion=complete.project_names,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
ServiceArg = Annotated[
    str, typer.Argument(help="Service name (or id).", show_default=False, autocompletion=complete.service_names)
]
WaitOpt = Annotated[
    bool, typer.Option("--wait", "-w", help="Follow the deployments until healthy; exit 6 if one fails.")
]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds --wait waits before giving up (exit 7).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
