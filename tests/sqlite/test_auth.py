"""AuthService: registration, login, rotating refresh tokens, API keys, profile."""

from __future__ import annotations

from datetime import timedelta

import pytest

from deploykit.auth import ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, APIKeyCreate, ProfileUpdate, hash_token
from deploykit.errors import Error, ValidationError
from deploykit.user import Role, User, UserCreate
from deploykit_sqlite import Store
from tests.sqlite.support import ManualClock

PASSWORD = "correct horse"


@pytest.fixture
async def admin(store: Store) -> User:
    user, _ = await store.auth.register(UserCreate(email="ada@example.com", name="Ada", password=PASSWORD))
    return user


async def test_first_user_registers_as_admin_and_registration_closes(store: Store, clock: ManualClock) -> None:
    assert await store.auth.can_register() is True
    user, tokens = await store.auth.register(UserCreate(email="ada@example.com", name="Ada", password=PASSWORD))
    assert user.role == Role.ADMIN
    assert tokens.expires_at == clock.now() + ACCESS_TOKEN_TTL
    assert len(tokens.access_token) >= 43
    assert tokens.access_token != tokens.refresh_token
    assert (await store.auth.authenticate(tokens.access_token)).user == user
    assert await store.auth.can_register() is False
    with pytest.raises(Error) as info:
        await store.auth.register(UserCreate(email="bob@example.com", name="Bob", password=PASSWORD))
    assert (info.value.code, info.value.message) == ("conflict", "Registration is closed.")


async def test_register_validates(store: Store) -> None:
    with pytest.raises(ValidationError) as info:
        await store.auth.register(UserCreate(email="ada@example.com", name="Ada", password="short"))
    assert info.value.fields == {"password": ["must be at least 8 characters"]}
    assert await store.auth.can_register() is True


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ada@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("nobody@example.com", "wrong password"),
    ],
)
async def test_login_failures_are_one_unauthorized(store: Store, admin: User, email: str, password: str) -> None:
    with pytest.raises(Error) as info:
        await store.auth.login(email, password)
    assert (info.value.code, info.value.message) == ("unauthorized", "Invalid email or password.")


async def test_unknown_email_is_checked_against_a_real_dummy_hash(
    store: Store, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    original = store.hasher.check_unknown

    async def spy(password: str) -> bool:
        checked.append(password)
        return await original(password)

    monkeypatch.setattr(store.auth.hasher, "check_unknown", spy)
    with pytest.raises(Error):
        await store.auth.login("nobody@example.com", PASSWORD)
    assert checked == [PASSWORD]
    assert store.hasher._dummy is not None
    assert store.hasher._dummy.startswith(b"$2b$04$")


async def test_login_is_case_insensitive_on_email(store: Store, admin: User) -> None:
    tokens = await store.auth.login("  ADA@example.com", PASSWORD)
    assert (await store.auth.authenticate(tokens.access_token)).user.id == admin.id


async def test_only_hashes_of_tokens_are_stored(store: Store, admin: User) -> None:
    tokens = await store.auth.login("ada@example.com", PASSWORD)
    async with store.db.read() as tx:
        row = await tx.fetchone(
            "SELECT access_hash, refresh_hash FROM sessions WHERE access_hash = ?", (hash_token(tokens.access_token),)
        )
        assert row is not None
        assert row["refresh_hash"] == hash_token(tokens.refresh_token)
        everything = await tx.fetchall("SELECT * FROM sessions")
    assert all(tokens.access_token not in [str(v) for v in tuple(r)] for r in everything)


async def test_access_token_expires_after_15_minutes(store: Store, admin: User, clock: ManualClock) -> None:
    tokens = await store.auth.login("ada@example.com", PASSWORD)
    identity = await store.auth.authenticate(tokens.access_token)
    assert identity.session_id is not None
    clock.advance(ACCESS_TOKEN_TTL - timedelta(seconds=1))
    assert await store.auth.session_active(identity.session_id) is True
    clock.advance(timedelta(seconds=1))
    assert await store.auth.session_active(identity.session_id) is False
    with pytest.raises(Error) as info:
        await store.auth.authenticate(tokens.access_token)
    assert (info.value.code, info.value.message) == ("unauthorized", "The token is invalid or expired.")
    fresh = await store.auth.refresh(tokens.refresh_token)
    assert (await store.auth.authenticate(fresh.access_token)).session_id == identity.session_id


async def test_refresh_rotates_the_pair(store: Store, admin: User) -> None:
    first = await store.auth.login("ada@example.com", PASSWORD)
    second = await store.auth.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    with pytest.raises(Error) as info:
        await store.auth.authenticate(first.access_token)
    assert info.value.code == "unauthorized"
    assert (await store.auth.authenticate(second.access_token)).user.id == admin.id


async def test_reusing_a_rotated_refresh_token_revokes_the_session(store: Store, admin: User) -> None:
    first = await store.auth.login("ada@example.com", PASSWORD)
    second = await store.auth.refresh(first.refresh_token)
    session_id = (await store.auth.authenticate(second.access_token)).session_id
    assert session_id is not None
    with pytest.raises(Error) as info:
        await store.auth.refresh(first.refresh_token)
    assert (info.value.code, info.value.message) == (
        "unauthorized",
        "This refresh token was already used; the session has been revoked.",
    )
    assert await store.auth.session_active(session_id) is False
    for attempt in (store.auth.authenticate(second.access_token), store.auth.refresh(second.refresh_token)):
        with pytest.raises(Error) as info:
            await attempt
        assert info.value.code == "unauthorized"


async def test_refresh_token_expires_after_7_days(store: Store, admin: User, clock: ManualClock) -> None:
    tokens = await store.auth.login("ada@example.com", PASSWORD)
    clock.advance(REFRESH_TOKEN_TTL)
    with pytest.raises(Error) as info:
        await store.auth.refresh(tokens.refresh_token)
    assert (info.value.code, info.value.message) == ("unauthorized", "The refresh token is invalid or expired.")


@pytest.mark.parametrize("token", ["", "garbage", "dk_garbage"])
async def test_unknown_tokens_are_unauthorized(store: Store, admin: User, token: str) -> None:
    with pytest.raises(Error) as info:
        await store.auth.authenticate(token)
    assert (info.value.code, info.value.message) == ("unauthorized", "The token is invalid or expired.")


async def test_logout_ends_one_session_and_logout_all_every_one(store: Store, admin: User) -> None:
    a = await store.auth.login("ada@example.com", PASSWORD)
    b = await store.auth.login("ada@example.com", PASSWORD)
    c = await store.auth.login("ada@example.com", PASSWORD)
    session_a = (await store.auth.authenticate(a.access_token)).session_id
    assert session_a is not None
    await store.auth.logout(session_a)
    with pytest.raises(Error):
        await store.auth.authenticate(a.access_token)
    await store.auth.authenticate(b.access_token)
    with pytest.raises(Error) as info:
        await store.auth.logout(session_a)
    assert (info.value.code, info.value.message) == ("not_found", "Session not found.")
    await store.auth.logout_all(admin.id)
    for tokens in (b, c):
        with pytest.raises(Error):
            await store.auth.authenticate(tokens.access_token)


async def test_api_keys_authenticate_expire_and_record_last_use(store: Store, admin: User, clock: ManualClock) -> None:
    key, token = await store.auth.create_api_key(
        admin.id, APIKeyCreate(description=" deploy bot ", expires_at=clock.now() + timedelta(days=1))
    )
    assert token.startswith("dk_")
    assert key.prefix == token[:10]
    assert (key.description, key.last_used_at) == ("deploy bot", None)
    clock.advance(timedelta(hours=1))
    identity = await store.auth.authenticate(token)
    assert (identity.user.id, identity.api_key_id, identity.session_id) == (admin.id, key.id, None)
    [listed] = await store.auth.list_api_keys(admin.id)
    assert listed.last_used_at == clock.now()
    clock.advance(timedelta(days=1))
    with pytest.raises(Error) as info:
        await store.auth.authenticate(token)
    assert info.value.code == "unauthorized"


@pytest.mark.parametrize(
    ("description", "expires_in", "fields"),
    [
        ("", None, {"description": ["must not be empty"]}),
        ("x" * 201, None, {"description": ["must be at most 200 characters"]}),
        ("ok", timedelta(seconds=-1), {"expires_at": ["must be in the future"]}),
    ],
)
async def test_create_api_key_validates(
    store: Store,
    admin: User,
    clock: ManualClock,
    description: str,
    expires_in: timedelta | None,
    fields: dict[str, list[str]],
) -> None:
    expires_at = clock.now() + expires_in if expires_in is not None else None
    with pytest.raises(ValidationError) as info:
        await store.auth.create_api_key(admin.id, APIKeyCreate(description=description, expires_at=expires_at))
    assert info.value.fields == fields


async def test_delete_api_key_is_scoped_to_its_owner(store: Store, admin: User) -> None:
    other = await store.users.create_user(UserCreate(email="bob@example.com", name="Bob", password=PASSWORD))
    key, token = await store.auth.create_api_key(admin.id, APIKeyCreate(description="mine"))
    with pytest.raises(Error) as info:
        await store.auth.delete_api_key(other.id, key.id)
    assert (info.value.code, info.value.message) == ("not_found", "API key not found.")
    await store.auth.delete_api_key(admin.id, key.id)
    assert await store.auth.list_api_keys(admin.id) == []
    with pytest.raises(Error):
        await store.auth.authenticate(token)


@pytest.mark.parametrize(
    ("upd", "code", "message"),
    [
        (
            ProfileUpdate(email="new@example.com"),
            "invalid",
            "current_password: is required to change email or password",
        ),
        (
            ProfileUpdate(new_password="new password"),
            "invalid",
            "current_password: is required to change email or password",
        ),
        (
            ProfileUpdate(new_password="new password", current_password="wrong pass"),
            "invalid",
            "The current password is incorrect.",
        ),
        (
            ProfileUpdate(new_password="short", current_password=PASSWORD),
            "invalid",
            "new_password: must be at least 8 characters",
        ),
        (
            ProfileUpdate(email="bob@example.com", current_password=PASSWORD),
            "conflict",
            "A user with this email already exists.",
        ),
    ],
)
async def test_update_profile_errors(store: Store, admin: User, upd: ProfileUpdate, code: str, message: str) -> None:
    await store.users.create_user(UserCreate(email="bob@example.com", name="Bob", password=PASSWORD))
    with pytest.raises(Error) as info:
        await store.auth.update_profile(admin.id, upd)
    assert (info.value.code, info.value.message) == (code, message)


async def test_update_profile_name_needs_no_password_and_password_change_works(store: Store, admin: User) -> None:
    renamed = await store.auth.update_profile(admin.id, ProfileUpdate(name="Ada L."))
    assert renamed.name == "Ada L."
    same_email = await store.auth.update_profile(admin.id, ProfileUpdate(email="ADA@example.com"))
    assert same_email.email == "ada@example.com"
    await store.auth.update_profile(admin.id, ProfileUpdate(new_password="new password", current_password=PASSWORD))
    await store.auth.login("ada@example.com", "new password")


async def test_reset_password_sets_it_and_ends_sessions(store: Store, admin: User) -> None:
    tokens = await store.auth.login("ada@example.com", PASSWORD)
    await store.auth.reset_password("ADA@example.com", "brand new pass")
    with pytest.raises(Error):
        await store.auth.authenticate(tokens.access_token)
    await store.auth.login("ada@example.com", "brand new pass")
    with pytest.raises(Error) as info:
        await store.auth.reset_password("nobody@example.com", "brand new pass")
    assert (info.value.code, info.value.message) == ("not_found", "User not found.")


@pytest.mark.parametrize("keep", [False, True])
async def test_reset_password_deletes_api_keys_unless_kept(store: Store, admin: User, keep: bool) -> None:
    _, token = await store.auth.create_api_key(admin.id, APIKeyCreate(description="ci"))
    await store.auth.reset_password("ada@example.com", "brand new pass", keep_api_keys=keep)
    assert len(await store.auth.list_api_keys(admin.id)) == (1 if keep else 0)
    if keep:
        assert (await store.auth.authenticate(token)).user.id == admin.id
    else:
        with pytest.raises(Error):
            await store.auth.authenticate(token)


@pytest.mark.parametrize("revoke", [False, True])
async def test_a_password_change_revokes_api_keys_when_asked(store: Store, admin: User, revoke: bool) -> None:
    await store.auth.create_api_key(admin.id, APIKeyCreate(description="ci"))
    upd = ProfileUpdate(new_password="new password", current_password=PASSWORD, revoke_api_keys=revoke)
    await store.auth.update_profile(admin.id, upd)
    assert len(await store.auth.list_api_keys(admin.id)) == (0 if revoke else 1)


async def test_a_new_password_ends_every_other_session_and_keeps_the_asking_one(store: Store, admin: User) -> None:
    mine = await store.auth.login("ada@example.com", PASSWORD)
    other = await store.auth.login("ada@example.com", PASSWORD)
    me = await store.auth.authenticate(mine.access_token)
    # A rename keeps every session.
    await store.auth.update_profile(admin.id, ProfileUpdate(name="Ada L."), keep_session_id=None)
    await store.auth.authenticate(other.access_token)

    await store.auth.update_profile(
        admin.id,
        ProfileUpdate(new_password="new password", current_password=PASSWORD),
        keep_session_id=me.session_id,
    )
    assert (await store.auth.authenticate(mine.access_token)).session_id == me.session_id
    with pytest.raises(Error) as info:
        await store.auth.authenticate(other.access_token)
    assert info.value.code == "unauthorized"
    with pytest.raises(Error):
        await store.auth.refresh(other.refresh_token)
