"""``.env`` text as pasted into the Variables editor, parsed by python-dotenv (quotes, ``export``,
escapes and comments as everywhere else ``.env`` files are read)."""

from __future__ import annotations

import io

from deploykit.errors import FieldErrors


def parse_dotenv(text: str, field_name: str = "dotenv") -> dict[str, str]:
    """The variables of ``text``, in order; a later line wins over an earlier one with the same
    key, as in a shell. A line with a key and no ``=`` is an empty value. Raises ``invalid``
    naming every line that is not ``KEY=value``."""
    from dotenv.parser import parse_stream  # pasted .env text is rare: the daemon does not carry it idle

    values: dict[str, str] = {}
    errors = FieldErrors()
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.string.strip()
            shown = line if len(line) <= 40 else line[:37] + "..."
            errors.add(field_name, f"line {binding.original.line} is not KEY=value: {shown}")
        elif binding.key is not None:
            values[binding.key] = binding.value or ""
    errors.raise_if_any()
    return values
