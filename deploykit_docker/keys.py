"""Deploy keys: Ed25519 SSH key pairs that let a service clone a private repository."""

from __future__ import annotations

import base64
import binascii
import hashlib

from deploykit import INVALID, Error
from deploykit.build import DeployKeyPair


def generate_deploy_key(comment: str = "deploykit") -> DeployKeyPair:
    """A fresh Ed25519 key pair in OpenSSH formats (satisfies ``deploykit.build.DeployKeyGenerator``).
    ``cryptography`` is imported here, on first use: it costs an idle daemon about 9 MB resident."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    comment = " ".join(comment.split())  # one line, whatever the caller passed
    if comment:
        public = f"{public} {comment}"
    return DeployKeyPair(public_key=public, fingerprint=fingerprint(public), private_key=private)


def fingerprint(public_key: str) -> str:
    """``SHA256:<base64 without padding>`` of an OpenSSH public key line, as ``ssh-keygen -l`` shows it.
    Raises ``invalid`` for a line that is not an OpenSSH public key."""
    parts = public_key.split()
    if len(parts) < 2:
        raise Error(INVALID, "Not an OpenSSH public key.")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Error(INVALID, "Not an OpenSSH public key.") from exc
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def public_key_of(private_key: str, comment: str = "deploykit") -> str:
    """The OpenSSH public key line of an OpenSSH private key. Raises ``invalid``."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise Error(INVALID, "Not an unencrypted OpenSSH private key.") from exc
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    comment = " ".join(comment.split())
    return f"{public} {comment}" if comment else public
