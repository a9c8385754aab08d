"""Accounts over the API: ``AuthService``."""

from __future__ import annotations

from deploykit.auth import APIKey, APIKeyCreate, AuthTokens, Identity, ProfileUpdate
from deploykit.clock import isoformat
from deploykit.errors import UNAUTHORIZED, Error
from deploykit.user import User, UserCreate
from deploykit_http.client import decode
from deploykit_http.client.transport import Transport, not_offered


class AuthClient:
    """``deploykit.auth.AuthService`` over the API. Acting on "a user" means the token's user:
    the API lets nobody end another user's sessions or manage their keys."""

    def __init__(self, t: Transport) -> None:
        self.t = t

    async def can_register(self) -> bool:
        return bool((await self.t.request("GET", "/auth/register"))["can_register"])

    async def register(self, create: UserCreate) -> tuple[User, AuthTokens]:
        body = await self.t.request(
            "POST", "/auth/register", json={"email": create.email, "name": create.name, "password": create.password}
        )
        return decode.user(body["user"]), decode.tokens(body["tokens"])

    async def login(self, email: str, password: str) -> AuthTokens:
        return decode.tokens(await self.t.request("POST", "/auth/login", json={"email": email, "password": password}))

    async def refresh(self, refresh_token: str) -> AuthTokens:
        return decode.tokens(await self.t.request("POST", "/auth/refresh", json={"refresh_token": refresh_token}))

    async def authenticate(self, token: str) -> Identity:
        """Who ``token`` is; the API does not say which session or key it is."""
        return Identity(user=decode.user(await self.t.request("GET", "/auth/me", token=token)))

    async def me(self) -> User:
        """The user the client's own token belongs to."""
        return decode.user(await self.t.request("GET", "/auth/me"))

    async def session_active(self, session_id: str) -> bool:
        raise not_offered("Looking a session up by id")

    async def logout(self, session_id: str) -> None:
        """Ends the session of the client's token (the API names no other)."""
        await self.t.request("POST", "/auth/logout")

    async def logout_all(self, user_id: str) -> None:
        await self.t.request("POST", "/auth/logout", params={"all": "true"})

    async def update_profile(self, user_id: str, upd: ProfileUpdate, *, keep_session_id: str | None = None) -> User:
        body = {k: v for k, v in vars(upd).items() if v is not None}
        return decode.user(await self.t.request("PATCH", "/auth/profile", json=body))

    async def reset_password(self, email: str, password: str, *, keep_api_keys: bool = False) -> None:
        raise not_offered("Resetting a password (the operator runs 'deploykitd reset-password')")

    async def create_api_key(self, user_id: str, create: APIKeyCreate) -> tuple[APIKey, str]:
        body = await self.t.request(
            "POST",
            "/api-keys",
            json={"description": create.description, "expires_at": isoformat(create.expires_at)},
        )
        if not body.get("token"):
            raise Error(UNAUTHORIZED, "The daemon returned no key.")
        return decode.api_key(body, user_id), str(body["token"])

    async def list_api_keys(self, user_id: str) -> list[APIKey]:
        return [decode.api_key(k, user_id) for k in (await self.t.request("GET", "/api-keys"))["data"]]

    async def delete_api_key(self, user_id: str, id: str) -> None:
        await self.t.request("DELETE", f"/api-keys/{id}")
