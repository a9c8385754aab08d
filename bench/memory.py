"""Resident memory of an idle daemon after seeding 100 projects x 10 services, beside the floor:
a bare Python process that imports the same third-party packages. Goal: <= 60 MB and <= 1.25x the
floor. Prints figures; never asserts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import register, rss_mb, seed, server

PROJECTS = 100
SERVICES = 10
THIRD_PARTY = [
    "aiosqlite",
    "aiodocker",
    "aiohttp",
    "httpx",
    "starlette",
    "uvicorn",
    "pydantic",
    "bcrypt",
    "cryptography.hazmat.primitives.ciphers.aead",
    "psutil",
    "websockets",
]
FLOOR_SCRIPT = (
    "import "
    + ", ".join(THIRD_PARTY)
    + "; import sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"
)


def floor_mb() -> float:
    proc = subprocess.Popen([sys.executable, "-c", FLOOR_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        return rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def idle_rss(pid: int, settle_s: float = 3.0) -> float:
    """The daemon's RSS once it has been quiet for a moment (sampled until it stops growing)."""
    last, samples = rss_mb(pid), []
    end = time.monotonic() + settle_s
    while time.monotonic() < end:
        time.sleep(0.25)
        samples.append(rss_mb(pid))
    return max(last, *samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as srv:
        started = rss_mb(srv.proc.pid)
        token = register(srv.base)
        t0 = time.monotonic()
        asyncio.run(seed(srv.base, token, PROJECTS, SERVICES))
        seeded_s = time.monotonic() - t0
        daemon = idle_rss(srv.proc.pid)
    floor = floor_mb()
    print(f"seeded {PROJECTS} projects x {SERVICES} services in {seeded_s:.1f} s (Docker unreachable)")
    print(f"daemon RSS at start:             {started:6.1f} MB")
    print(f"daemon RSS idle after seeding:   {daemon:6.1f} MB  (goal <= 60 MB)")
    print(f"floor (bare python + imports):   {floor:6.1f} MB")
    print(f"ratio to floor: {daemon / floor:.2f}  (goal <= 1.25)")


if __name__ == "__main__":
    main()
