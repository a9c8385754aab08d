"""Users and their roles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from deploykit.errors import FieldErrors

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$|^[^@\s]{1,64}@localhost$")
MIN_PASSWORD = 8
MAX_PASSWORD = 72  # bcrypt's limit, in bytes


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def validate_email(email: str, errors: FieldErrors, field_name: str = "email") -> None:
    if not email or len(email) > 254 or not EMAIL_RE.match(email.strip()):
        errors.add(field_name, "must be a valid email address")


def validate_password(password: str, errors: FieldErrors, field_name: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        errors.add(field_name, f"must be at least {MIN_PASSWORD} characters")
    elif len(password.encode()) > MAX_PASSWORD:
        errors.add(field_name, f"must be at most {MAX_PASSWORD} bytes")


def validate_user_name(name: str, errors: FieldErrors, field_name: str = "name") -> None:
    if not name or not name.strip():
        errors.add(field_name, "must not be empty")
    elif len(name) > 100:
        errors.add(field_name, "must be at most 100 characters")


@dataclass
class User:
    id: str
    email: str
    name: str
    role: Role
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


@dataclass(frozen=True)
class UserCreate:
    email: str
    name: str
    password: str
    role: Role = Role.MEMBER

    def validate(self) -> None:
        errors = FieldErrors()
        validate_email(self.email, errors)
        validate_user_name(self.name, errors)
        validate_password(self.password, errors)
        errors.raise_if_any()


@dataclass(frozen=True)
class UserUpdate:
    name: str | None = None
    email: str | None = None
    role: Role | None = None
    password: str | None = None
    keep_api_keys: bool = False
    """A new password ends the user's sessions and deletes their API keys (whoever learnt the old
    password may have made one); True keeps the keys."""

    def validate(self) -> None:
        errors = FieldErrors()
        if self.email is not None:
            validate_email(self.email, errors)
        if self.name is not None:
            validate_user_name(self.name, errors)
        if self.password is not None:
            validate_password(self.password, errors)
        errors.raise_if_any()


@dataclass(frozen=True)
class UserFilter:
    id: str | None = None
    email: str | None = None
    role: Role | None = None
    offset: int = 0
    limit: int = 20


class UserService(Protocol):
    async def get_user(self, id: str) -> User:
        """Raises ``not_found``."""
        ...

    async def list_users(self, filt: UserFilter) -> tuple[list[User], int]: ...

    async def create_user(self, create: UserCreate) -> User:
        """Raises ``invalid``, ``conflict`` (email taken)."""
        ...

    async def update_user(self, id: str, upd: UserUpdate) -> User:
        """A new password ends the user's sessions and, unless ``keep_api_keys``, deletes their API
        keys, in the same transaction. Raises ``not_found``, ``invalid``, ``conflict`` (email taken,
        or demoting the last admin)."""
        ...

    async def delete_user(self, id: str) -> None:
        """Also ends the user's sessions and keys. Raises ``not_found``, ``conflict`` (last admin)."""
        ...
