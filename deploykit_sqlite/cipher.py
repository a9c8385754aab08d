"""Encryption at rest: AES-256-GCM under a key file kept in the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from deploykit.errors import INTERNAL, Error

KEY_FILE = "secret.key"
NONCE_BYTES = 12


class Cipher:
    """Seals text as ``nonce || ciphertext``; a fresh random nonce per value."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)

    @classmethod
    def ephemeral(cls) -> Cipher:
        """An in-memory key, for a store without a data directory (tests)."""
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def from_data_dir(cls, data_dir: str | os.PathLike[str]) -> Cipher:
        """Load ``secret.key`` from ``data_dir``, creating it (mode 0600) on first use."""
        path = Path(data_dir) / KEY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_bytes()
        else:
            key = AESGCM.generate_key(bit_length=256)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
        return cls(key)

    def seal(self, plaintext: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), None)

    def open(self, sealed: bytes) -> str:
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], None).decode()
        except InvalidTag as exc:
            raise Error(INTERNAL, "A stored secret cannot be decrypted with this data directory's key.") from exc
