"""Registration, login, tokens, the profile and API keys."""

from __future__ import annotations

from typing import Any

from deploykit.auth import APIKeyCreate, ProfileUpdate
from deploykit.errors import FORBIDDEN, UNAUTHORIZED, Error, error_code
from deploykit.user import UserCreate
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Access, Call, Endpoint
from deploykit_http.shapes.accounts import (
    APIKeyList,
    APIKeyOut,
    CanRegisterOut,
    RegisterOut,
    TokensOut,
    UserOut,
    api_key_out,
    tokens_out,
    user_out,
)


def endpoints(ctx: Context) -> list[Endpoint]:
    auth = ctx.c.auth

    async def can_register(call: Call) -> Any:
        return {"can_register": await auth.can_register()}

    async def register(call: Call) -> Any:
        body: m.RegisterIn = call.body
        user, tokens = await auth.register(UserCreate(email=body.email, name=body.name, password=body.password))
        return {"user": user_out(user), "tokens": tokens_out(tokens)}

    async def login(call: Call) -> Any:
        body: m.LoginIn = call.body
        # Counted before the password is hashed: parallel guesses must not all pass the check.
        attempt = ctx.limiter.attempt(body.email, call.client_address)
        try:
            tokens = await auth.login(body.email, body.password)
        except Exception as exc:
            if error_code(exc) != UNAUTHORIZED:
                attempt.abandoned()
            raise
        attempt.succeeded()
        return tokens_out(tokens)

    async def refresh(call: Call) -> Any:
        body: m.RefreshIn = call.body
        try:
            tokens = await auth.refresh(body.refresh_token)
        except Exception:
            # Reusing a rotated token revokes a session we cannot name here: trust nothing cached.
            ctx.identities.forget_all()
            raise
        # The old access token stops working now, not when its cache entry ages out.
        identity = await auth.authenticate(tokens.access_token)
        if identity.session_id is not None:
            ctx.identities.forget_session(identity.session_id)
        return tokens_out(tokens)

    async def me(call: Call) -> Any:
        return user_out(call.user)

    async def logout(call: Call) -> Any:
        identity = call.identity
        assert identity is not None
        if call.request.query_params.get("all", "").lower() in ("1", "true", "yes"):
            await auth.logout_all(identity.user.id)
            ctx.identities.forget_user(identity.user.id)
            await ctx.hub.end_user(identity.user.id)
        elif identity.session_id is not None:
            await auth.logout(identity.session_id)
            ctx.identities.forget_session(identity.session_id)
            await ctx.hub.end_session(identity.session_id)
        else:
            raise Error("invalid", "An API key has no session to end; delete the key instead.")
        return None

    async def profile(call: Call) -> Any:
        body: m.ProfileIn = call.body
        keep = call.identity.session_id if call.identity is not None else None
        revoked = []
        if body.new_password is not None and body.revoke_api_keys:
            revoked = await auth.list_api_keys(call.user.id)
        user = await auth.update_profile(
            call.user.id,
            ProfileUpdate(
                name=body.name,
                email=body.email,
                new_password=body.new_password,
                current_password=body.current_password,
                revoke_api_keys=body.revoke_api_keys,
            ),
            keep_session_id=keep,
        )
        ctx.identities.forget_user(user.id)
        if body.new_password is not None:
            # The other sessions are gone from the store; their canvas sockets close now too.
            await ctx.hub.end_user_sessions(user.id, except_session_id=keep)
        for key in revoked:
            await ctx.hub.end_api_key(key.id)
        return user_out(user)

    async def list_keys(call: Call) -> Any:
        return {"data": [api_key_out(k) for k in await auth.list_api_keys(call.user.id)]}

    async def create_key(call: Call) -> Any:
        body: m.APIKeyIn = call.body
        if call.identity is not None and call.identity.api_key_id is not None:
            # A leaked key must not be able to outlive its own deletion by minting successors.
            raise Error(FORBIDDEN, "An API key cannot create API keys; sign in to create one.")
        key, token = await auth.create_api_key(
            call.user.id, APIKeyCreate(description=body.description, expires_at=body.expires_at)
        )
        return api_key_out(key, token)

    async def delete_key(call: Call) -> Any:
        await auth.delete_api_key(call.user.id, call.params["key_id"])
        ctx.identities.forget_api_key(call.params["key_id"])
        await ctx.hub.end_api_key(call.params["key_id"])
        return None

    tag = "auth"
    return [
        Endpoint(
            "GET",
            "/auth/register",
            can_register,
            "Whether registration is open",
            tag,
            Access.PUBLIC,
            response=CanRegisterOut,
        ),
        Endpoint(
            "POST",
            "/auth/register",
            register,
            "Register the first user (becomes admin)",
            tag,
            Access.PUBLIC,
            body=m.RegisterIn,
            response=RegisterOut,
            status=201,
            errors=(400, 409, 422),
        ),
        Endpoint(
            "POST",
            "/auth/login",
            login,
            "Log in",
            tag,
            Access.PUBLIC,
            body=m.LoginIn,
            response=TokensOut,
            errors=(400, 401, 422, 429),
        ),
        Endpoint(
            "POST",
            "/auth/refresh",
            refresh,
            "Rotate the token pair",
            tag,
            Access.PUBLIC,
            body=m.RefreshIn,
            response=TokensOut,
            errors=(400, 401, 422),
        ),
        Endpoint("GET", "/auth/me", me, "The current user", tag, response=UserOut),
        Endpoint(
            "POST",
            "/auth/logout",
            logout,
            "End this session (all sessions with ?all=true)",
            tag,
            status=204,
            errors=(400,),
        ),
        Endpoint(
            "PATCH",
            "/auth/profile",
            profile,
            "Update the current user's profile",
            tag,
            body=m.ProfileIn,
            response=UserOut,
            errors=(400, 409, 422),
        ),
        Endpoint("GET", "/api-keys", list_keys, "Own API keys", tag, response=APIKeyList),
        Endpoint(
            "POST",
            "/api-keys",
            create_key,
            "Create an API key (token shown once)",
            tag,
            body=m.APIKeyIn,
            response=APIKeyOut,
            status=201,
            errors=(400, 403, 422),
        ),
        Endpoint("DELETE", "/api-keys/{key_id}", delete_key, "Delete an own API key", tag, status=204, errors=(404,)),
    ]
