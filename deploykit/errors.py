"""The one error type of DeployKit, its codes, and helpers that never leak foreign details."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

CONFLICT = "conflict"
FORBIDDEN = "forbidden"
INTERNAL = "internal"
INVALID = "invalid"
NOT_FOUND = "not_found"
RATE_LIMITED = "rate_limited"
UNAUTHORIZED = "unauthorized"
UNAVAILABLE = "unavailable"

CODES = frozenset({CONFLICT, FORBIDDEN, INTERNAL, INVALID, NOT_FOUND, RATE_LIMITED, UNAUTHORIZED, UNAVAILABLE})

INTERNAL_MESSAGE = "Internal error."


class Error(Exception):
    """A domain error: a machine-readable ``code`` and a message fit to show a user.

    ``retry_after`` is set (in seconds) for ``rate_limited`` errors.
    """

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"Error({self.code!r}, {self.message!r})"


class ValidationError(Error):
    """An ``invalid`` error that names each bad field with its reasons."""

    def __init__(self, fields: dict[str, list[str]], message: str | None = None) -> None:
        if message is None:
            first = next(iter(fields.items()), ("input", ["is invalid"]))
            message = f"{first[0]}: {first[1][0]}" if first[1] else "Invalid input."
        super().__init__(INVALID, message)
        self.fields = fields


@dataclass
class FieldErrors:
    """Collects per-field messages while validating; ``raise_if_any`` raises one ValidationError."""

    fields: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, reason: str) -> None:
        self.fields.setdefault(name, []).append(reason)

    def merge(self, other: FieldErrors, prefix: str = "") -> None:
        for name, reasons in other.fields.items():
            for reason in reasons:
                self.add(f"{prefix}{name}", reason)

    def __bool__(self) -> bool:
        return bool(self.fields)

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationError(self.fields)


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__


def find_error(exc: BaseException | None) -> Error | None:
    """The first ``Error`` in ``exc``'s ``__cause__`` chain, or None."""
    for item in _chain(exc):
        if isinstance(item, Error):
            return item
    return None


def error_code(exc: BaseException | None) -> str:
    """The code of the first domain error in the chain; ``internal`` for anything foreign."""
    err = find_error(exc)
    return err.code if err is not None and err.code in CODES else INTERNAL


def error_message(exc: BaseException | None) -> str:
    """The message of the first domain error in the chain; never a foreign error's text."""
    err = find_error(exc)
    if err is None or err.code == INTERNAL or err.code not in CODES:
        return INTERNAL_MESSAGE
    return err.message


def not_found(what: str) -> Error:
    return Error(NOT_FOUND, f"{what} not found.")
