"""MetricsStore on SQLite: each tick's samples in one transaction, rolled up into 1-minute and
1-hour averages and pruned by resolution, so the tables stay bounded (``deploykit.metrics``)."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import UTC, datetime

from deploykit.metrics import (
    HOUR,
    MINUTE,
    RAW,
    RETENTION,
    ContainerPoint,
    ContainerSample,
    HostMetrics,
    HostSample,
    MetricsRange,
    ReplicaSeries,
    ServiceMetrics,
    resolution_for,
)
from deploykit_sqlite.db import DB, Tx

_CONTAINER_COLUMNS = (
    "resolution, at, service_id, container_id, replica_index, cpu_percent, memory_bytes, memory_limit_bytes, "
    "net_rx_bps, net_tx_bps, block_read_bps, block_write_bps, restarts"
)
_HOST_COLUMNS = (
    "resolution, at, cpu_percent, memory_bytes, memory_total_bytes, disk_used_bytes, disk_total_bytes, "
    "load1, load5, load15"
)
# Averages over a bucket; limits, totals and restart counts take their highest value.
_CONTAINER_AGGREGATE = (
    "max(replica_index), avg(cpu_percent), CAST(avg(memory_bytes) AS INTEGER), max(memory_limit_bytes), "
    "avg(net_rx_bps), avg(net_tx_bps), avg(block_read_bps), avg(block_write_bps), max(restarts)"
)
_HOST_AGGREGATE = (
    "avg(cpu_percent), CAST(avg(memory_bytes) AS INTEGER), max(memory_total_bytes), "
    "CAST(avg(disk_used_bytes) AS INTEGER), max(disk_total_bytes), avg(load1), avg(load5), avg(load15)"
)

_RESOLUTION = "((resolution = ? AND at < ?) OR (resolution = 0 AND at >= ?))"
"""Rows of the chosen resolution, then raw ones past what it has rolled up (for raw: raw alone)."""


def epoch(value: datetime) -> int:
    """Unix seconds; a naive datetime is UTC (the store's convention)."""
    return int((value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp())


def from_epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class MetricsStore:
    """Implements the domain ``MetricsStore``. Reads use the store's clock for "now"."""

    def __init__(self, db: DB) -> None:
        self.db = db

    async def record_samples(self, containers: list[ContainerSample], host: HostSample | None) -> None:
        if not containers and host is None:
            return
        async with self.db.tx() as tx:
            if containers:
                await tx.executemany(
                    f"INSERT OR REPLACE INTO container_metrics ({_CONTAINER_COLUMNS}) "
                    "VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            epoch(s.at),
                            s.service_id,
                            s.container_id,
                            s.replica_index,
                            s.cpu_percent,
                            s.memory_bytes,
                            s.memory_limit_bytes,
                            s.net_rx_bps,
                            s.net_tx_bps,
                            s.block_read_bps,
                            s.block_write_bps,
                            s.restarts,
                        )
                        for s in containers
                    ],
                )
            if host is not None:
                await tx.execute(
                    f"INSERT OR REPLACE INTO host_metrics ({_HOST_COLUMNS}) VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        epoch(host.at),
                        host.cpu_percent,
                        host.memory_bytes,
                        host.memory_total_bytes,
                        host.disk_used_bytes,
                        host.disk_total_bytes,
                        host.load1,
                        host.load5,
                        host.load15,
                    ),
                )

    async def roll_up(self, now: datetime) -> int:
        """Each coarser bucket is recomputed from its last stored one (which may have been
        partial) up to the last completed one, so a missed tick or a restart loses nothing
        that is still within the finer resolution's retention."""
        now_s = epoch(now)
        removed = 0
        async with self.db.tx() as tx:
            for finer, coarser in ((RAW, MINUTE), (MINUTE, HOUR)):
                end = now_s // coarser * coarser
                for table, key, aggregate in (
                    ("container_metrics", "service_id, container_id", _CONTAINER_AGGREGATE),
                    ("host_metrics", None, _HOST_AGGREGATE),
                ):
                    start = await tx.scalar(f"SELECT max(at) FROM {table} WHERE resolution = ?", (coarser,))
                    columns = _CONTAINER_COLUMNS if key else _HOST_COLUMNS
                    keys = f", {key}" if key else ""
                    await tx.execute(
                        f"INSERT OR REPLACE INTO {table} ({columns}) "
                        f"SELECT {coarser}, at / {coarser} * {coarser} AS bucket{keys}, {aggregate} FROM {table} "
                        f"WHERE resolution = ? AND at >= ? AND at < ? GROUP BY bucket{keys}",
                        (finer, int(start or 0), end),
                    )
            for resolution, keep in RETENTION.items():
                cutoff = now_s - int(keep.total_seconds())
                for table in ("container_metrics", "host_metrics"):
                    removed += await tx.execute(
                        f"DELETE FROM {table} WHERE resolution = ? AND at < ?", (resolution, cutoff)
                    )
        return removed

    async def service_metrics(self, service_id: str, rng: MetricsRange) -> ServiceMetrics:
        rng.validate()
        resolution = resolution_for(rng, self.db.clock.now())
        step = max(rng.step_s, resolution)
        async with self.db.read() as tx:
            rolled = await self._rolled("container_metrics", resolution, tx)
            rows = await tx.fetchall(
                f"SELECT at / {step} * {step} AS bucket, container_id, {_CONTAINER_AGGREGATE} FROM container_metrics "
                f"WHERE {_RESOLUTION} AND service_id = ? AND at >= ? AND at < ? "
                "GROUP BY bucket, container_id ORDER BY bucket, container_id",
                (resolution, rolled, rolled, service_id, epoch(rng.since), epoch(rng.until)),
            )
        replicas: dict[int, dict[int, list[ContainerPoint]]] = defaultdict(lambda: defaultdict(list))
        containers: dict[int, list[str]] = defaultdict(list)
        everything: dict[int, list[ContainerPoint]] = defaultdict(list)
        for row in rows:
            index, point = int(row[2]), _container_point(row)
            replicas[index][int(row["bucket"])].append(point)
            everything[int(row["bucket"])].append(point)
            if row["container_id"] not in containers[index]:
                containers[index].append(row["container_id"])
        series = [
            ReplicaSeries(
                replica_index=index,
                container_ids=containers[index],
                points=[_sum(points) for _, points in sorted(buckets.items())],
            )
            for index, buckets in sorted(replicas.items())
        ]
        total = [_sum(points) for _, points in sorted(everything.items())]
        return ServiceMetrics(
            service_id=service_id,
            range=MetricsRange(since=rng.since, until=rng.until, step_s=step),
            resolution=resolution,
            replicas=series,
            total=total,
        )

    async def host_metrics(self, rng: MetricsRange) -> HostMetrics:
        rng.validate()
        resolution = resolution_for(rng, self.db.clock.now())
        step = max(rng.step_s, resolution)
        async with self.db.read() as tx:
            rolled = await self._rolled("host_metrics", resolution, tx)
            rows = await tx.fetchall(
                f"SELECT at / {step} * {step} AS bucket, {_HOST_AGGREGATE} FROM host_metrics "
                f"WHERE {_RESOLUTION} AND at >= ? AND at < ? GROUP BY bucket ORDER BY bucket",
                (resolution, rolled, rolled, epoch(rng.since), epoch(rng.until)),
            )
        points = [
            HostSample(
                at=from_epoch(int(r[0])),
                cpu_percent=round(float(r[1]), 2),
                memory_bytes=int(r[2]),
                memory_total_bytes=int(r[3]),
                disk_used_bytes=int(r[4]),
                disk_total_bytes=int(r[5]),
                load1=round(float(r[6]), 2),
                load5=round(float(r[7]), 2),
                load15=round(float(r[8]), 2),
            )
            for r in rows
        ]
        return HostMetrics(
            range=MetricsRange(since=rng.since, until=rng.until, step_s=step), resolution=resolution, points=points
        )

    @staticmethod
    async def _rolled(table: str, resolution: int, tx: Tx) -> int:
        """The time up to which ``resolution`` is rolled up: the end of its newest bucket (a roll-up
        stores completed buckets only). Later samples are read raw, so the newest ones count
        before the next tick rolls up the minute or hour they completed. Raw reads: 0."""
        if not resolution:
            return 0
        newest = await tx.scalar(f"SELECT max(at) FROM {table} WHERE resolution = ?", (resolution,))
        return 0 if newest is None else int(newest) + resolution

    async def count_rows(self) -> dict[int, int]:
        """Container rows per resolution (the benchmark's measure of boundedness)."""
        async with self.db.read() as tx:
            rows = await tx.fetchall("SELECT resolution, count(*) FROM container_metrics GROUP BY resolution")
        return {int(r[0]): int(r[1]) for r in rows}


def _container_point(row: sqlite3.Row) -> ContainerPoint:
    return ContainerPoint(
        at=from_epoch(int(row["bucket"])),
        cpu_percent=float(row[3]),
        memory_bytes=int(row[4]),
        memory_limit_bytes=int(row[5]),
        net_rx_bps=float(row[6]),
        net_tx_bps=float(row[7]),
        block_read_bps=float(row[8]),
        block_write_bps=float(row[9]),
        restarts=int(row[10]),
    )


def _sum(points: list[ContainerPoint]) -> ContainerPoint:
    """Containers in one bucket added up (two of one replica overlap during a rollout)."""
    return ContainerPoint(
        at=points[0].at,
        cpu_percent=round(sum(p.cpu_percent for p in points), 2),
        memory_bytes=sum(p.memory_bytes for p in points),
        memory_limit_bytes=sum(p.memory_limit_bytes for p in points),
        net_rx_bps=round(sum(p.net_rx_bps for p in points), 1),
        net_tx_bps=round(sum(p.net_tx_bps for p in points), 1),
        block_read_bps=round(sum(p.block_read_bps for p in points), 1),
        block_write_bps=round(sum(p.block_write_bps for p in points), 1),
        restarts=sum(p.restarts for p in points),
    )
