"""Git repository URLs as a security boundary: which ones reach the daemon's own host, and the
credentials they may carry.

The daemon runs as root next to the Docker socket, so a repository on its own disk (``file://``, an
absolute path) or on its own loopback or link-local network (cloud metadata at 169.254.169.254) is
off limits unless the operator starts it with ``--allow-local-repos``. Credentials in a URL
(``https://user:token@host/...``) are a secret: stored sealed, shown and logged redacted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from deploykit.errors import FieldErrors

REPO_FIELD = "source.repo_url"
LOCAL_REFUSED = (
    "is a repository on the daemon's own host; the daemon refuses those unless started with --allow-local-repos"
)
REDACTED = "***"
# [user@]host:path, where host has no slash and the colon is not part of "://".
SCP_LIKE_RE = re.compile(r"^(?:[^@/:\s]+@)?(?P<host>[^@/:\s]+):(?!//)")
USERINFO_RE = re.compile(r"(://)[^/@\s]+@")
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_local_path(url: str) -> bool:
    """A repository git would read from the local file system: ``file://`` or a path."""
    if url.lower().startswith("file:"):
        return True
    if "://" in url:
        return False
    return url.startswith(("/", ".", "~")) or not SCP_LIKE_RE.match(url)


def repo_host(url: str) -> str | None:
    """The host a remote URL connects to (brackets removed); None for a local path."""
    if is_local_path(url):
        return None
    if "://" in url:
        try:
            return urlsplit(url).hostname or None
        except ValueError:
            return None
    match = SCP_LIKE_RE.match(url)
    return match.group("host").strip("[]").lower() if match else None


def refused_address(address: str) -> bool:
    """Whether an IP address is the host itself or its link: loopback (127.0.0.0/8, ::1), link-local
    (169.254.0.0/16, fe80::/10, where cloud metadata answers) or unspecified (0.0.0.0, ::)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified


def local_repo(url: str) -> bool:
    """A repository on the daemon's own host as far as the URL alone tells: a local path, a
    ``localhost`` name or a literal loopback/link-local address. (The builder also checks what a
    host name resolves to, just before cloning.)"""
    host = repo_host(url)
    if host is None:
        return True
    return host.lower().rstrip(".") in LOCAL_NAMES or refused_address(host)


def check_repo_url(url: str, *, allow_local: bool, errors: FieldErrors, field: str = REPO_FIELD) -> None:
    """Add an error for a repository the daemon may not build from."""
    if not allow_local and local_repo(url):
        errors.add(field, LOCAL_REFUSED)


def _split(url: str) -> SplitResult | None:
    if "://" not in url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    return parts


def has_credentials(url: str) -> bool:
    """Whether the URL carries a secret: a password, or a user name over HTTP(S) (a token)."""
    parts = _split(url)
    if parts is None or "@" not in parts.netloc:
        return False
    return parts.password is not None or parts.scheme.lower() in ("http", "https")


def redact_url(url: str) -> str:
    """``https://user:***@host/...`` (``https://***@host/...`` for a token alone); other URLs as they are."""
    if not has_credentials(url):
        return url
    parts = _split(url)
    assert parts is not None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:{REDACTED}" if colon else REDACTED
    return parts._replace(netloc=f"{shown}@{hostport}").geturl()


def unredact_url(url: str, stored: str) -> str:
    """The stored URL when ``url`` is its redacted form (a client sent back what it was shown); else ``url``."""
    return stored if url != stored and has_credentials(stored) and redact_url(stored) == url else url


def redact_source(source: Any) -> Any:
    """A source in its JSON form with the repository URL redacted; anything else as it is."""
    if isinstance(source, Mapping) and isinstance(source.get("repo_url"), str):
        return {**source, "repo_url": redact_url(source["repo_url"])}
    return source


def redact_text(text: str) -> str:
    """Hide the ``user:token@`` part of every URL in free text (a log line, git's output)."""
    return USERINFO_RE.sub(r"\1***@", text)
