"""Who a bearer token is, with a short cache.

Every authenticated request needs the identity; looking it up costs a database round trip, which
would be most of a cheap GET. Identities are therefore cached for a few seconds. Whatever ends a
session through this server (logout, logout-all, user deletion or demotion, key deletion) evicts
the cached entries at once, so that the cache never lets a logged-out token through; the TTL only
bounds how long a change made behind the server's back (``deploykitd reset-password``) takes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from deploykit.auth import AuthService, Identity
from deploykit.clock import Clock


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class _Cached:
    identity: Identity
    until: float


class Identities:
    """Implements ``endpoint.Authenticator`` over an ``AuthService``."""

    def __init__(self, auth: AuthService, clock: Clock, *, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self._auth = auth
        self._clock = clock
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._cache: dict[str, _Cached] = {}

    async def identify(self, token: str) -> Identity:
        """Raises ``unauthorized``."""
        key = _key(token)
        now = self._clock.monotonic()
        hit = self._cache.get(key)
        if hit is not None:
            expires = hit.identity.expires_at
            if hit.until > now and (expires is None or expires > self._clock.now()):
                return hit.identity
            del self._cache[key]
        identity = await self._auth.authenticate(token)
        if self._ttl_s > 0:
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            self._cache[key] = _Cached(identity, now + self._ttl_s)
        return identity

    def forget_all(self) -> None:
        self._cache.clear()

    def forget_session(self, session_id: str) -> None:
        self._forget(lambda i: i.session_id == session_id)

    def forget_user(self, user_id: str) -> None:
        self._forget(lambda i: i.user.id == user_id)

    def forget_api_key(self, api_key_id: str) -> None:
        self._forget(lambda i: i.api_key_id == api_key_id)

    def _forget(self, match: Callable[[Identity], bool]) -> None:
        for key in [k for k, v in self._cache.items() if match(v.identity)]:
            del self._cache[key]
