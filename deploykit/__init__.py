"""DeployKit's domain: entities, inputs, service Protocols and pure functions.

This package imports only the standard library. Every adapter package (``deploykit_sqlite``,
``deploykit_docker``, ...) implements one or more of the Protocols declared here, and the composition
root ``deploykitd`` wires them together.
"""

from deploykit.errors import (
    CONFLICT,
    FORBIDDEN,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
    Error,
    ValidationError,
    error_code,
    error_message,
)

__version__ = "0.1.0"

__all__ = [
    "CONFLICT",
    "FORBIDDEN",
    "INTERNAL",
    "INVALID",
    "NOT_FOUND",
    "RATE_LIMITED",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "Error",
    "ValidationError",
    "__version__",
    "error_code",
    "error_message",
]
