"""Slugs: lowercase, dash-separated, DNS-safe names derived from what users type."""

from __future__ import annotations

import re
import secrets
import unicodedata

MAX_SLUG_LENGTH = 40
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(name: str, max_length: int = MAX_SLUG_LENGTH) -> str:
    """Lowercase ASCII letters and digits joined by single dashes, at most ``max_length`` long.

    Accents are folded (``Café`` -> ``cafe``); anything else becomes a dash; leading and trailing
    dashes are dropped. The result may be empty when ``name`` has no letters or digits.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _NON_ALNUM.sub("-", folded.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def project_slug(name: str, suffix: str | None = None) -> str:
    """A project's slug: the name's slug plus a random 6-hex suffix, unique without a lookup.

    >>> project_slug("My Shop", suffix="a1b2c3")
    'my-shop-a1b2c3'
    """
    tail = suffix if suffix is not None else secrets.token_hex(3)
    base = slugify(name, MAX_SLUG_LENGTH - len(tail) - 1) or "project"
    return f"{base}-{tail}"


def service_slug(name: str) -> str:
    """A service's slug: DNS-label safe, starting with a letter (it becomes a network alias)."""
    slug = slugify(name)
    if not slug:
        return "service"
    if not slug[0].isalpha():
        slug = f"s-{slug}"[:MAX_SLUG_LENGTH].rstrip("-")
    return slug
