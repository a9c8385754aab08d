"""What ``dk`` prints: Rich tables for people, JSON (``--json``) for scripts.

JSON is the domain entities as they are (``dataclasses.asdict``), timestamps in ISO-8601 UTC.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table

from deploykit.clock import isoformat
from deploykit.deployment import DeploymentStatus
from deploykit.service import GitSource, ServiceConfig, ServiceStatus

STATUS_STYLE = {
    ServiceStatus.RUNNING.value: "green",
    DeploymentStatus.HEALTHY.value: "green",
    ServiceStatus.DEPLOYING.value: "yellow",
    ServiceStatus.DRAINING.value: "yellow",
    DeploymentStatus.PENDING.value: "yellow",
    DeploymentStatus.BUILDING.value: "yellow",
    DeploymentStatus.STARTING.value: "yellow",
    ServiceStatus.DEGRADED.value: "yellow",
    ServiceStatus.FAILED.value: "red",
    DeploymentStatus.CANCELLED.value: "dim",
    DeploymentStatus.SUPERSEDED.value: "dim",
    ServiceStatus.STOPPED.value: "dim",
}


def console() -> Console:
    # Made per call: the stream is whatever sys.stdout is now (a test runner swaps it).
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def err_console() -> Console:
    return Console(file=sys.stderr, highlight=False)


def plain(value: Any) -> Any:
    """A JSON-ready form of domain values: dataclasses, enums, datetimes, tuples."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), indent=2) + "\n")


def print_json_line(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), separators=(",", ":")) + "\n")
    sys.stdout.flush()


def status_text(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str = "Nothing here yet.") -> None:
    rows = list(rows)
    if not rows:
        console().print(f"[dim]{empty}[/dim]")
        return
    out = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if cell is None else str(cell) for cell in row))
    console().print(out)


def source_text(config: ServiceConfig) -> str:
    src = config.source
    if isinstance(src, GitSource):
        return f"{src.repo_url}#{src.branch}"
    return src.image


def short(id: str | None) -> str:
    return id.replace("-", "")[:8] if id else ""


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""
