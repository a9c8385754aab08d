"""Drift between config and what runs, the deployment card's change summary, and when a git
service's built image is reused."""

from __future__ import annotations

from typing import Any

import pytest

from deploykit.deployment import Deployment, DeploymentStatus, reusable_build
from deploykit.drift import change_summary, config_drift, env_drift, service_drift
from deploykit.service import ServiceConfig

GIT = {"type": "git", "repo_url": "https://user:token@example.com/a/b.git", "branch": "main"}


def config(**over: Any) -> ServiceConfig:
    return ServiceConfig.from_dict({"source": {"type": "image", "image": "web:1"}, "port": 80, **over})


def test_drift_lists_each_differing_field_with_the_running_value_first() -> None:
    drift = config_drift(config(replicas=2, source={"type": "image", "image": "web:2"}), config())
    assert [(d.field, d.before, d.after) for d in drift] == [("source.image", "web:1", "web:2"), ("replicas", 1, 2)]
    assert config_drift(config(), config()) == []
    assert config_drift(config(), None) == []


@pytest.mark.parametrize(
    ("config_env", "running_env", "expected"),
    [
        ({"A": "1"}, {"A": "1"}, []),
        ({"A": "2"}, {"A": "1"}, [("env.A", "1", "2")]),
        ({"A": "1", "B": "x"}, {"A": "1"}, [("env.B", None, "x")]),
        ({}, {"A": "1"}, [("env.A", "1", None)]),
        ({"B": "2", "A": "2"}, {"A": "1", "B": "1"}, [("env.A", "1", "2"), ("env.B", "1", "2")]),
        (None, {"A": "1"}, []),
    ],
)
def test_env_drift_compares_values_not_only_keys(
    config_env: dict[str, str] | None, running_env: dict[str, str], expected: list[tuple[str, Any, Any]]
) -> None:
    assert [(d.field, d.before, d.after) for d in env_drift(config_env, running_env)] == expected


def test_service_drift_is_the_config_then_the_variables_and_nothing_before_a_deployment() -> None:
    drift = service_drift(config(replicas=2), config(), {"A": "2"}, {"A": "1"})
    assert [(d.field, d.before, d.after) for d in drift] == [("replicas", 1, 2), ("env.A", "1", "2")]
    assert service_drift(config(), None, {"A": "2"}, None) == []


def test_drift_redacts_repository_credentials() -> None:
    [d] = config_drift(config(source={**GIT, "branch": "dev"}), config(source=GIT))
    assert (d.field, d.before, d.after) == ("source.branch", "main", "dev")
    drift = config_drift(config(source=GIT), config())
    assert "source.repo_url" in [d.field for d in drift]
    assert "token" not in repr(drift)


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (None, (config(), {}, None), []),
        ((config(), {}, None), (config(), {}, None), []),
        ((config(), {"A": "1", "B": "1"}, None), (config(), {"A": "2", "C": "1"}, None), ["env: ~A, -B, +C"]),
        (
            (config(), {}, "a" * 40),
            (config(replicas=3), {}, "b" * 40),
            ["replicas: 1 → 3", "commit: aaaaaaa → bbbbbbb"],
        ),
        (
            (config(), {}, None),
            (config(command=["sh", "-c", "echo " + "x" * 60]), {}, None),
            ['command: — → ["sh","-c","echo ' + "x" * 22 + "…"],
        ),
    ],
)
def test_change_summary(previous: Any, current: Any, expected: list[str]) -> None:
    assert change_summary(previous, current) == expected


def running(source: dict[str, Any], image: str | None = "deploykit/p-s:1", sha: str | None = "c" * 40) -> Deployment:
    return Deployment(
        id="d1",
        service_id="s1",
        project_id="p1",
        status=DeploymentStatus.HEALTHY,
        config=config(source=source),
        image=image,
        commit_sha=sha,
    )


@pytest.mark.parametrize(
    ("deployment", "new", "reused"),
    [
        (running(GIT), config(source=GIT, replicas=2), True),
        (running(GIT), config(source=GIT, health_check={"type": "tcp"}), True),
        (running(GIT), config(source={**GIT, "dockerfile_path": "x.Dockerfile"}), False),
        (running(GIT), config(source={**GIT, "context": "web"}), False),
        (running(GIT), config(source={**GIT, "branch": "dev"}), False),
        (running(GIT, image=None), config(source=GIT), False),
        (running(GIT, sha=None), config(source=GIT), False),
        (running({"type": "image", "image": "web:1"}), config(), False),
        (None, config(source=GIT), False),
    ],
)
def test_reusable_build(deployment: Deployment | None, new: ServiceConfig, reused: bool) -> None:
    found = reusable_build(deployment, new)
    assert (found is not None and found is deployment) == reused
