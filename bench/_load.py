"""Open-loop HTTP load through a proxy, and its report: requests, failures and latency per phase.

Used by ``zero_downtime.py``; not a benchmark of its own.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Sample:
    sent_at: float
    latency_s: float
    ok: bool
    outcome: str


@dataclass
class Load:
    name: str
    url: str
    keepalive: bool
    retry: bool
    rate: float
    samples: list[Sample] = field(default_factory=list)
    retries: int = 0
    host: str = "web.localhost"

    async def _one(self, client: httpx.AsyncClient) -> None:
        sent_at = time.monotonic()
        outcome = ""
        for attempt in (1, 2):
            try:
                response = await client.get(self.url, headers={"Host": self.host})
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if self.retry and attempt == 1:
                    self.retries += 1
                    continue
                outcome = type(exc).__name__
                break
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
                break
            outcome = str(response.status_code)
            break
        self.samples.append(Sample(sent_at, time.monotonic() - sent_at, outcome.startswith("2"), outcome))

    async def run(self, stop: asyncio.Event) -> None:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=0 if not self.keepalive else 100)
        async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
            tasks: list[asyncio.Task[None]] = []
            next_at = time.monotonic()
            while not stop.is_set():
                tasks.append(asyncio.create_task(self._one(client)))
                next_at += 1 / self.rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await asyncio.gather(*tasks)


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def within(sample: Sample, windows: list[tuple[float, float]]) -> bool:
    return any(start <= sample.sent_at <= end for start, end in windows)


HEADER = f"  {'client':<16} {'phase':<22} {'requests':>8} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"


def report_load(load: Load, phases: list[tuple[str, list[Sample]]]) -> None:
    """One client's rows of the table: requests, failures (by kind) and latency per phase."""
    for phase, samples in phases:
        if not samples:
            continue
        latencies = sorted(s.latency_s * 1000 for s in samples)
        failed = [s for s in samples if not s.ok]
        print(
            f"  {load.name:<16} {phase:<22} {len(samples):>8} {len(failed):>6} "
            f"{statistics.median(latencies):>8.1f} {p99(latencies):>8.1f} {latencies[-1]:>8.1f}"
        )
        kinds: dict[str, int] = {}
        for s in failed:
            kinds[s.outcome] = kinds.get(s.outcome, 0) + 1
        if kinds:
            print(f"  {'':<16}   failures: {', '.join(f'{k} x{v}' for k, v in sorted(kinds.items()))}")
    if load.retry:
        print(f"  {'':<16}   retried once after a reload closed the connection: {load.retries}")


def report(loads: list[Load], phases: list[tuple[str, list[tuple[float, float]]]]) -> None:
    print(HEADER)
    for load in loads:
        report_load(load, [(phase, [s for s in load.samples if within(s, windows)]) for phase, windows in phases])
