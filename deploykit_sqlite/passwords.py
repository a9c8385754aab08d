"""bcrypt password hashing, off the event loop."""

from __future__ import annotations

import asyncio

import bcrypt

DEFAULT_ROUNDS = 12


class PasswordHasher:
    """Hashes and checks passwords in a worker thread (bcrypt is deliberately slow).

    ``check_unknown`` spends the same time as a real check against a dummy hash, so a login for an
    unknown email cannot be told apart by its timing.
    """

    def __init__(self, rounds: int = DEFAULT_ROUNDS) -> None:
        self.rounds = rounds
        self._dummy: bytes | None = None

    def _hash(self, password: str) -> str:
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.rounds)).decode()

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hash, password)

    async def check(self, password: str, hashed: str) -> bool:
        return await asyncio.to_thread(bcrypt.checkpw, password.encode(), hashed.encode())

    async def prepare(self) -> None:
        """Make the dummy hash now, so that even the first unknown-email login is not faster."""
        if self._dummy is None:
            self._dummy = (await self.hash("not a real password, only spends time")).encode()

    async def check_unknown(self, password: str) -> bool:
        await self.prepare()
        assert self._dummy is not None
        await asyncio.to_thread(bcrypt.checkpw, password.encode(), self._dummy)
        return False
