"""Property-based: every operation of /api/openapi.json, fed generated input by schemathesis,
answers without a 5xx and with a status, content type and body its own schema allows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err

from tests.e2e.support import Account, Daemon, create_project, register_admin, running

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, str]]:
    """A daemon of its own (generated logins trip the rate limit), and an API key: generated
    logouts cannot end a key's session. No per-client request limit: eight examples of every
    operation, as fast as they go, outrun any budget, and a 429 is not what is checked here."""
    with running(tmp_path_factory.mktemp("schemathesis"), "--api-rate-limit", "0") as d:
        admin: Account = register_admin(d)
        create_project(admin, "Fuzzed")
        with admin.client() as c:
            key = c.post("/api-keys", json={"description": "schemathesis"}).json()["token"]
        yield d, key


@pytest.mark.slow
def test_every_operation_conforms_to_the_published_schema(api: tuple[Daemon, str]) -> None:
    daemon, key = api
    schema = schemathesis.openapi.from_url(f"{daemon.base}/api/openapi.json")
    failures: dict[str, str] = {}
    count = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        count += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
        )
        def check(case: Any) -> None:
            response = case.call(base_url=daemon.base, headers={"Authorization": f"Bearer {key}"})
            # 503 ``unavailable`` is the documented answer of routes whose adapter (Docker,
            # system introspection) this daemon runs without; any other 5xx is a bug.
            if response.status_code >= 500:
                assert response.status_code == 503, response.text
                assert response.json()["error"] == "unavailable", response.text
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = str(exc)[:2000]
    assert count > 50
    assert failures == {}


def test_the_document_is_openapi_3_1_with_every_route(api: tuple[Daemon, str]) -> None:
    daemon, _ = api
    doc = httpx.get(f"{daemon.base}/api/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    paths = doc["paths"]
    assert {"/api/auth/login", "/api/projects", "/api/projects/{project_id}/deploy"} <= set(paths)
    assert paths["/api/projects"]["post"]["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProjectOut"
    }
    assert "ServiceCreateIn" in doc["components"]["schemas"]
