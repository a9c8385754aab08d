"""JSON from clients, refused before it reaches a handler if a later read could not render it.

Python's parser accepts things that the rest of the stack cannot carry: an unpaired surrogate
(``"\\ud800"``) is a ``str`` that UTF-8 and orjson refuse, so a stored one turns every response
that includes it into a 500; an integer beyond 64 bits overflows SQLite and orjson; ``1e400`` is
an infinity; and a document nested thousands deep exhausts the recursion limit. Each is refused
here with the field that holds it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from deploykit.errors import FieldErrors, ValidationError

MAX_DEPTH = 32
"""Containers inside containers; the deepest body the API takes is four."""
INT_RANGE = range(-(2**63), 2**63)


def reject_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON (RFC 8259); Python's parser accepts them, and a
    stored infinity would break every later response that carries it."""
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: str | bytes) -> Any:
    """The parsed document. Raises ``ValueError`` (also ``UnicodeDecodeError``) for text that is
    not JSON, ``ValidationError`` naming the field for JSON that the API cannot store."""
    try:
        data = json.loads(raw, parse_constant=reject_constant)
    except RecursionError:
        raise ValidationError({"body": [f"must not be nested more than {MAX_DEPTH} levels deep"]}) from None
    check_storable(data)
    return data


def check_storable(data: Any) -> None:
    """Raises ``ValidationError`` naming every value (path ``a.b.0``) that cannot be stored and
    read back: unpaired surrogates in strings or keys, integers beyond 64 bits, non-finite
    numbers, nesting deeper than ``MAX_DEPTH``."""
    errors = FieldErrors()
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack and len(errors.fields) < 10:
        value, path, depth = stack.pop()
        name = path or "body"
        if isinstance(value, str):
            if not _encodable(value):
                errors.add(name, "must not contain unpaired surrogates (\\ud800-\\udfff)")
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            if value not in INT_RANGE:
                errors.add(name, "must be a 64-bit integer")
        elif isinstance(value, float):
            if not math.isfinite(value):
                errors.add(name, "must be a finite number")
        elif depth >= MAX_DEPTH:
            errors.add(name, f"must not be nested more than {MAX_DEPTH} levels deep")
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if not _encodable(key):
                    errors.add(f"{path}.<key>" if path else "<key>", "must not contain unpaired surrogates")
                    continue
                stack.append((item, child, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}.{i}" if path else str(i), depth + 1) for i, item in enumerate(value))
    errors.raise_if_any()


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
