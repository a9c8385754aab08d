from __future__ import annotations

import pytest

from deploykit.envvar import (
    ServiceAddress,
    find_references,
    rename_references,
    resolve_env,
    validate_env_key,
)
from deploykit.errors import FieldErrors

ADDRESSES = {
    "api": ServiceAddress("api", 8080),
    "db": ServiceAddress("db", 5432),
    "worker": ServiceAddress("worker", None),
}
ENVS = {"api": {"TOKEN": "t0k", "URL": "http://${{api.HOST}}:${{api.PORT}}"}}


def test_overlay_service_beats_group_beats_project() -> None:
    env = resolve_env({"A": "p", "B": "p", "C": "p"}, {"B": "g", "C": "g"}, {"C": "s"}, {})
    assert env.values == {"A": "p", "B": "g", "C": "s"}
    assert env.references == {}


@pytest.mark.parametrize(
    ("value", "expected", "refs"),
    [
        ("http://${{api.HOST}}:${{api.PORT}}/v1", "http://api:8080/v1", {"api"}),
        ("postgres://u@${{ db.HOST }}:${{db.PORT}}/x", "postgres://u@db:5432/x", {"db"}),
        ("${{missing.HOST}}", "${{missing.HOST}}", {"missing"}),
        ("${{worker.PORT}}", "${{worker.PORT}}", {"worker"}),
        ("${{worker.HOST}}", "worker", {"worker"}),
        ("plain", "plain", None),
        ("${{api.SECRET}}", "${{api.SECRET}}", {"api"}),
        ("${{api.TOKEN}}", "t0k", {"api"}),
        ("${{api.URL}}", "http://api:8080", {"api"}),
    ],
)
def test_references_resolve_or_stay_literal(value: str, expected: str, refs: set[str] | None) -> None:
    env = resolve_env({}, {}, {"X": value}, ADDRESSES, ENVS)
    assert env.values["X"] == expected
    assert env.references.get("X") == (frozenset(refs) if refs else None)


def test_references_are_resolved_after_overlay() -> None:
    env = resolve_env({"URL": "${{api.HOST}}"}, {}, {"URL": "${{db.HOST}}"}, ADDRESSES)
    assert env.values == {"URL": "db"}
    assert env.references == {"URL": frozenset({"db"})}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("${{nosuch.HOST}}", "${{nosuch.HOST}}: no service is named 'nosuch'"),
        ("${{worker.PORT}}", "${{worker.PORT}}: 'worker' has no port"),
        ("${{api.NOPE}}", "${{api.NOPE}}: 'api' has no variable NOPE"),
        ("${{api.LOOP}}", "${{api.LOOP}}: refers back to itself"),
    ],
)
def test_a_reference_that_does_not_resolve_says_why(value: str, problem: str) -> None:
    env = resolve_env({}, {}, {"X": value}, ADDRESSES, {"api": {"LOOP": "${{api.LOOP}}"}})
    assert env.values["X"] == value
    assert env.problems == {"X": (problem,)}


def test_find_references_in_order() -> None:
    assert find_references("${{a.HOST}}:${{b.PORT}}") == [("a", "HOST"), ("b", "PORT")]


def test_rename_references_rewrites_only_the_renamed_service() -> None:
    value = "${{api.HOST}} ${{ api.PORT }} ${{apix.HOST}}"
    assert rename_references(value, "api", "backend") == "${{backend.HOST}} ${{backend.PORT}} ${{apix.HOST}}"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("DATABASE_URL", None),
        ("_private", None),
        ("", "must not be empty"),
        ("1ABC", "must start with a letter or '_' and use only letters, digits and '_'"),
        ("A-B", "must start with a letter or '_' and use only letters, digits and '_'"),
        ("A" * 256, "must be at most 255 characters"),
    ],
)
def test_env_key_validation(key: str, reason: str | None) -> None:
    errors = FieldErrors()
    validate_env_key(key, errors)
    assert errors.fields == ({"key": [reason]} if reason else {})
