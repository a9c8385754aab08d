"""Deploy keys are real OpenSSH Ed25519 keys: ssh-keygen reads them and agrees on the fingerprint."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploykit import Error
from deploykit_docker.keys import fingerprint, generate_deploy_key, public_key_of


def test_generated_key_is_an_openssh_ed25519_pair(tmp_path: Path) -> None:
    pair = generate_deploy_key("deploykit api@acme")
    assert pair.public_key.startswith("ssh-ed25519 ")
    assert pair.public_key.endswith(" deploykit api@acme")
    assert pair.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "private_key" not in repr(pair)

    key_file = tmp_path / "key"
    key_file.write_text(pair.private_key)
    key_file.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key_file)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == pair.public_key.split()[:2]

    pub_file = tmp_path / "key.pub"
    pub_file.write_text(pair.public_key + "\n")
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(pub_file)], capture_output=True, text=True, check=True)
    assert listed.stdout.split()[1] == pair.fingerprint
    assert pair.fingerprint.startswith("SHA256:")


def test_each_key_is_new() -> None:
    assert generate_deploy_key().public_key != generate_deploy_key().public_key


def test_public_key_of_private_key_round_trips() -> None:
    pair = generate_deploy_key("svc")
    assert public_key_of(pair.private_key, "svc") == pair.public_key


@pytest.mark.parametrize("line", ["", "ssh-ed25519", "ssh-ed25519 not*base64"])
def test_fingerprint_of_garbage_is_invalid(line: str) -> None:
    with pytest.raises(Error) as info:
        fingerprint(line)
    assert (info.value.code, info.value.message) == ("invalid", "Not an OpenSSH public key.")


def test_public_key_of_garbage_is_invalid() -> None:
    with pytest.raises(Error) as info:
        public_key_of("-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----\n")
    assert (info.value.code, info.value.message) == ("invalid", "Not an unencrypted OpenSSH private key.")
