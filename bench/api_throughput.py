"""Requests/s of an authenticated ``GET /api/projects`` (100 projects in the database) beside a
bare JSON route on the same server and middleware, with 32 concurrent clients. Goal: ratio >= 0.7 (issue 18).
Prints figures; never asserts."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench._support import register, seed, server

CLIENTS = 32
ROUNDS = 5
DURATION_S = 2.0
WARMUP_S = 1.0


async def hammer(port: int, path: str, token: str | None, duration_s: float) -> tuple[int, int]:
    """CLIENTS keep-alive connections, each sending GETs back to back. A hand-rolled HTTP/1.1
    client: httpx's own overhead would otherwise be what gets measured."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()
    done = errors = 0
    end = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < end:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 200"):
                    done += 1
                else:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return done, errors


async def measure(port: int, path: str, token: str | None) -> tuple[float, int]:
    started = time.perf_counter()
    done, errors = await hammer(port, path, token, DURATION_S)
    return done / (time.perf_counter() - started), errors


async def compare(port: int, token: str) -> tuple[list[float], list[float], int]:
    """Alternate short runs of both routes, so that a neighbour's load on a shared machine hits
    both alike; the medians are reported."""
    await hammer(port, "/api/bench/bare", None, WARMUP_S)
    await hammer(port, "/api/projects", token, WARMUP_S)
    bare, api, errors = [], [], 0
    for _ in range(ROUNDS):
        rps, err = await measure(port, "/api/bench/bare", None)
        bare.append(rps)
        errors += err
        rps, err = await measure(port, "/api/projects", token)
        api.append(rps)
        errors += err
    return bare, api, errors


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp), bare_route=True) as srv:
        token = register(srv.base)
        asyncio.run(seed(srv.base, token, 100))
        page = httpx.get(f"{srv.base}/api/projects", headers={"Authorization": f"Bearer {token}"}).json()
        assert page["total_count"] == 100
        bare, api, errors = asyncio.run(compare(srv.port, token))
    bare_rps, api_rps = statistics.median(bare), statistics.median(api)
    ratios = [a / b for a, b in zip(api, bare, strict=True)]
    print(f"clients: {CLIENTS}, {ROUNDS} alternating rounds of {DURATION_S:.0f} s, 100 projects (page of 20)")
    print(
        f"bare JSON route:              {bare_rps:8.0f} req/s  (median; rounds {', '.join(f'{x:.0f}' for x in bare)})"
    )
    print(f"authenticated GET /projects:  {api_rps:8.0f} req/s  (median; rounds {', '.join(f'{x:.0f}' for x in api)})")
    print(
        f"ratio: {api_rps / bare_rps:.2f}  (per round {min(ratios):.2f}-{max(ratios):.2f}; goal >= 0.7 (issue 18); errors: {errors})"
    )


if __name__ == "__main__":
    main()
