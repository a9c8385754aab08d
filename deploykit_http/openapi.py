"""The OpenAPI 3.1 document, generated from the endpoints and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from deploykit_http.endpoint import Access, Endpoint
from deploykit_http.shapes import adapter
from deploykit_http.shapes.accounts import ErrorOut
from deploykit_http.shapes.canvas import CanvasClientMessage, CanvasServerMessage

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
    # Bodies are documented as they are validated, responses as they are serialized.
    inputs: dict[tuple[Any, JsonSchemaMode], TypeAdapter[Any]] = {
        (ErrorOut, "serialization"): adapter(ErrorOut),
        # No route answers with the canvas socket's messages; its clients are typed from them too.
        (CanvasServerMessage, "serialization"): adapter(CanvasServerMessage),
        (CanvasClientMessage, "validation"): adapter(CanvasClientMessage),
    }
    for ep in endpoints:
        if ep.body is not None:
            inputs[(ep.body, "validation")] = adapter(ep.body)
        if ep.response is not None:
            inputs[(ep.response, "serialization")] = adapter(ep.response)
    ordered = sorted(inputs.items(), key=lambda item: (item[0][0].__name__, item[0][1]))
    keys, schema = TypeAdapter.json_schemas([(k, k[1], a) for k, a in ordered], ref_template=REF)
    components = schema.get("$defs", {})

    def ref(model: Any, mode: JsonSchemaMode = "serialization") -> dict[str, Any]:
        return keys[((model, mode), mode)]

    error_content = {"application/json": {"schema": ref(ErrorOut)}}
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
                "content": {"application/json": {"schema": ref(ep.body, "validation")}},
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
