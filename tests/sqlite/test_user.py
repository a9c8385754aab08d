"""UserService, including the last-admin rule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from deploykit.errors import Error
from deploykit.user import Role, User, UserCreate, UserFilter, UserUpdate
from deploykit_sqlite import Store


@pytest.fixture
async def admin(store: Store) -> User:
    user, _ = await store.auth.register(UserCreate(email="Admin@Example.com", name="Ada", password="correct horse"))
    return user


async def test_create_user_normalizes_email_and_defaults_to_member(store: Store, admin: User) -> None:
    user = await store.users.create_user(UserCreate(email="  Bob@Example.COM ", name="Bob", password="password1"))
    assert (user.email, user.name, user.role) == ("bob@example.com", "Bob", Role.MEMBER)
    assert await store.users.get_user(user.id) == user


@pytest.mark.parametrize(
    ("create", "code", "message"),
    [
        (
            UserCreate(email="admin@example.com", name="Dup", password="password1"),
            "conflict",
            "A user with this email already exists.",
        ),
        (
            UserCreate(email="ADMIN@example.com", name="Dup", password="password1"),
            "conflict",
            "A user with this email already exists.",
        ),
        (
            UserCreate(email="not-an-email", name="X", password="password1"),
            "invalid",
            "email: must be a valid email address",
        ),
        (UserCreate(email="x@example.com", name="", password="password1"), "invalid", "name: must not be empty"),
        (
            UserCreate(email="x@example.com", name="X", password="short"),
            "invalid",
            "password: must be at least 8 characters",
        ),
    ],
)
async def test_create_user_errors(store: Store, admin: User, create: UserCreate, code: str, message: str) -> None:
    with pytest.raises(Error) as info:
        await store.users.create_user(create)
    assert (info.value.code, info.value.message) == (code, message)


async def test_list_users_filters(store: Store, admin: User) -> None:
    await store.users.create_user(UserCreate(email="b@example.com", name="B", password="password1"))
    users, total = await store.users.list_users(UserFilter())
    assert total == 2
    assert [u.email for u in users] == ["admin@example.com", "b@example.com"]
    admins, total = await store.users.list_users(UserFilter(role=Role.ADMIN))
    assert (total, [u.id for u in admins]) == (1, [admin.id])
    found, _ = await store.users.list_users(UserFilter(email="B@EXAMPLE.com"))
    assert [u.email for u in found] == ["b@example.com"]


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("demote", "The last admin cannot be demoted."),
        ("delete", "The last admin cannot be deleted."),
    ],
)
async def test_the_last_admin_stays(store: Store, admin: User, action: str, message: str) -> None:
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "demote": lambda: store.users.update_user(admin.id, UserUpdate(role=Role.MEMBER)),
        "delete": lambda: store.users.delete_user(admin.id),
    }
    with pytest.raises(Error) as info:
        await calls[action]()
    assert (info.value.code, info.value.message) == ("conflict", message)
    assert (await store.users.get_user(admin.id)).role == Role.ADMIN


async def test_an_admin_can_go_once_another_exists(store: Store, admin: User) -> None:
    other = await store.users.create_user(
        UserCreate(email="b@example.com", name="B", password="password1", role=Role.ADMIN)
    )
    demoted = await store.users.update_user(admin.id, UserUpdate(role=Role.MEMBER))
    assert demoted.role == Role.MEMBER
    with pytest.raises(Error) as info:
        await store.users.delete_user(other.id)
    assert info.value.code == "conflict"
    await store.users.delete_user(admin.id)
    with pytest.raises(Error) as info:
        await store.users.get_user(admin.id)
    assert (info.value.code, info.value.message) == ("not_found", "User not found.")


async def test_update_user_email_conflict_and_password_change_ends_sessions(store: Store, admin: User) -> None:
    member = await store.users.create_user(UserCreate(email="b@example.com", name="B", password="password1"))
    with pytest.raises(Error) as info:
        await store.users.update_user(member.id, UserUpdate(email="admin@example.com"))
    assert (info.value.code, info.value.message) == ("conflict", "A user with this email already exists.")
    tokens = await store.auth.login("b@example.com", "password1")
    updated = await store.users.update_user(member.id, UserUpdate(name="Bea", password="new password"))
    assert updated.name == "Bea"
    with pytest.raises(Error) as info:
        await store.auth.authenticate(tokens.access_token)
    assert info.value.code == "unauthorized"
    await store.auth.login("b@example.com", "new password")


async def test_deleting_a_user_ends_their_sessions_and_keys(store: Store, admin: User) -> None:
    from deploykit.auth import APIKeyCreate

    member = await store.users.create_user(UserCreate(email="b@example.com", name="B", password="password1"))
    tokens = await store.auth.login("b@example.com", "password1")
    _, key = await store.auth.create_api_key(member.id, APIKeyCreate(description="ci"))
    await store.users.delete_user(member.id)
    for token in (tokens.access_token, key):
        with pytest.raises(Error) as info:
            await store.auth.authenticate(token)
        assert info.value.code == "unauthorized"


@pytest.mark.parametrize("call", ["get", "update", "delete"])
async def test_unknown_user_is_not_found(store: Store, call: str) -> None:
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: store.users.get_user("nope"),
        "update": lambda: store.users.update_user("nope", UserUpdate(name="x")),
        "delete": lambda: store.users.delete_user("nope"),
    }
    with pytest.raises(Error) as info:
        await calls[call]()
    assert (info.value.code, info.value.message) == ("not_found", "User not found.")
