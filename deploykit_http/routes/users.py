"""User administration (admins only). The last admin cannot be deleted or demoted (409)."""

from __future__ import annotations

from typing import Any

from deploykit.errors import FORBIDDEN, Error
from deploykit.user import Role, UserCreate, UserFilter, UserUpdate
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Access, Call, Endpoint
from deploykit_http.shapes import page
from deploykit_http.shapes.accounts import UserOut, UserPage, user_out


def endpoints(ctx: Context) -> list[Endpoint]:
    users = ctx.c.users

    async def list_users(call: Call) -> Any:
        q: m.Paging = call.query
        items, total = await users.list_users(UserFilter(offset=q.offset, limit=q.limit))
        return page([user_out(u) for u in items], total, q.offset, q.limit)

    async def create_user(call: Call) -> Any:
        body: m.UserCreateIn = call.body
        create = UserCreate(email=body.email, name=body.name, password=body.password, role=Role(body.role))
        create.validate()
        return user_out(await users.create_user(create))

    async def get_user(call: Call) -> Any:
        return user_out(await users.get_user(call.params["user_id"]))

    async def update_user(call: Call) -> Any:
        body: m.UserUpdateIn = call.body
        if body.password is not None and call.params["user_id"] == call.user.id:
            # Resetting is for other users' passwords: one's own takes the current one (the profile).
            raise Error(FORBIDDEN, "Change your own password from your profile, with your current password.")
        upd = UserUpdate(
            name=body.name,
            email=body.email,
            role=Role(body.role) if body.role is not None else None,
            password=body.password,
            keep_api_keys=body.keep_api_keys,
        )
        upd.validate()
        user = await users.update_user(call.params["user_id"], upd)
        ctx.identities.forget_user(user.id)
        if body.password is not None:
            # A reset ends every session (and the keys unless kept): their canvas sockets close now.
            if body.keep_api_keys:
                await ctx.hub.end_user_sessions(user.id, except_session_id=None)
            else:
                await ctx.hub.end_user(user.id)
        return user_out(user)

    async def delete_user(call: Call) -> Any:
        user_id = call.params["user_id"]
        await users.delete_user(user_id)
        ctx.identities.forget_user(user_id)
        await ctx.hub.end_user(user_id)
        return None

    tag = "users"
    admin = Access.ADMIN
    return [
        Endpoint(
            "GET",
            "/users",
            list_users,
            "List users",
            tag,
            admin,
            query=m.Paging,
            response=UserPage,
            errors=(403, 422),
        ),
        Endpoint(
            "POST",
            "/users",
            create_user,
            "Create a user",
            tag,
            admin,
            body=m.UserCreateIn,
            response=UserOut,
            status=201,
            errors=(400, 403, 409, 422),
        ),
        Endpoint("GET", "/users/{user_id}", get_user, "Get a user", tag, admin, response=UserOut, errors=(403, 404)),
        Endpoint(
            "PATCH",
            "/users/{user_id}",
            update_user,
            "Update a user",
            tag,
            admin,
            body=m.UserUpdateIn,
            response=UserOut,
            errors=(400, 403, 404, 409, 422),
        ),
        Endpoint(
            "DELETE", "/users/{user_id}", delete_user, "Delete a user", tag, admin, status=204, errors=(403, 404, 409)
        ),
    ]
