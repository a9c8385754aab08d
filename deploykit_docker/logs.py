"""Docker's multiplexed log stream, split into timestamped stdout/stderr lines.

A container without a TTY (DeployKit never allocates one) writes frames of an 8-byte header
(stream 1 = stdout, 2 = stderr; big-endian payload length) followed by the payload. A frame
may hold several lines or part of one, so each stream keeps its own partial-line buffer.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import Protocol

from deploykit.logs import LogLine
from deploykit_docker.containers import parse_time

_STREAMS = {1: "stdout", 2: "stderr"}
_HEADER = struct.Struct(">BxxxL")


class ByteReader(Protocol):
    async def readexactly(self, n: int) -> bytes: ...


def parse_line(container_id: str, stream: str, raw: bytes) -> LogLine:
    """``2026-11-23T14:25:01.123456789Z text`` (with ``timestamps=1``) -> LogLine."""
    text = raw.decode(errors="replace").rstrip("\r")
    ts_text, sep, rest = text.partition(" ")
    ts = parse_time(ts_text) if sep else None
    return LogLine(container_id=container_id[:12], stream=stream, line=rest if ts else text, ts=ts)


async def frames(reader: ByteReader) -> AsyncIterator[tuple[str, bytes]]:
    """``(stream, payload)`` until the engine closes the stream."""
    while True:
        try:
            header = await reader.readexactly(_HEADER.size)
            kind, length = _HEADER.unpack(header)
            payload = await reader.readexactly(length) if length else b""
        except asyncio.IncompleteReadError:
            return
        yield _STREAMS.get(kind, "stdout"), payload


async def lines(container_id: str, reader: ByteReader) -> AsyncIterator[LogLine]:
    buffers: dict[str, bytes] = {"stdout": b"", "stderr": b""}
    async for stream, payload in frames(reader):
        data = buffers[stream] + payload
        *complete, buffers[stream] = data.split(b"\n")
        for raw in complete:
            yield parse_line(container_id, stream, raw)
    for stream, rest in buffers.items():
        if rest:
            yield parse_line(container_id, stream, rest)
