"""The key file: created private, durably, once; every later open (or a racing one) uses that key."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
