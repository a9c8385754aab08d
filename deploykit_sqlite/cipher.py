"""Encryption at rest: AES-256-GCM under a key file kept in the data directory.

Values are sealed with the interpreter's own libcrypto (``aesgcm.py``): ``cryptography`` loads an
OpenSSL of its own (about 7.5 MB resident), and every daemon that deploys anything seals secrets.
``cryptography`` does the same where that libcrypto cannot be used, imported on first use; the
two write the same format.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from deploykit.errors import INTERNAL, Error
from deploykit_sqlite import aesgcm

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE = "secret.key"
KEY_BYTES = 32
NONCE_BYTES = 12


class Cipher:
    """Seals text as ``nonce || ciphertext``; a fresh random nonce per value."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._key = key
        self._aead_: AESGCM | aesgcm.OpenSSLAESGCM | None = None

    @property
    def _aead(self) -> AESGCM | aesgcm.OpenSSLAESGCM:
        if self._aead_ is None:
            lib = aesgcm.load()
            if lib is not None:
                self._aead_ = aesgcm.OpenSSLAESGCM(lib, self._key)
            else:
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM

                self._aead_ = AESGCM(self._key)
        return self._aead_

    @classmethod
    def ephemeral(cls) -> Cipher:
        """An in-memory key, for a store without a data directory (tests)."""
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_data_dir(cls, data_dir: str | os.PathLike[str]) -> Cipher:
        """Load ``secret.key`` from ``data_dir`` (made 0700), creating it (0600) on first use.

        A new key is on disk before anything is sealed with it: written to a temporary file,
        fsynced, linked into place (never over another daemon's key) and the directory fsynced, so
        that a crash cannot leave an empty or partial key behind values sealed under the real one."""
        directory = Path(data_dir)
        private_dir(directory)
        path = directory / KEY_FILE
        if not path.exists():
            key = secrets.token_bytes(KEY_BYTES)  # what AESGCM.generate_key(256) does: os.urandom
            tmp = directory / f".{KEY_FILE}.{secrets.token_hex(8)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(key)
                    fh.flush()
                    os.fsync(fh.fileno())
                with contextlib.suppress(FileExistsError):  # another process made one first: use that
                    os.link(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(directory)
        key = path.read_bytes()
        return cls(key)

    def seal(self, plaintext: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), None)

    def open(self, sealed: bytes) -> str:
        aead = self._aead
        if isinstance(aead, aesgcm.OpenSSLAESGCM):
            invalid: type[Exception] = aesgcm.InvalidTag
        else:
            from cryptography.exceptions import InvalidTag

            invalid = InvalidTag
        try:
            return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], None).decode()
        except invalid as exc:
            raise Error(INTERNAL, "A stored secret cannot be decrypted with this data directory's key.") from exc


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if needed and make it 0700: only the daemon's user may list it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def private_file(path: Path) -> None:
    """Create ``path`` if needed and make it 0600."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
