"""Errors, users, sessions and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import NotRequired

from typing_extensions import TypedDict

from deploykit.auth import APIKey, AuthTokens
from deploykit.user import Role, User


class ErrorOut(TypedDict):
    error: str
    message: str
    fields: NotRequired[dict[str, list[str]]]


class UserOut(TypedDict):
    id: str
    email: str
    name: str
    role: Role
    created_at: datetime | None
    updated_at: datetime | None


def user_out(u: User) -> UserOut:
    return {
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "role": u.role,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    }


class TokensOut(TypedDict):
    access_token: str
    refresh_token: str
    expires_at: datetime


def tokens_out(t: AuthTokens) -> TokensOut:
    return {"access_token": t.access_token, "refresh_token": t.refresh_token, "expires_at": t.expires_at}


class RegisterOut(TypedDict):
    user: UserOut
    tokens: TokensOut


class CanRegisterOut(TypedDict):
    can_register: bool


class APIKeyOut(TypedDict):
    id: str
    description: str
    prefix: str
    created_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    token: NotRequired[str]
    """Only in the answer that creates the key: it is never shown again."""


def api_key_out(k: APIKey, token: str | None = None) -> APIKeyOut:
    out: APIKeyOut = {
        "id": k.id,
        "description": k.description,
        "prefix": k.prefix,
        "created_at": k.created_at,
        "expires_at": k.expires_at,
        "last_used_at": k.last_used_at,
    }
    if token is not None:
        out["token"] = token
    return out


class APIKeyList(TypedDict):
    data: list[APIKeyOut]


class UserPage(TypedDict):
    data: list[UserOut]
    total_count: int
    offset: int
    limit: int


class OkOut(TypedDict):
    ok: bool
