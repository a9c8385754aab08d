"""Where dk keeps its login: a file only its owner can read, and projects remembered per directory."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deploykit_cli.config import Config, config_path


def test_the_config_file_is_written_owner_only_even_over_a_wider_one(tmp_path: Path) -> None:
    path = tmp_path / "deploykit" / "cli.json"
    path.parent.mkdir()
    path.write_text("{}")
    path.chmod(0o644)
    Config(url="http://dk.test", token="dk_secret").save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Config.load(path) == Config(url="http://dk.test", token="dk_secret")


def test_a_project_is_remembered_for_a_directory_and_those_below_it(tmp_path: Path) -> None:
    config = Config(projects={str(tmp_path / "shop"): "p-shop", str(tmp_path / "shop" / "admin"): "p-admin"})
    assert config.remembered_project(tmp_path / "shop" / "src" / "deep") == "p-shop"
    assert config.remembered_project(tmp_path / "shop" / "admin" / "x") == "p-admin"
    assert config.remembered_project(tmp_path / "elsewhere") is None


def test_env_overrides_the_stored_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DK_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("DK_URL", "http://ci.test")
    monkeypatch.setenv("DK_TOKEN", "dk_ci")
    config = Config(url="http://stored.test", token="dk_stored")
    assert (config.effective_url(), config.effective_token()) == ("http://ci.test", "dk_ci")
    assert config_path() == tmp_path / "cli.json"


def test_dk_starts_without_loading_the_server() -> None:
    code = "import sys, deploykit_cli.app; print(sorted(m for m in ('starlette', 'pydantic', 'uvicorn', 'deploykit_http.app') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
