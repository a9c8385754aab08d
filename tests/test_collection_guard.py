"""The collection guard: a full run fails when a test file contributes no test, and a run of a part
of the tree, or one that prunes files on purpose, does not."""

from __future__ import annotations

import pytest

GUARDED_CONFTEST = """
from pathlib import Path

from tests.collection_guard import CollectionGuard


def pytest_configure(config):
    config.pluginmanager.register(CollectionGuard(Path(__file__).parent), "guard")
"""

PASSING = "def test_passes():\n    assert True\n"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A tree like ours: ``suite/`` is the guarded root, with a test in a sub-folder."""
    pytester.makeini("[pytest]\ntestpaths = suite\nasyncio_default_fixture_loop_scope = function\nmarkers = slow\n")
    (pytester.path / "suite" / "api").mkdir(parents=True)
    (pytester.path / "suite" / "conftest.py").write_text(GUARDED_CONFTEST)
    (pytester.path / "suite" / "api" / "test_api.py").write_text(PASSING)
    return pytester


def add_test_in_build_folder(pytester: pytest.Pytester) -> None:
    (pytester.path / "suite" / "build").mkdir()
    (pytester.path / "suite" / "build" / "test_builder.py").write_text(PASSING)


def test_a_full_run_of_a_healthy_tree_passes(suite: pytest.Pytester) -> None:
    result = suite.runpytest("suite")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("args", [("suite",), ("suite/",), ()], ids=["named", "trailing-slash", "testpaths"])
def test_a_full_run_fails_on_a_test_file_in_a_folder_pytest_does_not_enter(
    suite: pytest.Pytester, args: tuple[str, ...]
) -> None:
    add_test_in_build_folder(suite)
    result = suite.runpytest(*args)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*suite/build/test_builder.py contributes no collected test*"])
    result.assert_outcomes(passed=0, errors=1)


def test_a_full_run_fails_on_a_test_file_whose_tests_are_misnamed(suite: pytest.Pytester) -> None:
    (suite.path / "suite" / "api" / "test_misnamed.py").write_text("def check_something():\n    assert False\n")
    result = suite.runpytest("suite")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*suite/api/test_misnamed.py contributes no collected test*"])


@pytest.mark.parametrize(
    "args",
    [
        ("suite/api",),
        ("suite/api/test_api.py",),
        ("suite/api/test_api.py::test_passes",),
        ("suite", "--ignore=suite/build"),
        ("suite", "--ignore-glob=*/build/*"),
    ],
    ids=["sub-folder", "file", "test-id", "ignore", "ignore-glob"],
)
def test_a_partial_run_does_not_check(suite: pytest.Pytester, args: tuple[str, ...]) -> None:
    add_test_in_build_folder(suite)
    result = suite.runpytest(*args)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize(
    "args",
    [("-k", "not test_passes"), ("--deselect", "suite/api/test_api.py::test_passes"), ("-m", "slow")],
    ids=["-k", "--deselect", "-m"],
)
def test_deselecting_tests_is_not_a_silent_file(suite: pytest.Pytester, args: tuple[str, ...]) -> None:
    result = suite.runpytest("suite", *args)
    result.assert_outcomes(deselected=1)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_deselecting_does_not_hide_a_silent_file(suite: pytest.Pytester) -> None:
    add_test_in_build_folder(suite)
    result = suite.runpytest("suite", "-k", "test_passes")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*suite/build/test_builder.py contributes no collected test*"])


def test_a_module_that_skips_itself_counts(suite: pytest.Pytester) -> None:
    (suite.path / "suite" / "api" / "test_optional.py").write_text(
        'import pytest\n\npytest.skip("no browser here", allow_module_level=True)\n'
    )
    result = suite.runpytest("suite")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK
