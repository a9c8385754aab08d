"""AuthService on SQLite: sessions with rotating refresh tokens, and API keys."""

from __future__ import annotations

import secrets
import sqlite3
import uuid
from datetime import UTC, datetime

from deploykit.auth import (
    ACCESS_TOKEN_TTL,
    API_KEY_PREFIX,
    REFRESH_TOKEN_TTL,
    APIKey,
    APIKeyCreate,
    AuthTokens,
    Identity,
    ProfileUpdate,
    hash_token,
    is_api_key,
)
from deploykit.bus import Event, EventType
from deploykit.errors import CONFLICT, UNAUTHORIZED, Error, FieldErrors, ValidationError, not_found
from deploykit.user import (
    Role,
    User,
    UserCreate,
    normalize_email,
    validate_email,
    validate_password,
    validate_user_name,
)
from deploykit_sqlite.db import DB, Tx, from_text, must_time, to_text
from deploykit_sqlite.passwords import PasswordHasher
from deploykit_sqlite.user import insert_user, load_user, row_to_user, update_user_row, user_facts

TOKEN_BYTES = 32
MAX_KEY_DESCRIPTION = 200
BAD_LOGIN = "Invalid email or password."
BAD_TOKEN = "The token is invalid or expired."
BAD_REFRESH = "The refresh token is invalid or expired."
REUSED_REFRESH = "This refresh token was already used; the session has been revoked."


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def row_to_api_key(row: sqlite3.Row) -> APIKey:
    return APIKey(
        id=row["id"],
        user_id=row["user_id"],
        description=row["description"],
        prefix=row["prefix"],
        created_at=from_text(row["created_at"]),
        expires_at=from_text(row["expires_at"]),
        last_used_at=from_text(row["last_used_at"]),
    )


async def start_session(tx: Tx, user_id: str) -> AuthTokens:
    access, refresh = new_token(), new_token()
    now = tx.now()
    expires = now + ACCESS_TOKEN_TTL
    await tx.execute(
        "INSERT INTO sessions (id, user_id, access_hash, refresh_hash, access_expires_at, refresh_expires_at, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            str(uuid.uuid4()),
            user_id,
            hash_token(access),
            hash_token(refresh),
            to_text(expires),
            to_text(now + REFRESH_TOKEN_TTL),
            to_text(now),
        ),
    )
    return AuthTokens(access_token=access, refresh_token=refresh, expires_at=expires)


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class AuthStore:
    def __init__(self, db: DB, hasher: PasswordHasher) -> None:
        self.db = db
        self.hasher = hasher

    async def can_register(self) -> bool:
        async with self.db.read() as tx:
            return bool(await tx.scalar("SELECT COUNT(*) FROM users") == 0)

    async def register(self, create: UserCreate) -> tuple[User, AuthTokens]:
        create.validate()
        if not await self.can_register():
            raise Error(CONFLICT, "Registration is closed.")
        hashed = await self.hasher.hash(create.password)
        async with self.db.tx() as tx:
            # Checked again under the lock: two racing registrations make one admin, not two.
            if await tx.scalar("SELECT COUNT(*) FROM users") != 0:
                raise Error(CONFLICT, "Registration is closed.")
            user = await insert_user(tx, create, hashed, Role.ADMIN)
            tokens = await start_session(tx, user.id)
            tx.publish(Event(EventType.USER_CREATED, payload=user_facts(user), at=tx.now()))
        return user, tokens

    async def login(self, email: str, password: str) -> AuthTokens:
        async with self.db.read() as tx:
            row = await tx.fetchone("SELECT id, password_hash FROM users WHERE email = ?", (normalize_email(email),))
        if row is None:
            await self.hasher.check_unknown(password)
            self._login_failed(email)
            raise Error(UNAUTHORIZED, BAD_LOGIN)
        if not await self.hasher.check(password, row["password_hash"]):
            self._login_failed(email)
            raise Error(UNAUTHORIZED, BAD_LOGIN)
        async with self.db.tx() as tx:
            tokens = await start_session(tx, row["id"])
            tx.publish(
                Event(EventType.LOGIN, payload={"user_id": row["id"], "email": normalize_email(email)}, at=tx.now())
            )
            return tokens

    def _login_failed(self, email: str) -> None:
        # No transaction to commit: published at once, for the audit log.
        self.db.publish_now(
            Event(EventType.LOGIN_FAILED, payload={"email": normalize_email(email)[:200]}, at=self.db.clock.now())
        )

    async def refresh(self, refresh_token: str) -> AuthTokens:
        presented = hash_token(refresh_token)
        failure = BAD_REFRESH
        async with self.db.tx() as tx:
            now = tx.now()
            row = await tx.fetchone("SELECT * FROM sessions WHERE refresh_hash = ?", (presented,))
            if row is not None:
                if row["revoked_at"] is None and must_time(row["refresh_expires_at"]) > now:
                    access, refresh = new_token(), new_token()
                    expires = now + ACCESS_TOKEN_TTL
                    await tx.execute(
                        "INSERT INTO rotated_refresh_tokens (hash, session_id) VALUES (?, ?)", (presented, row["id"])
                    )
                    await tx.execute(
                        "UPDATE sessions SET access_hash = ?, refresh_hash = ?, access_expires_at = ?, "
                        "refresh_expires_at = ? WHERE id = ?",
                        (
                            hash_token(access),
                            hash_token(refresh),
                            to_text(expires),
                            to_text(now + REFRESH_TOKEN_TTL),
                            row["id"],
                        ),
                    )
                    return AuthTokens(access_token=access, refresh_token=refresh, expires_at=expires)
            else:
                session_id = await tx.scalar(
                    "SELECT session_id FROM rotated_refresh_tokens WHERE hash = ?", (presented,)
                )
                if session_id is not None:
                    # A stolen token raced its owner: end the session for both of them.
                    await tx.execute(
                        "UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                        (to_text(now), session_id),
                    )
                    failure = REUSED_REFRESH
        raise Error(UNAUTHORIZED, failure)

    async def authenticate(self, token: str) -> Identity:
        hashed = hash_token(token)
        if is_api_key(token):
            async with self.db.tx() as tx:
                now = tx.now()
                key = await tx.fetchone("SELECT * FROM api_keys WHERE token_hash = ?", (hashed,))
                if key is None or (key["expires_at"] is not None and must_time(key["expires_at"]) <= now):
                    raise Error(UNAUTHORIZED, BAD_TOKEN)
                await tx.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (to_text(now), key["id"]))
                user = await load_user(tx, key["user_id"])
                return Identity(
                    user=user,
                    api_key_id=key["id"],
                    expires_at=from_text(key["expires_at"]),
                    api_key_name=key["description"],
                )
        async with self.db.read() as tx:
            row = await tx.fetchone(
                "SELECT s.id AS session_id, s.access_expires_at, s.revoked_at, u.* FROM sessions s "
                "JOIN users u ON u.id = s.user_id WHERE s.access_hash = ?",
                (hashed,),
            )
            if row is None or row["revoked_at"] is not None or must_time(row["access_expires_at"]) <= tx.now():
                raise Error(UNAUTHORIZED, BAD_TOKEN)
            return Identity(
                user=row_to_user(row), session_id=row["session_id"], expires_at=must_time(row["access_expires_at"])
            )

    async def session_active(self, session_id: str) -> bool:
        async with self.db.read() as tx:
            row = await tx.fetchone("SELECT access_expires_at, revoked_at FROM sessions WHERE id = ?", (session_id,))
            return row is not None and row["revoked_at"] is None and must_time(row["access_expires_at"]) > tx.now()

    async def logout(self, session_id: str) -> None:
        async with self.db.tx() as tx:
            user_id = await tx.scalar("SELECT user_id FROM sessions WHERE id = ?", (session_id,))
            if await tx.execute("DELETE FROM sessions WHERE id = ?", (session_id,)) == 0:
                raise not_found("Session")
            tx.publish(Event(EventType.LOGOUT, payload={"user_id": user_id}, at=tx.now()))

    async def logout_all(self, user_id: str) -> None:
        async with self.db.tx() as tx:
            await tx.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            tx.publish(Event(EventType.LOGOUT, payload={"user_id": user_id, "everywhere": True}, at=tx.now()))

    async def update_profile(self, user_id: str, upd: ProfileUpdate, *, keep_session_id: str | None = None) -> User:
        errors = FieldErrors()
        if upd.name is not None:
            validate_user_name(upd.name, errors)
        if upd.email is not None:
            validate_email(upd.email, errors)
        if upd.new_password is not None:
            validate_password(upd.new_password, errors, "new_password")
        errors.raise_if_any()
        async with self.db.read() as tx:
            user = await load_user(tx, user_id)
            current_hash = str(await tx.scalar("SELECT password_hash FROM users WHERE id = ?", (user_id,)))
        email_changes = upd.email is not None and normalize_email(upd.email) != user.email
        if email_changes or upd.new_password is not None:
            if upd.current_password is None:
                raise ValidationError({"current_password": ["is required to change email or password"]})
            if not await self.hasher.check(upd.current_password, current_hash):
                # Not 401: the caller's token is fine, and a client would take a 401 for a lost session.
                raise ValidationError({"current_password": ["is incorrect"]}, "The current password is incorrect.")
        hashed = await self.hasher.hash(upd.new_password) if upd.new_password is not None else None
        async with self.db.tx() as tx:
            updated = await update_user_row(
                tx, user_id, name=upd.name, email=upd.email if email_changes else None, password_hash=hashed
            )
            if hashed is not None:
                await tx.execute("DELETE FROM sessions WHERE user_id = ? AND id IS NOT ?", (user_id, keep_session_id))
                if upd.revoke_api_keys:
                    await tx.execute("DELETE FROM api_keys WHERE user_id = ?", (user_id,))
            fields = [n for n, v in (("name", upd.name), ("email", upd.email if email_changes else None)) if v]
            fields += ["password"] if hashed is not None else []
            tx.publish(Event(EventType.PROFILE_UPDATED, payload={"user_id": user_id, "fields": fields}, at=tx.now()))
            return updated

    async def reset_password(self, email: str, password: str, *, keep_api_keys: bool = False) -> None:
        errors = FieldErrors()
        validate_password(password, errors)
        errors.raise_if_any()
        hashed = await self.hasher.hash(password)
        async with self.db.tx() as tx:
            user_id = await tx.scalar("SELECT id FROM users WHERE email = ?", (normalize_email(email),))
            if user_id is None:
                raise not_found("User")
            await update_user_row(tx, str(user_id), password_hash=hashed)
            await tx.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            if not keep_api_keys:
                await tx.execute("DELETE FROM api_keys WHERE user_id = ?", (user_id,))

    async def create_api_key(self, user_id: str, create: APIKeyCreate) -> tuple[APIKey, str]:
        errors = FieldErrors()
        description = create.description.strip()
        if not description:
            errors.add("description", "must not be empty")
        elif len(description) > MAX_KEY_DESCRIPTION:
            errors.add("description", f"must be at most {MAX_KEY_DESCRIPTION} characters")
        expires_at = aware(create.expires_at) if create.expires_at is not None else None
        if expires_at is not None and expires_at <= self.db.clock.now():
            errors.add("expires_at", "must be in the future")
        errors.raise_if_any()
        token = API_KEY_PREFIX + new_token()
        id = str(uuid.uuid4())
        async with self.db.tx() as tx:
            await load_user(tx, user_id)
            await tx.execute(
                "INSERT INTO api_keys (id, user_id, description, prefix, token_hash, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (id, user_id, description, token[:10], hash_token(token), to_text(tx.now()), to_text(expires_at)),
            )
            row = await tx.fetchone("SELECT * FROM api_keys WHERE id = ?", (id,))
            payload = {"api_key_id": id, "user_id": user_id, "description": description, "prefix": token[:10]}
            tx.publish(Event(EventType.API_KEY_CREATED, payload=payload, at=tx.now()))
        assert row is not None
        return row_to_api_key(row), token

    async def list_api_keys(self, user_id: str) -> list[APIKey]:
        async with self.db.read() as tx:
            rows = await tx.fetchall("SELECT * FROM api_keys WHERE user_id = ? ORDER BY created_at, id", (user_id,))
        return [row_to_api_key(r) for r in rows]

    async def delete_api_key(self, user_id: str, id: str) -> None:
        async with self.db.tx() as tx:
            if await tx.execute("DELETE FROM api_keys WHERE id = ? AND user_id = ?", (id, user_id)) == 0:
                raise not_found("API key")
            tx.publish(Event(EventType.API_KEY_DELETED, payload={"api_key_id": id, "user_id": user_id}, at=tx.now()))
