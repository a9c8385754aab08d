"""The one place that knows HTTP statuses: domain errors rendered as JSON responses."""

from __future__ import annotations

import logging
import math
from typing import Any

from starlette.responses import JSONResponse

from deploykit.errors import (
    CONFLICT,
    FORBIDDEN,
    INTERNAL,
    INTERNAL_MESSAGE,
    INVALID,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
    Error,
    ValidationError,
    error_code,
    error_message,
    find_error,
)

log = logging.getLogger("deploykit_http")

STATUS_BY_CODE: dict[str, int] = {
    INVALID: 400,
    UNAUTHORIZED: 401,
    FORBIDDEN: 403,
    NOT_FOUND: 404,
    CONFLICT: 409,
    RATE_LIMITED: 429,
    INTERNAL: 500,
    UNAVAILABLE: 503,
}

# Statuses that the HTTP layer itself produces, with the code their body carries.
CODE_BY_STATUS: dict[int, str] = {
    400: INVALID,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: "method_not_allowed",
    409: CONFLICT,
    413: "payload_too_large",
    422: INVALID,
    429: RATE_LIMITED,
    500: INTERNAL,
    503: UNAVAILABLE,
}


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return body


def error_response(exc: BaseException, request_id: str | None = None) -> JSONResponse:
    """Render any exception. Foreign ones are logged with the request id and answered 500
    "Internal error." so that no library text ever reaches a client."""
    code = error_code(exc)
    if code == INTERNAL:
        log.error("internal error (request %s)", request_id or "-", exc_info=exc)
        return JSONResponse(error_body(INTERNAL, INTERNAL_MESSAGE), status_code=500)
    err = find_error(exc)
    message = error_message(exc)
    if isinstance(err, ValidationError):
        return JSONResponse(error_body(code, message, err.fields), status_code=422)
    headers: dict[str, str] = {}
    if code == RATE_LIMITED:
        retry = err.retry_after if err is not None and err.retry_after is not None else 60.0
        headers["Retry-After"] = str(max(1, math.ceil(retry)))
    return JSONResponse(error_body(code, message), status_code=STATUS_BY_CODE[code], headers=headers)


def status_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error the HTTP layer produces itself (routing, body size, malformed JSON)."""
    return JSONResponse(error_body(CODE_BY_STATUS.get(status, INTERNAL), message), status_code=status, headers=headers)


def unavailable(what: str) -> Error:
    return Error(UNAVAILABLE, f"{what} is not available on this server.")
