"""UserService on SQLite."""

from __future__ import annotations

import sqlite3
import uuid

from deploykit.bus import Event, EventType
from deploykit.errors import CONFLICT, Error, not_found
from deploykit.user import Role, User, UserCreate, UserFilter, UserUpdate, normalize_email
from deploykit_sqlite.db import DB, Tx, from_text, to_text
from deploykit_sqlite.passwords import PasswordHasher

EMAIL_TAKEN = "A user with this email already exists."


def row_to_user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
    )


def user_facts(user: User) -> dict[str, str]:
    """What an event says of a user: who, never a hash."""
    return {"user_id": user.id, "email": user.email, "role": user.role.value}


async def load_user(tx: Tx, id: str) -> User:
    row = await tx.fetchone("SELECT * FROM users WHERE id = ?", (id,))
    if row is None:
        raise not_found("User")
    return row_to_user(row)


async def insert_user(tx: Tx, create: UserCreate, password_hash: str, role: Role) -> User:
    id = str(uuid.uuid4())
    now = to_text(tx.now())
    await tx.execute(
        "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (id, normalize_email(create.email), create.name.strip(), role.value, password_hash, now, now),
        conflict=EMAIL_TAKEN,
    )
    return await load_user(tx, id)


async def update_user_row(
    tx: Tx,
    id: str,
    *,
    name: str | None = None,
    email: str | None = None,
    role: Role | None = None,
    password_hash: str | None = None,
) -> User:
    """Write the given fields. Raises ``not_found``, ``conflict`` (email, last admin)."""
    user = await load_user(tx, id)
    if role is not None and user.role == Role.ADMIN and role != Role.ADMIN and await admin_count(tx) <= 1:
        raise Error(CONFLICT, "The last admin cannot be demoted.")
    sets: list[str] = []
    params: list[object] = []
    for column, value in (
        ("name", name.strip() if name is not None else None),
        ("email", normalize_email(email) if email is not None else None),
        ("role", Role(role).value if role is not None else None),
        ("password_hash", password_hash),
    ):
        if value is not None:
            sets.append(f"{column} = ?")
            params.append(value)
    if sets:
        await tx.execute(
            f"UPDATE users SET {', '.join(sets)}, updated_at = ? WHERE id = ?",
            (*params, to_text(tx.now()), id),
            conflict=EMAIL_TAKEN,
        )
    return await load_user(tx, id)


async def admin_count(tx: Tx) -> int:
    return int(await tx.scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'"))


class UserStore:
    def __init__(self, db: DB, hasher: PasswordHasher) -> None:
        self.db = db
        self.hasher = hasher

    async def get_user(self, id: str) -> User:
        async with self.db.read() as tx:
            return await load_user(tx, id)

    async def list_users(self, filt: UserFilter) -> tuple[list[User], int]:
        where, params = ["1 = 1"], []
        if filt.id is not None:
            where.append("id = ?")
            params.append(filt.id)
        if filt.email is not None:
            where.append("email = ?")
            params.append(normalize_email(filt.email))
        if filt.role is not None:
            where.append("role = ?")
            params.append(Role(filt.role).value)
        clause = " AND ".join(where)
        async with self.db.read() as tx:
            total = int(await tx.scalar(f"SELECT COUNT(*) FROM users WHERE {clause}", tuple(params)))
            rows = await tx.fetchall(
                f"SELECT * FROM users WHERE {clause} ORDER BY email LIMIT ? OFFSET ?",
                (*params, max(filt.limit, 0), max(filt.offset, 0)),
            )
        return [row_to_user(r) for r in rows], total

    async def create_user(self, create: UserCreate) -> User:
        create.validate()
        hashed = await self.hasher.hash(create.password)
        async with self.db.tx() as tx:
            user = await insert_user(tx, create, hashed, create.role)
            tx.publish(Event(EventType.USER_CREATED, payload=user_facts(user), at=tx.now()))
            return user

    async def update_user(self, id: str, upd: UserUpdate) -> User:
        upd.validate()
        hashed = await self.hasher.hash(upd.password) if upd.password is not None else None
        async with self.db.tx() as tx:
            user = await update_user_row(tx, id, name=upd.name, email=upd.email, role=upd.role, password_hash=hashed)
            if hashed is not None:
                await tx.execute("DELETE FROM sessions WHERE user_id = ?", (id,))
                if not upd.keep_api_keys:
                    await tx.execute("DELETE FROM api_keys WHERE user_id = ?", (id,))
            fields = [n for n in ("name", "email", "role", "password") if getattr(upd, n) is not None]
            tx.publish(Event(EventType.USER_UPDATED, payload={**user_facts(user), "fields": fields}, at=tx.now()))
            return user

    async def delete_user(self, id: str) -> None:
        async with self.db.tx() as tx:
            user = await load_user(tx, id)
            if user.role == Role.ADMIN and await admin_count(tx) <= 1:
                raise Error(CONFLICT, "The last admin cannot be deleted.")
            await tx.execute("DELETE FROM users WHERE id = ?", (id,))
            tx.publish(Event(EventType.USER_DELETED, payload=user_facts(user), at=tx.now()))
