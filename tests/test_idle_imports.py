"""An idle daemon does not carry the libraries of its rare paths: they are imported on first use
(see bench/memory.py for what each costs resident)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.notify.receivers import self_signed_cert

LAZY = [
    "httpx",
    "boto3",
    "botocore",
    "cryptography",
    "yaml",
    "aiosmtplib",
    "rich",
    "pygments",
    "zstandard",
    "dotenv",
    "click",
]
LAZY_MODULES = [
    "deploykit_swarm",
    "deploykit.compose",
    "deploykit_http.openapi",
    "deploykit_http.shapes.canvas",
    "ctypes",
    "deploykit_backup.archive",
    "multiprocessing",
    "uvicorn.main",
]
"""Of ours and the standard library's: the Swarm adapter (``--runtime swarm``), the compose
translation (its route), the OpenAPI document and the canvas messages' schemas it documents
(``/api/openapi.json``), ctypes (the first sealed secret, ``deploykit_sqlite.aesgcm``), the backup
archive format and zstandard (the first backup, verify or restore), uvicorn's command line with
click and multiprocessing (never: the daemon runs ``uvicorn.Server`` itself, deploykitd/lean.py)."""


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


def test_the_daemon_loads_neither_the_ca_bundle_nor_the_cpp_runtime_at_start() -> None:
    """aiohttp's default TLS contexts are made without the CA bundle (read on their first use) and
    frozenlist is its pure-Python one (its extension links libstdc++): ~3 MB resident (deploykitd/lean.py)."""
    script = (
        "import os, sys, deploykitd.main, aiohttp.connector as c\n"
        "stores = [ctx.cert_store_stats()['x509'] for ctx in (c._SSL_CONTEXT_VERIFIED, c._SSL_CONTEXT_UNVERIFIED)]\n"
        "maps = open(f'/proc/{os.getpid()}/maps').read()\n"
        "print(stores, 'frozenlist._frozenlist' in sys.modules, 'libstdc++' in maps,"
        " 'FROZENLIST_NO_EXTENSIONS' in os.environ)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "FROZENLIST_NO_EXTENSIONS"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True, env=env
    )
    assert out.stdout.split("\n")[0] == "[0, 0] False False False"


def test_uvicorn_keeps_its_command_line_for_whoever_calls_it() -> None:
    """deploykitd/lean.py imports uvicorn without ``uvicorn.main``: ``uvicorn.main`` still runs
    uvicorn's command line, and importing ``uvicorn.main`` gives the real module."""
    calls = (
        "import sys, deploykitd.main, uvicorn\nprint('click' in sys.modules, flush=True)\nuvicorn.main(['--version'])\n"
    )
    out = subprocess.run([sys.executable, "-c", calls], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "False"
    assert lines[1].startswith("Running uvicorn ")
    imports = "import deploykitd.main, uvicorn\nfrom uvicorn.main import Server, main\nprint(Server is uvicorn.Server, main.name)\n"
    out = subprocess.run([sys.executable, "-c", imports], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["True", "main"]


HTTPS_GET = """
import asyncio, ssl, sys
import deploykitd.main
import aiohttp

async def main() -> None:
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(sys.argv[1])

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\\r\\n\\r\\n")
            writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=served)
    port = server.sockets[0].getsockname()[1]
    async with aiohttp.ClientSession() as session:
        for _ in range(2):  # the second connection finds the trust already loaded
            try:
                async with session.get(f"https://127.0.0.1:{port}/") as response:
                    print(response.status, await response.text())
            except aiohttp.ClientConnectorCertificateError:
                print("untrusted")
    server.close()

asyncio.run(main())
"""


@pytest.mark.parametrize("trusted", [True, False])
def test_aiohttp_verifies_tls_against_the_default_trust_as_before(tmp_path: Path, trusted: bool) -> None:
    """The CA bundle deferred by deploykitd/lean.py is the one a verified connection checks:
    ``SSL_CERT_FILE`` (read when it is first used) makes a self-signed server trusted, and without
    it the same server is refused."""
    cert = self_signed_cert(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    if trusted:
        env["SSL_CERT_FILE"] = str(cert)
    out = subprocess.run(
        [sys.executable, "-c", HTTPS_GET, str(cert)], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    expected = ["200 ok", "200 ok"] if trusted else ["untrusted", "untrusted"]
    assert out.stdout.splitlines() == expected
