"""The key file: created private, durably, once; every later open (or a racing one) uses that key.
Sealing through the interpreter's libcrypto: the same format as ``cryptography``, both ways."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deploykit.errors import INTERNAL, Error
from deploykit_sqlite import aesgcm
from deploykit_sqlite.cipher import KEY_FILE, Cipher


def test_the_key_is_created_private_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sealed = Cipher.from_data_dir(data).seal("token")
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / KEY_FILE).stat().st_mode) == 0o600
    assert len((data / KEY_FILE).read_bytes()) == 32
    assert Cipher.from_data_dir(data).open(sealed) == "token"
    assert [p.name for p in data.iterdir()] == [KEY_FILE]  # no temporary file left behind


def test_daemons_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        ciphers = list(pool.map(lambda _: Cipher.from_data_dir(tmp_path), range(8)))
    sealed = [c.seal(str(i)) for i, c in enumerate(ciphers)]
    assert [ciphers[0].open(s) for s in sealed] == [str(i) for i in range(8)]


def test_an_existing_data_directory_is_made_private(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    Cipher.from_data_dir(tmp_path)
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4096, 100_000])
def test_libcrypto_seals_what_cryptography_opens_and_the_other_way_round(size: int) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    lib = aesgcm.load()
    assert lib is not None, "the interpreter's libcrypto is what the daemon seals with"
    key, nonce, data = os.urandom(32), os.urandom(12), os.urandom(size)
    ours, theirs = aesgcm.OpenSSLAESGCM(lib, key), AESGCM(key)
    sealed = ours.encrypt(nonce, data, None)
    assert sealed == theirs.encrypt(nonce, data, None)
    assert theirs.decrypt(nonce, sealed, None) == data
    assert ours.decrypt(nonce, theirs.encrypt(nonce, data, None), None) == data


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-1] + bytes([s[-1] ^ 1]),  # the tag
        lambda s: bytes([s[0] ^ 1]) + s[1:],  # the nonce
        lambda s: s[:20] + bytes([s[20] ^ 1]) + s[21:],  # the ciphertext
        lambda s: s[:-1],  # truncated
        lambda s: s[:8],  # shorter than a nonce
    ],
)
def test_an_altered_or_truncated_value_does_not_open(tamper: Callable[[bytes], bytes]) -> None:
    cipher = Cipher(os.urandom(32))
    sealed = cipher.seal("a secret value")
    assert cipher.open(sealed) == "a secret value"
    with pytest.raises(Error) as caught:
        cipher.open(tamper(sealed))
    assert (caught.value.code, caught.value.message) == (
        INTERNAL,
        "A stored secret cannot be decrypted with this data directory's key.",
    )


def test_a_value_sealed_under_another_key_does_not_open() -> None:
    with pytest.raises(Error) as caught:
        Cipher(os.urandom(32)).open(Cipher(os.urandom(32)).seal("x"))
    assert caught.value.code == INTERNAL
