"""Authentication: sessions with rotating refresh tokens, and API keys.

Tokens are 32 random bytes; only their SHA-256 is stored. API keys start with ``dk_``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from deploykit.user import User, UserCreate

API_KEY_PREFIX = "dk_"
ACCESS_TOKEN_TTL = timedelta(minutes=15)
REFRESH_TOKEN_TTL = timedelta(days=7)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_api_key(token: str) -> bool:
    return token.startswith(API_KEY_PREFIX)


@dataclass(frozen=True)
class AuthTokens:
    access_token: str
    refresh_token: str
    expires_at: datetime


@dataclass
class APIKey:
    id: str
    user_id: str
    description: str
    prefix: str
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class APIKeyCreate:
    description: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Identity:
    """Who a request acts as: the user, and the session or API key that proved it."""

    user: User
    session_id: str | None = None
    api_key_id: str | None = None
    expires_at: datetime | None = None
    api_key_name: str | None = None
    """The API key's description, for the audit log."""


def actor_name(identity: Identity) -> str:
    """Who did something, as a deployment card records it: the user's name, or the API key's."""
    if identity.api_key_id is not None:
        return f"API key {identity.api_key_name or identity.api_key_id[:8]}"
    return identity.user.name


@dataclass(frozen=True)
class ProfileUpdate:
    name: str | None = None
    email: str | None = None
    new_password: str | None = None
    current_password: str | None = None
    revoke_api_keys: bool = False
    """With a new password: delete the user's API keys too."""


class AuthService(Protocol):
    async def can_register(self) -> bool:
        """True only while no user exists."""
        ...

    async def register(self, create: UserCreate) -> tuple[User, AuthTokens]:
        """Create the first user as admin and log them in. Raises ``invalid``, ``conflict`` once a
        user exists."""
        ...

    async def login(self, email: str, password: str) -> AuthTokens:
        """Raises ``unauthorized`` for an unknown email or a wrong password (same timing)."""
        ...

    async def refresh(self, refresh_token: str) -> AuthTokens:
        """Rotate the pair. Presenting an already-rotated refresh token revokes that session.
        Raises ``unauthorized``."""
        ...

    async def authenticate(self, token: str) -> Identity:
        """A session access token or an API key (``dk_`` prefix). Raises ``unauthorized``."""
        ...

    async def session_active(self, session_id: str) -> bool:
        """Whether the session still exists, is not revoked and its access token not expired."""
        ...

    async def logout(self, session_id: str) -> None:
        """End one session. Raises ``not_found``."""
        ...

    async def logout_all(self, user_id: str) -> None:
        """End every session of the user."""
        ...

    async def update_profile(self, user_id: str, upd: ProfileUpdate, *, keep_session_id: str | None = None) -> User:
        """Changing email or password needs ``current_password``. A new password ends every
        session of the user but ``keep_session_id`` (the one asking), in the same transaction:
        whoever else held the old password is signed out; with ``revoke_api_keys`` their API keys
        are deleted too. Raises ``invalid`` (also a missing or wrong ``current_password``),
        ``conflict`` (email taken)."""
        ...

    async def reset_password(self, email: str, password: str, *, keep_api_keys: bool = False) -> None:
        """Operator recovery: set a password, end the user's sessions and, unless
        ``keep_api_keys``, delete their API keys (a reset follows a compromise: whoever had the
        password may have made a key). Raises ``not_found``, ``invalid``."""
        ...

    async def create_api_key(self, user_id: str, create: APIKeyCreate) -> tuple[APIKey, str]:
        """The key and its token, which is shown only this once. Raises ``invalid``."""
        ...

    async def list_api_keys(self, user_id: str) -> list[APIKey]: ...

    async def delete_api_key(self, user_id: str, id: str) -> None:
        """Raises ``not_found`` (also for another user's key)."""
        ...
