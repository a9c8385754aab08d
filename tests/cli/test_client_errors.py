"""The client turns every failure into the domain's ``Error`` with the API's code: the network is
replaced by an ``httpx.MockTransport`` (an injected transport, no patching)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from deploykit.errors import Error, ValidationError
from deploykit.project import ProjectCreate
from deploykit.service import ServiceStatus
from deploykit_http.client import Client

Handler = Callable[[httpx.Request], httpx.Response]


def answering(status: int, body: object = None, headers: dict[str, str] | None = None) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, headers=headers)
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handle


async def failure(handler: Handler) -> Error:
    async with Client("http://dk.test", "dk_key", transport=httpx.MockTransport(handler)) as dk:
        with pytest.raises(Error) as caught:
            await dk.projects.get_project("p1")
    return caught.value


@pytest.mark.parametrize(
    ("status", "body", "code", "message"),
    [
        (
            401,
            {"error": "unauthorized", "message": "Invalid or expired token."},
            "unauthorized",
            "Invalid or expired token.",
        ),
        (403, {"error": "forbidden", "message": "Admins only."}, "forbidden", "Admins only."),
        (404, {"error": "not_found", "message": "Project not found."}, "not_found", "Project not found."),
        (409, {"error": "conflict", "message": "Name taken."}, "conflict", "Name taken."),
        (400, {"error": "invalid", "message": "Malformed JSON."}, "invalid", "Malformed JSON."),
        (
            503,
            {"error": "unavailable", "message": "The Docker engine is not reachable."},
            "unavailable",
            "The Docker engine is not reachable.",
        ),
        (500, {"error": "internal", "message": "Internal error."}, "internal", "Internal error."),
        # Bodies that are not the API's error shape: the status decides, the text is not shown.
        (502, "<html>Bad Gateway</html>", "unavailable", "Bad Gateway"),
        (404, "not json", "not_found", "Not Found"),
        (500, "Traceback (most recent call last): secret", "internal", "Internal error."),
        (418, {"error": "teapot", "message": "I'm a teapot"}, "internal", "Internal error."),
    ],
)
async def test_error_responses_become_domain_errors_with_the_same_code(
    status: int, body: object, code: str, message: str
) -> None:
    err = await failure(answering(status, body))
    assert (type(err), err.code, err.message) == (Error, code, message)


async def test_validation_errors_keep_their_fields() -> None:
    body = {"error": "invalid", "message": "name: must not be empty", "fields": {"name": ["must not be empty"]}}
    err = await failure(answering(422, body))
    assert isinstance(err, ValidationError)
    assert (err.code, err.message, err.fields) == (
        "invalid",
        "name: must not be empty",
        {"name": ["must not be empty"]},
    )


async def test_rate_limited_carries_retry_after() -> None:
    body = {"error": "rate_limited", "message": "Too many attempts."}
    err = await failure(answering(429, body, {"Retry-After": "42"}))
    assert (err.code, err.message, err.retry_after) == ("rate_limited", "Too many attempts.", 42.0)


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (httpx.ConnectError("refused"), "Cannot reach DeployKit at http://dk.test: ConnectError."),
        (httpx.ReadTimeout("slow"), "DeployKit at http://dk.test did not answer in time."),
    ],
)
async def test_a_daemon_that_does_not_answer_is_unavailable(exc: httpx.TransportError, message: str) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise exc

    err = await failure(handle)
    assert (err.code, err.message) == ("unavailable", message)
    assert err.__cause__ is exc


async def test_requests_carry_the_token_and_json_body() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            201,
            json={"id": "p1", "name": "Shop", "slug": "shop", "created_at": "2026-01-02T03:04:05Z", "updated_at": None},
        )

    async with Client("http://dk.test/", "dk_key", transport=httpx.MockTransport(handle)) as dk:
        project = await dk.projects.create_project(ProjectCreate(name="Shop"))
    assert (project.id, project.slug, project.created_at is not None) == ("p1", "shop", True)
    assert project.created_at is not None
    assert project.created_at.utcoffset() is not None
    request = seen[0]
    assert (request.method, str(request.url)) == ("POST", "http://dk.test/api/projects")
    assert request.headers["Authorization"] == "Bearer dk_key"
    assert json.loads(request.content) == {"name": "Shop"}


async def test_daemon_only_methods_are_forbidden_without_a_request() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request {request.url}")

    async with Client("http://dk.test", "dk_key", transport=httpx.MockTransport(handle)) as dk:
        with pytest.raises(Error) as caught:
            await dk.services.set_service_status("s1", ServiceStatus.RUNNING)
        with pytest.raises(Error) as marked:
            await dk.deployments.mark_healthy("d1")
    assert caught.value.code == marked.value.code == "forbidden"
    assert (
        caught.value.message
        == "Recording a service's observed status is done by the daemon itself; the API does not offer it."
    )


async def test_an_unopened_client_says_how_to_open_it() -> None:
    dk = Client("http://dk.test", "dk_key")
    with pytest.raises(Error) as caught:
        await dk.projects.get_project("p1")
    assert (caught.value.code, caught.value.message) == (
        "internal",
        "The client is not open: use 'async with Client(...)'.",
    )
