"""Endpoints: a route's method, path, access level, body and response models, and its handler.

Each endpoint becomes one Starlette route whose wrapper authenticates, parses the body with the
endpoint's pydantic model, calls the handler and renders either its result or its error. The same
declarations feed the OpenAPI document (``openapi.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

import orjson
import pydantic
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deploykit.audit import Actor, acting_as
from deploykit.auth import Identity, actor_name
from deploykit.errors import FORBIDDEN, UNAUTHORIZED, Error, ValidationError
from deploykit.user import User
from deploykit_http.errors import error_response, status_response
from deploykit_http.jsonin import parse_json
from deploykit_http.middleware import BodyTooLarge
from deploykit_http.ratelimit import RequestLimiter
from deploykit_http.shapes import serialize

log = logging.getLogger("deploykit_http")


class Access(Enum):
    PUBLIC = "public"
    USER = "user"
    ADMIN = "admin"


class Authenticator(Protocol):
    """What an endpoint needs to turn a bearer token into an identity (see ``identity.py``)."""

    async def identify(self, token: str) -> Identity:
        """Raises ``unauthorized``."""
        ...


@dataclass
class Call:
    """One request as a handler sees it."""

    request: Request
    params: dict[str, str]
    identity: Identity | None = None
    body: Any = None
    query: Any = None

    @property
    def user(self) -> User:
        if self.identity is None:  # only reachable from a PUBLIC endpoint's misuse
            raise Error(UNAUTHORIZED, "Authentication required.")
        return self.identity.user

    @property
    def actor(self) -> str:
        """Who the request acts as, as a deployment card records it (``auth.actor_name``)."""
        if self.identity is None:
            raise Error(UNAUTHORIZED, "Authentication required.")
        return actor_name(self.identity)

    @property
    def client_address(self) -> str:
        return self.request.client.host if self.request.client else "unknown"


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    """Under ``/api``, Starlette/OpenAPI template syntax: ``/projects/{project_id}``."""
    handler: Handler
    summary: str
    tag: str
    access: Access = Access.USER
    body: type[pydantic.BaseModel] | None = None
    query: type[pydantic.BaseModel] | None = None
    response: Any = None
    """The shape (a ``TypedDict`` from ``shapes``) the handler's result is serialized through."""
    status: int = 200
    errors: tuple[int, ...] = ()
    content_type: str = "application/json"
    """Of a successful response; ``text/event-stream`` endpoints return their own Response."""
    body_required: bool = True
    cached: bool = False
    """The answer depends only on the query and the store's committed data, and is the same for
    every caller the endpoint admits: its serialized body is kept per query and answered again
    while the store's data version has not changed (see ``AnswerCache``). Authentication, the
    rate limit and the query's validation still run on every request."""
    extra: dict[str, Any] = field(default_factory=dict)


class FastJSONResponse(JSONResponse):
    """A JSON response encoded by orjson: the same compact UTF-8 JSON as Starlette's, about ten
    times faster to encode, which is a tenth of a cheap GET's cost. Keys that are not strings
    are written as strings; a value that is not JSON raises ``TypeError``."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def validation_fields(exc: pydantic.ValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for item in exc.errors(include_url=False):
        loc = [str(p) for p in item["loc"] if not (isinstance(p, str) and p in ("body", "query"))]
        # Drop discriminated-union tags such as "image" in ("source", "image", "image").
        name = ".".join(loc) or "body"
        fields.setdefault(name, []).append(str(item["msg"]))
    return fields


async def read_json(request: Request, required: bool) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise ValidationError({"body": ["is required"]}, "A JSON body is required.")
        return {}
    try:
        return parse_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Error("invalid", "Malformed JSON body.") from exc


def client_key(identity: Identity) -> str:
    """Whose request budget an authenticated request spends: its session's or its API key's."""
    return f"session:{identity.session_id}" if identity.session_id else f"key:{identity.api_key_id}"


async def identify(request: Request, authenticator: Authenticator, limiter: RequestLimiter, address: str) -> Identity:
    """The request's identity, after spending one of its client's requests: the token's, or the
    address's when there is no valid token (so that made-up tokens do not each get a budget).
    Raises ``unauthorized``, ``rate_limited``."""
    token = bearer_token(request)
    if token is None:
        limiter.take(f"address:{address}")
        raise Error(UNAUTHORIZED, "Authentication required.")
    try:
        identity = await authenticator.identify(token)
    except Error as exc:
        if exc.code == UNAUTHORIZED:
            limiter.take(f"address:{address}")
        raise
    limiter.take(client_key(identity))
    return identity


def actor_of(call: Call) -> Actor:
    identity = call.identity
    if identity is None:
        return Actor(address=call.client_address)
    return Actor(
        user_id=identity.user.id,
        name=identity.user.email,
        api_key_id=identity.api_key_id,
        api_key_name=identity.api_key_name,
        address=call.client_address,
    )


DataVersion = Callable[[], int | None]
"""A number that changes whenever data is committed to the store (by this process or another);
None when the store cannot tell, which turns ``Endpoint.cached`` off."""


class AnswerCache:
    """Serialized answers of one cached endpoint, per query, each with the data version it was
    read at. The version is read before the handler reads the store, so an answer is never older
    than its version (a commit in between only makes it newer, and changes the version)."""

    def __init__(self, max_entries: int = 256) -> None:
        self._max_entries = max_entries
        self._answers: dict[Any, tuple[int, bytes]] = {}

    def get(self, key: Any, version: int) -> bytes | None:
        hit = self._answers.get(key)
        return hit[1] if hit is not None and hit[0] == version else None

    def put(self, key: Any, version: int, body: bytes) -> None:
        if len(self._answers) >= self._max_entries and key not in self._answers:
            self._answers.clear()  # queries are bounded by the model, but offsets are many
        self._answers[key] = (version, body)


def _cache_key(call: Call) -> Any:
    return None if call.query is None else tuple(call.query.model_dump().items())


def _responder(
    ep: Endpoint, authenticator: Authenticator, limiter: RequestLimiter, data_version: DataVersion | None = None
) -> Callable[[Request], Awaitable[Response]]:
    answers = AnswerCache() if ep.cached and ep.response is not None and data_version is not None else None

    async def respond(request: Request) -> Response:
        call = Call(request=request, params=dict(request.path_params))
        try:
            if ep.access is Access.PUBLIC:
                limiter.take(f"address:{call.client_address}")
            else:
                call.identity = await identify(request, authenticator, limiter, call.client_address)
                request.state.user_id = call.identity.user.id  # for the access log
                if ep.access is Access.ADMIN and not call.identity.user.is_admin:
                    raise Error(FORBIDDEN, "Only admins may do this.")
            if ep.query is not None:
                try:
                    call.query = ep.query.model_validate(dict(request.query_params))
                except pydantic.ValidationError as exc:
                    raise ValidationError(validation_fields(exc)) from None
            version: int | None = None
            key: Any = None
            if answers is not None and data_version is not None and (version := data_version()) is not None:
                key = _cache_key(call)
                answer = answers.get(key, version)
                if answer is not None:
                    return Response(answer, ep.status, media_type="application/json")
            if ep.body is not None:
                data = await read_json(request, ep.body_required)
                if not isinstance(data, dict):
                    raise ValidationError({"body": ["must be a JSON object"]})
                try:
                    call.body = ep.body.model_validate(data)
                except pydantic.ValidationError as exc:
                    raise ValidationError(validation_fields(exc)) from None
            with acting_as(actor_of(call)):  # every event this request causes says who and from where
                result = await ep.handler(call)
            if isinstance(result, Response):
                return result
            if result is None:
                return Response(status_code=204)
            # Rendered inside the try: a result that does not fit its shape is a 500 in the API's shape.
            if ep.response is not None:
                body = serialize(ep.response, result)
                if answers is not None and version is not None:
                    answers.put(key, version, body)
                return Response(body, ep.status, media_type="application/json")
            return FastJSONResponse(result, status_code=ep.status)
        except BodyTooLarge:
            raise  # answered 413 by the edge middleware
        except Exception as exc:
            return error_response(exc, request.scope.get("state", {}).get("request_id"))

    return respond


def to_routes(
    endpoints: list[Endpoint],
    authenticator: Authenticator,
    limiter: RequestLimiter,
    data_version: DataVersion | None = None,
) -> list[Route]:
    """One Starlette route per path, dispatching on the method (so that a 405 names every
    method the path allows in ``Allow``). Every request spends one of its client's requests
    from ``limiter``. ``data_version`` enables the answers of ``cached`` endpoints."""
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for ep in endpoints:
        by_path.setdefault(ep.path, {})[ep.method] = _responder(ep, authenticator, limiter, data_version)
    routes = []
    for path, handlers in by_path.items():
        if "GET" in handlers:
            handlers["HEAD"] = handlers["GET"]

        async def dispatch(request: Request, handlers: dict[str, Any] = handlers) -> Response:
            response: Response = await handlers[request.method](request)
            return response

        routes.append(Route(path, dispatch, methods=list(handlers)))
    return routes


async def http_error(request: Request, exc: Exception) -> Response:
    """Routing errors from Starlette (unknown route, wrong method) in the API's error shape."""
    status = getattr(exc, "status_code", 500)
    headers = getattr(exc, "headers", None)
    messages = {404: "Not found.", 405: "Method not allowed."}
    return status_response(status, messages.get(status, "Request failed."), headers=headers)
