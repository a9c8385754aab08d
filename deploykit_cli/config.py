"""Where ``dk`` keeps its login and the project remembered for each directory.

One JSON file in the user's config directory (``$XDG_CONFIG_HOME/deploykit/cli.json`` on Linux;
``DK_CONFIG_DIR`` moves it), written with mode 0600 because it holds a credential.
``DK_URL`` and ``DK_TOKEN`` override the stored login (for CI), ``DK_PROJECT`` the project.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from platformdirs import user_config_path

FILE_NAME = "cli.json"


def config_path() -> Path:
    folder = os.environ.get("DK_CONFIG_DIR")
    return (Path(folder) if folder else user_config_path("deploykit")) / FILE_NAME


@dataclass
class Config:
    url: str | None = None
    token: str | None = None
    api_key_id: str | None = None
    """Set when ``dk login`` made the key itself (from a password): ``dk logout`` deletes it."""
    projects: dict[str, str] = field(default_factory=dict)
    """absolute directory -> project id, from ``dk use``."""

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        path = path or config_path()
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise SystemExit(f"Cannot read {path}: {exc}") from exc
        return cls(
            url=data.get("url"),
            token=data.get("token"),
            api_key_id=data.get("api_key_id"),
            projects={str(k): str(v) for k, v in (data.get("projects") or {}).items()},
        )

    def save(self, path: Path | None = None) -> Path:
        """Write the file readable by its owner only (it holds a token)."""
        path = path or config_path()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        return path

    def effective_url(self) -> str | None:
        return os.environ.get("DK_URL") or self.url

    def effective_token(self) -> str | None:
        return os.environ.get("DK_TOKEN") or self.token

    def remembered_project(self, cwd: Path) -> str | None:
        """The project remembered for ``cwd`` or the nearest directory above it."""
        for folder in (cwd, *cwd.parents):
            if str(folder) in self.projects:
                return self.projects[str(folder)]
        return None
