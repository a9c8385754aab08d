"""The README's Python client example runs as printed, against a real daemon."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.support import Account, Daemon

README = Path(__file__).resolve().parents[2] / "README.md"


def client_example() -> str:
    match = re.search(r"<!-- client-example -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert match is not None, "the README has no client example"
    return match.group(1)


def test_the_readme_client_example_runs_and_prints_what_it_says(daemon: Daemon, admin: Account) -> None:
    env = {**os.environ, "DK_URL": daemon.base, "DK_TOKEN": admin.token}
    done = subprocess.run([sys.executable, "-c", client_example()], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["1 ['web']", "invalid name: must not be empty"]
    assert "It prints `1 ['web']` and `invalid name: must not be empty`." in README.read_text()
