"""Swarm's multiplexed service log stream, split into timestamped stdout/stderr lines.

Frames of an 8-byte header (stream 1 = stdout, 2 = stderr; big-endian payload length) and the
payload; a frame may hold several lines or part of one, so each stream keeps its partial line.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import Protocol

from deploykit.logs import LogLine
from deploykit_swarm.convert import parse_time

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


async def lines(container_id: str, reader: ByteReader) -> AsyncIterator[LogLine]:
    buffers: dict[str, bytes] = {"stdout": b"", "stderr": b""}
    while True:
        try:
            kind, length = _HEADER.unpack(await reader.readexactly(_HEADER.size))
            payload = await reader.readexactly(length) if length else b""
        except asyncio.IncompleteReadError:
            break
        stream = _STREAMS.get(kind, "stdout")
        *complete, buffers[stream] = (buffers[stream] + payload).split(b"\n")
        for raw in complete:
            yield parse_line(container_id, stream, raw)
    for stream, rest in buffers.items():
        if rest:
            yield parse_line(container_id, stream, rest)
