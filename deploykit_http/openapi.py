"""The OpenAPI 3.1 document, generated from the endpoints and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

import pydantic
from pydantic.json_schema import models_json_schema

from deploykit_http import models as m
from deploykit_http.endpoint import Access, Endpoint

REF = "#/components/schemas/{model}"
ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
"""Ids are UUIDs, staged ``tmp_...`` ids or slugs: never a '/', so a path parameter cannot
change which route a request reaches."""
ERROR_DESCRIPTIONS = {
    400: "Invalid request or malformed JSON",
    401: "Missing or invalid token",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    422: "Validation failed",
    429: "Too many attempts",
    503: "Unavailable",
}


def _params(ep: Endpoint) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": ID_PATTERN}}
        for name in re.findall(r"{(\w+)}", ep.path)
    ]
    if ep.query is not None:
        schema = ep.query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            prop = {k: v for k, v in prop.items() if k != "title"}
            out.append({"name": name, "in": "query", "required": False, "schema": prop})
    if ep.path == "/auth/logout":
        out.append({"name": "all", "in": "query", "required": False, "schema": {"type": "boolean"}})
    return out


def build_openapi(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    models: set[type[pydantic.BaseModel]] = {m.ErrorOut}
    for ep in endpoints:
        if ep.body is not None:
            models.add(ep.body)
        if ep.response is not None:
            models.add(ep.response)
    keys, schema = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda x: x.__name__)], ref_template=REF
    )
    components = schema.get("$defs", {})

    def ref(model: type[pydantic.BaseModel]) -> dict[str, Any]:
        return keys[(model, "validation")]

    error_content = {"application/json": {"schema": ref(m.ErrorOut)}}
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{ep.method.lower()}{ep.path}").strip("_"),
            "summary": ep.summary,
            "tags": [ep.tag],
        }
        params = _params(ep)
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": ep.body_required,
                "content": {"application/json": {"schema": ref(ep.body)}},
            }
        responses: dict[str, Any] = {}
        if ep.status == 204:
            responses["204"] = {"description": "Done"}
        elif ep.content_type == "text/event-stream":
            responses[str(ep.status)] = {
                "description": "An event stream",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        else:
            content: dict[str, Any] = {"application/json": {"schema": ref(ep.response)} if ep.response else {}}
            if ep.extra.get("stream"):
                content["text/event-stream"] = {"schema": {"type": "string"}}
            responses[str(ep.status)] = {"description": "OK", "content": content}
        codes = set(ep.errors) | {400, 413} if ep.body is not None else set(ep.errors)
        if ep.access is not Access.PUBLIC:
            codes.add(401)
        if ep.access is Access.ADMIN:
            codes.add(403)
        if ep.query is not None or ep.body is not None:
            codes.add(422)
        if ep.path.endswith("/login"):
            codes.add(429)
        for code in sorted(codes):
            responses[str(code)] = {"description": ERROR_DESCRIPTIONS.get(code, "Error"), "content": error_content}
        op["responses"] = responses
        if ep.access is not Access.PUBLIC:
            op["security"] = [{"bearer": []}]
        paths.setdefault("/api" + ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "DeployKit", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
