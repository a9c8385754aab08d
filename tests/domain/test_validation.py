"""Validation of user input: every failure names the field and the reason."""

from __future__ import annotations

from typing import Any

import pytest

from deploykit.errors import INTERNAL, INVALID, Error, FieldErrors, ValidationError, error_code, error_message
from deploykit.health import HealthCheck, HealthCheckType
from deploykit.ingress import validate_hostname
from deploykit.project import ProjectCreate
from deploykit.service import (
    UNSET,
    GitSource,
    ImageSource,
    Resources,
    ServiceConfig,
    ServiceCreate,
    ServiceUpdate,
    Volume,
)
from deploykit.user import UserCreate


def fields_of(config: ServiceConfig) -> dict[str, list[str]]:
    errors = FieldErrors()
    config.validate(errors)
    return errors.fields


IMG = ImageSource("nginx:1.27")


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "nginx:1.27",
        "ghcr.io/acme/api:1.4",
        "localhost:5000/a/b:c",
        "deploykit-test/busybox:latest",
        "redis@sha256:" + "a" * 64,
    ],
)
def test_valid_image_references(image: str) -> None:
    assert fields_of(ServiceConfig(ImageSource(image))) == {}


@pytest.mark.parametrize("image", ["", "UPPER/case", "nginx:", "has space", "a//b", "-lead"])
def test_invalid_image_references(image: str) -> None:
    assert list(fields_of(ServiceConfig(ImageSource(image)))) == ["source.image"]


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/api.git",
        "git@github.com:acme/api.git",
        "ssh://git@host:2222/x.git",
        "file:///srv/repo",
        "/srv/repo",
    ],
)
def test_valid_git_urls(url: str) -> None:
    assert fields_of(ServiceConfig(GitSource(url))) == {}


@pytest.mark.parametrize(
    ("source", "field"),
    [
        (GitSource("ftp://x"), "source.repo_url"),
        (GitSource("relative/path"), "source.repo_url"),
        (GitSource("/srv/repo", branch="a..b"), "source.branch"),
        (GitSource("/srv/repo", dockerfile_path="../Dockerfile"), "source.dockerfile_path"),
        (GitSource("/srv/repo", context="/abs"), "source.context"),
    ],
)
def test_invalid_git_sources(source: GitSource, field: str) -> None:
    assert list(fields_of(ServiceConfig(source))) == [field]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (ServiceConfig(IMG, port=0), {"port": ["must be between 1 and 65535"]}),
        (ServiceConfig(IMG, port=70000), {"port": ["must be between 1 and 65535"]}),
        (ServiceConfig(IMG, replicas=0), {"replicas": ["must be between 1 and 20"]}),
        (ServiceConfig(IMG, command=[]), {"command": ["must be a non-empty list of strings or null"]}),
        (ServiceConfig(IMG, resources=Resources(cpus=0)), {"resources.cpus": ["must be between 0.01 and 256"]}),
        (
            ServiceConfig(IMG, resources=Resources(memory_mb=1)),
            {"resources.memory_mb": ["must be between 6 and 1048576"]},
        ),
        (
            ServiceConfig(IMG, volumes=[Volume("data", "/")]),
            {"volumes.0.mount_path": ["must be an absolute path other than '/'"]},
        ),
        (
            ServiceConfig(IMG, volumes=[Volume("Data!", "/x")]),
            {"volumes.0.name": ["must be 1-40 lowercase letters, digits, '-' or '_'"]},
        ),
        (
            ServiceConfig(IMG, volumes=[Volume("a", "/x"), Volume("a", "/y")]),
            {"volumes.1.name": ["is used twice"]},
        ),
        (
            ServiceConfig(IMG, volumes=[Volume("a", "/x"), Volume("b", "/x/")]),
            {"volumes.1.mount_path": ["is used twice"]},
        ),
        (ServiceConfig(IMG, health_check=HealthCheck()), {"health_check": ["needs a port to check"]}),
        (
            ServiceConfig(IMG, port=80, health_check=HealthCheck(path="healthz")),
            {"health_check.path": ["must start with '/'"]},
        ),
        (
            ServiceConfig(IMG, port=80, health_check=HealthCheck(interval_s=1, timeout_s=2)),
            {"health_check.timeout_s": ["must not exceed interval_s"]},
        ),
        (
            ServiceConfig(IMG, port=80, health_check=HealthCheck(healthy_threshold=0)),
            {"health_check.healthy_threshold": ["must be between 1 and 100"]},
        ),
        (ServiceConfig(IMG, port=80, health_check=HealthCheck(type=HealthCheckType.TCP, path="")), {}),
    ],
)
def test_service_config_validation(config: ServiceConfig, expected: dict[str, list[str]]) -> None:
    assert fields_of(config) == expected


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "must not be empty"),
        ("api", None),
        ("web-app_2", None),
        ("2fa", "must start with a letter and use only letters, digits, '-' or '_' (at most 63)"),
        ("has space", "must start with a letter and use only letters, digits, '-' or '_' (at most 63)"),
        ("a" * 64, "must start with a letter and use only letters, digits, '-' or '_' (at most 63)"),
    ],
)
def test_service_name_validation(name: str, reason: str | None) -> None:
    create = ServiceCreate(project_id="p", name=name, config=ServiceConfig(IMG))
    if reason is None:
        create.validate()
        return
    with pytest.raises(ValidationError) as info:
        create.validate()
    assert info.value.code == INVALID
    assert info.value.fields == {"name": [reason]}
    assert info.value.message == f"name: {reason}"


def test_config_round_trips_through_its_json_form() -> None:
    config = ServiceConfig(
        source=GitSource("https://example.com/r.git", branch="dev"),
        port=8080,
        command=["sh", "-c", "echo hi"],
        replicas=2,
        resources=Resources(cpus=0.5, memory_mb=256),
        volumes=[Volume("data", "/data")],
        health_check=HealthCheck(path="/healthz"),
    )
    assert ServiceConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"source": {"type": "ftp"}}, "source.type"),
        ({"source": {"type": "image"}}, "source.image"),
        ({"source": {"type": "git"}}, "source.repo_url"),
        ({"source": {"type": "image", "image": "x"}, "restart_policy": "sometimes"}, "restart_policy"),
    ],
)
def test_config_from_dict_names_the_bad_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ServiceConfig.from_dict(data)
    assert list(info.value.fields) == [field]


def test_service_update_distinguishes_unset_from_null() -> None:
    base = ServiceConfig(IMG, port=80, command=["x"])
    assert ServiceUpdate(port=None).apply_to(base).port is None
    assert ServiceUpdate().apply_to(base) == base
    upd = ServiceUpdate.from_dict({"command": None, "replicas": 3})
    assert upd.command is None
    assert upd.port is UNSET
    assert upd.to_dict() == {"command": None, "replicas": 3}
    assert upd.apply_to(base) == ServiceConfig(IMG, port=80, command=None, replicas=3)


@pytest.mark.parametrize(
    ("hostname", "ok"),
    [
        ("app.example.com", True),
        ("API.Example.COM.", True),
        ("api-shop.localhost", True),
        ("localhost", False),
        ("*.example.com", False),
        ("-bad.example.com", False),
        ("example.com:8080", False),
        ("10.0.0.1", False),
        ("a" * 64 + ".com", False),
    ],
)
def test_hostname_validation(hostname: str, ok: bool) -> None:
    errors = FieldErrors()
    validate_hostname(hostname, errors)
    assert (not errors) is ok


@pytest.mark.parametrize(
    ("create", "fields"),
    [
        (UserCreate("a@b.co", "Ada", "longenough"), {}),
        (UserCreate("not-an-email", "Ada", "longenough"), {"email": ["must be a valid email address"]}),
        (UserCreate("a@b.co", " ", "longenough"), {"name": ["must not be empty"]}),
        (UserCreate("a@b.co", "Ada", "short"), {"password": ["must be at least 8 characters"]}),
        (UserCreate("a@b.co", "Ada", "x" * 73), {"password": ["must be at most 72 bytes"]}),
    ],
)
def test_user_create_validation(create: UserCreate, fields: dict[str, list[str]]) -> None:
    if not fields:
        create.validate()
        return
    with pytest.raises(ValidationError) as info:
        create.validate()
    assert info.value.fields == fields


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "must not be empty"),
        ("x" * 101, "must be at most 100 characters"),
        ("a\nb", "must not contain control characters"),
    ],
)
def test_project_name_validation(name: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        ProjectCreate(name).validate()
    assert info.value.fields == {"name": [reason]}


def test_error_helpers_unwrap_causes_and_hide_foreign_errors() -> None:
    outer = RuntimeError("wrapped")
    outer.__cause__ = Error("conflict", "Name taken.")
    assert error_code(outer) == "conflict"
    assert error_message(outer) == "Name taken."
    foreign = KeyError("secret detail")
    assert error_code(foreign) == INTERNAL
    assert error_message(foreign) == "Internal error."
    assert error_message(Error(INTERNAL, "db path /x broke")) == "Internal error."


def test_health_check_without_a_path_keeps_the_default_path() -> None:
    check = HealthCheck.from_dict({"type": "tcp", "path": None})
    assert (check.type, check.path) == (HealthCheckType.TCP, "/")


def test_zero_replicas_is_rejected_not_rounded_up() -> None:
    config = ServiceConfig.from_dict({"source": {"type": "image", "image": "x"}, "replicas": 0})
    assert fields_of(config) == {"replicas": ["must be between 1 and 20"]}
