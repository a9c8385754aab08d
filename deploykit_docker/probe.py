"""``SocketHealthProbe``: the domain's HealthProbe over plain asyncio sockets.

HTTP checks send one ``GET`` (HTTP/1.0, ``Connection: close``) and accept any 2xx or 3xx status;
TCP checks only connect. No HTTP client library is needed for either, and nothing is pooled, so
a probe sees exactly what a fresh client would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from deploykit.clock import Clock, SystemClock
from deploykit.health import HealthCheck, HealthCheckType, HealthResult

MAX_STATUS_LINE = 1024


class SocketHealthProbe:
    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()

    async def probe(self, address: str, port: int, check: HealthCheck) -> HealthResult:
        started = time.perf_counter()
        status: int | None = None
        try:
            async with asyncio.timeout(check.timeout_s):
                reader, writer = await asyncio.open_connection(address, port)
                try:
                    if check.type == HealthCheckType.HTTP:
                        status = await _http_status(reader, writer, address, port, check.path)
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
        except TimeoutError:
            return self._result(False, started, status, f"timed out after {check.timeout_s:g} s")
        except OSError as exc:
            return self._result(False, started, status, exc.strerror or type(exc).__name__)
        except ValueError as exc:
            return self._result(False, started, status, str(exc))
        if status is not None and not 200 <= status < 400:
            return self._result(False, started, status, f"HTTP {status}")
        return self._result(True, started, status, None)

    def _result(self, ok: bool, started: float, status: int | None, error: str | None) -> HealthResult:
        return HealthResult(
            ok=ok,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            status_code=status,
            error=error,
            checked_at=self._clock.now(),
        )


async def _http_status(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str, port: int, path: str
) -> int:
    host = f"[{address}]" if ":" in address else address
    request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: deploykit-probe\r\nConnection: close\r\n\r\n"
    writer.write(request.encode("latin-1", errors="replace"))
    await writer.drain()
    line = await reader.readline()
    if not line:
        raise ValueError("connection closed before a status line")
    parts = line[:MAX_STATUS_LINE].decode("latin-1").split()
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError("not an HTTP response")
    return int(parts[1])
