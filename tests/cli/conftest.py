"""Fixtures for the ``dk`` tests: a real daemon, an account on it, and ``dk`` run in-process
(Typer's ``CliRunner``) with its own config directory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from deploykit_cli.app import app
from tests.e2e.support import Account, Daemon, register_admin, running


@dataclass
class Dk:
    """Runs ``dk`` against ``url`` with ``DK_CONFIG_DIR`` at ``config_dir``; ``token`` (when set)
    goes in ``DK_TOKEN``, as CI would pass it."""

    url: str
    config_dir: Path
    token: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str | None]:
        return {
            **self.extra_env,
            "DK_CONFIG_DIR": str(self.config_dir),
            "DK_URL": self.url if self.token else None,
            "DK_TOKEN": self.token,
            "DK_PROJECT": None,
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), env=self.env(), input=input)

    def complete(self, line: str) -> list[str]:
        """What the shell's completion would offer for the last word of ``line`` (bash)."""
        words = line.split(" ")
        env = {**self.env(), "_DK_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
        result = CliRunner().invoke(app, [], env=env, prog_name="dk")
        assert result.exit_code == 0, result.stderr
        return result.stdout.split()

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, f"dk {' '.join(args)} -> {result.exit_code}\n{result.stdout}\n{result.stderr}"
        return result


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running(tmp_path_factory.mktemp("deploykitd")) as d:
        yield d


@pytest.fixture(scope="module")
def admin(daemon: Daemon) -> Account:
    return register_admin(daemon)


@pytest.fixture
def dk(daemon: Daemon, admin: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dk:
    """``dk`` logged in through DK_URL/DK_TOKEN, run from a fresh directory."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return Dk(daemon.base, tmp_path / "config", admin.token)
