"""Delivery latency of canvas moves: 100 WebSocket clients in one project, one of them moving a
node; each ``node:moved`` carries its send time, so every receiver measures how long it took.
Goal: p99 <= 50 ms. Prints figures; never asserts."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import websockets

from bench._support import percentile, register, server

CLIENTS = 100
MOVES = 200
RATE_HZ = 30


async def connect(url: str, token: str) -> Any:
    ws = await websockets.connect(url, max_queue=None)
    await ws.send(json.dumps({"type": "auth", "payload": {"token": token}}))
    while json.loads(await ws.recv())["type"] != "pending-changes:state":
        pass
    return ws


async def run(ws_url: str, token: str) -> tuple[list[float], int]:
    clients = [await connect(ws_url, token) for _ in range(CLIENTS)]
    mover, receivers = clients[0], clients[1:]
    latencies: list[float] = []
    done = asyncio.Event()

    async def receive(ws: Any) -> None:
        got = 0
        async for raw in ws:
            msg = json.loads(raw)
            if msg["type"] == "node:moved":
                sent = msg["payload"]["positions"][0]["position_x"]
                latencies.append((time.perf_counter() - sent) * 1000)
                got += 1
                if got == MOVES:
                    return

    await mover.send(json.dumps({"type": "node:upsert", "payload": {"id": "n1", "type": "note"}}))
    readers = [asyncio.create_task(receive(ws)) for ws in receivers]
    await asyncio.sleep(0.5)  # let every client see the node before timing moves
    for _ in range(MOVES):
        payload = {"positions": [{"id": "n1", "position_x": time.perf_counter(), "position_y": 0}]}
        await mover.send(json.dumps({"type": "node:move", "payload": payload}))
        await asyncio.sleep(1 / RATE_HZ)
    try:
        await asyncio.wait_for(asyncio.gather(*readers), 30)
    except TimeoutError:
        done.set()
    missing = (CLIENTS - 1) * MOVES - len(latencies)
    for ws in clients:
        await ws.close()
    return latencies, missing


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as srv:
        token = register(srv.base)
        r = httpx.post(
            f"{srv.base}/api/projects", json={"name": "Fanout"}, headers={"Authorization": f"Bearer {token}"}
        )
        pid = r.json()["id"]
        latencies, missing = asyncio.run(run(f"{srv.ws_base}/api/projects/{pid}/canvas/ws", token))
    print(f"{CLIENTS} clients, {MOVES} moves at {RATE_HZ}/s, {len(latencies)} deliveries (missing: {missing})")
    print(f"delivery latency p50: {percentile(latencies, 50):.1f} ms")
    print(f"delivery latency p99: {percentile(latencies, 99):.1f} ms  (goal <= 50 ms)")
    print(f"delivery latency max: {max(latencies):.1f} ms")


if __name__ == "__main__":
    main()
