"""An idle daemon does not carry the libraries of its rare paths: they are imported on first use
(see bench/memory.py for what each costs resident)."""

from __future__ import annotations

import subprocess
import sys

import pytest

LAZY = ["httpx", "boto3", "botocore", "cryptography", "yaml", "aiosmtplib", "rich", "pygments"]
LAZY_MODULES = [
    "deploykit_swarm",
    "deploykit.compose",
    "deploykit_http.openapi",
    "deploykit_http.shapes.canvas",
    "ctypes",
]
"""Of ours and the standard library's: the Swarm adapter (``--runtime swarm``), the compose
translation (its route), the OpenAPI document and the canvas messages' schemas it documents
(``/api/openapi.json``), ctypes (the first sealed secret, ``deploykit_sqlite.aesgcm``)."""


@pytest.mark.parametrize("module", ["deploykitd.main", "deploykitd.__main__"])
def test_the_daemon_imports_no_rarely_used_library_at_start(module: str) -> None:
    script = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    modules = set(out.stdout.split())
    loaded = {m.split(".")[0] for m in modules}
    assert "aiohttp" in loaded  # the one HTTP client stack (Docker and Caddy's admin API)
    assert sorted(loaded & set(LAZY)) == []
    assert sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in LAZY_MODULES)) == []


def test_sealing_and_opening_secrets_does_not_import_cryptography() -> None:
    """Every daemon that deploys seals secrets: they go through the interpreter's libcrypto, and
    ``cryptography`` (7.5 MB resident) stays for deploy keys."""
    script = (
        "import os, sys\n"
        "from deploykit_sqlite.cipher import Cipher\n"
        "c = Cipher(os.urandom(32))\n"
        "assert c.open(c.seal('secret')) == 'secret'\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert "cryptography" not in out.stdout.split()
