"""A full run of ``tests/`` fails when a test file on disk contributes no collected test.

pytest skips folders silently: its default ``norecursedirs`` holds ``build``, so the 79 tests of
``tests/build/`` once never ran, and a module whose tests are misnamed collects nothing without a
word. This plugin compares the ``test_*.py`` files under the tests root with the files that
items were collected from, and reports every file that gave none as a collection error, which
stops the run as an import error in a test file would.

It applies only to a run of the whole tree: when the command line names a sub-folder, a file or a
test id, or prunes files (``--ignore``, ``--ignore-glob``, ``--lf``), missing files are expected.
Items are counted as they are collected, before ``-k``, ``-m`` or ``--deselect`` drop any, so those
options do not disable the check and do not trip it. A module that skips itself at import
(``pytest.skip(allow_module_level=True)``, ``importorskip``) is shown as skipped and counts.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

PRUNING_OPTIONS = ("ignore", "ignore_glob", "lf")


class CollectionGuard:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.rootpath = self.root
        self.contributing: set[Path] = set()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.rootpath = session.config.rootpath

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        self.contributing.add(item.path.resolve())

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped and report.nodeid:
            self.contributing.add((self.rootpath / report.nodeid.split("::")[0]).resolve())

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.covers_whole_tree(session.config):
            return
        for path in self.silent_files(session.config):
            relative = path.relative_to(self.rootpath) if path.is_relative_to(self.rootpath) else path
            report = pytest.CollectReport(
                nodeid=str(relative),
                outcome="failed",
                longrepr=(
                    f"{relative} contributes no collected test: is its folder in pytest's norecursedirs "
                    "(build, dist, ...), or are its tests misnamed?"
                ),
                result=[],
            )
            session.config.hook.pytest_collectreport(report=report)

    def covers_whole_tree(self, config: pytest.Config) -> bool:
        if any(config.getoption(name, default=None) for name in PRUNING_OPTIONS):
            return False
        for arg in config.args:
            if "::" in arg:
                continue
            if (config.invocation_params.dir / arg).resolve() == self.root:
                return True
        return False

    def silent_files(self, config: pytest.Config) -> list[Path]:
        patterns = config.getini("python_files")
        on_disk = [
            path.resolve()
            for path in self.root.rglob("*.py")
            if any(fnmatch.fnmatch(path.name, p) for p in patterns)
            and not any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(self.root).parts)
        ]
        return sorted(path for path in on_disk if path not in self.contributing)
