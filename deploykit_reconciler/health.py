"""``HealthMonitor``: keeps checking the replicas of healthy deployments once they passed the
readiness gate.

The converger tells it which replicas serve (``track``/``untrack``) whenever it looks at a
service, and every resync does so for all services, so the monitor reads neither the store nor
the engine to learn what to probe. Each watched replica is probed at its check's ``interval_s``,
at most ``health_concurrency`` probes at once and each in a task of its own, so one slow or
restarting replica never delays another; every result is stored (and pruned after
``health_retention_s``).

After ``unhealthy_threshold`` failed checks in a row a replica is held out of the route and
restarted (again after as many further failures, should the restart not help); once it passes
``healthy_threshold`` checks in a row it rejoins the route. Both changes are written to the
deployment's log and published as ``health.changed``. Route changes and restarts hold the
service's work-queue lock, so they never interleave with a reconcile of the same service.

Services without a health check cost nothing: with nothing to probe, the loop sleeps until the
next prune.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from deploykit.bus import Event, EventBus, EventType
from deploykit.clock import Clock, wait_event
from deploykit.deployment import Deployment, DeploymentService, DeploymentStatus
from deploykit.errors import NOT_FOUND, Error, error_message
from deploykit.health import (
    HealthCheck,
    HealthCheckType,
    HealthEvent,
    HealthProbe,
    HealthRecord,
    HealthRecordService,
    HealthResult,
    ReplicaHealth,
)
from deploykit.runtime import ContainerState, Runtime
from deploykit_reconciler.queue import Backoff
from deploykit_reconciler.routes import RouteTable
from deploykit_reconciler.settings import ReconcilerSettings

log = logging.getLogger(__name__)

PROBE_SLACK_S = 1.0
"""A probe gets its check's timeout plus this before the monitor gives up on it."""

Reroute = Callable[[str], Awaitable[None]]
"""Point a service's route at its ready replicas minus those held out (``Converger.reroute``)."""
ServiceLock = Callable[[str], AbstractAsyncContextManager[None]]
"""The lock a reconcile of the service holds (``WorkQueue.lock``)."""


@dataclass
class _Replica:
    service_id: str
    project_id: str
    deployment_id: str
    container_id: str
    replica_index: int
    check: HealthCheck
    port: int
    address: str | None
    reach_port: int
    """The port at ``address`` that reaches ``port`` (another one when published on a node)."""
    running: bool
    next_probe: float
    since: datetime
    in_route: bool = True
    failures: int = 0
    successes: int = 0
    restarts: int = 0
    last: HealthResult | None = None
    quiet_until: float = 0.0
    """Failures before this (the check's start period after a restart) do not count."""
    busy: bool = False
    """A probe (and what it leads to) is under way."""
    acting: bool = False
    """Held out and restarted, or rejoining, right now: list data the converger passes is stale."""

    def due(self, now: float) -> bool:
        return self.probeable and now >= self.next_probe

    @property
    def probeable(self) -> bool:
        return not self.busy and self.running and bool(self.address)

    def view(self) -> ReplicaHealth:
        return ReplicaHealth(
            service_id=self.service_id,
            deployment_id=self.deployment_id,
            container_id=self.container_id,
            replica_index=self.replica_index,
            healthy=self.in_route,
            consecutive_failures=self.failures,
            consecutive_successes=self.successes,
            restarts=self.restarts,
            last_result=self.last,
            since=self.since,
        )


class HealthMonitor:
    """Implements the domain ``HealthMonitor`` Protocol; run by the ``Reconciler``."""

    def __init__(
        self,
        *,
        runtime: Runtime,
        probe: HealthProbe,
        deployments: DeploymentService,
        clock: Clock,
        settings: ReconcilerSettings,
        reroute: Reroute,
        lock: ServiceLock,
        routes: RouteTable,
        records: HealthRecordService | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self._runtime = runtime
        self._probe = probe
        self._deployments = deployments
        self._clock = clock
        self._s = settings
        self._reroute = reroute
        self._lock = lock
        self._routes = routes
        """Where replicas are held out of routes; the converger routes around them."""
        self._records = records
        self._bus = bus
        self._replicas: dict[str, dict[str, _Replica]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._probes: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max(1, settings.health_concurrency))
        self._next_prune: float | None = None
        self._prune_failures = 0
        self.probes = 0
        """Probes run so far (tests and benchmarks)."""

    # -- what to watch ----------------------------------------------------------------------------

    def track(self, deployment: Deployment, containers: Iterable[ContainerState]) -> None:
        """``containers`` are what runs of the service now; those of ``deployment`` are watched
        when it is healthy and has a health check and a port. Never blocks."""
        service_id = deployment.service_id
        check, port = deployment.config.health_check, deployment.config.port
        if check is None or port is None or deployment.status != DeploymentStatus.HEALTHY:
            self.untrack(service_id)
            return
        old = self._replicas.get(service_id, {})
        fresh: dict[str, _Replica] = {}
        now = self._clock.monotonic()
        for x in containers:
            if x.deployment_id != deployment.id:
                continue
            r = old.get(x.id)
            if r is None:
                # It just passed the readiness gate (or the daemon restarted): first look in one interval.
                r = _Replica(
                    service_id=service_id,
                    project_id=deployment.project_id,
                    deployment_id=deployment.id,
                    container_id=x.id,
                    replica_index=x.replica_index,
                    check=check,
                    port=port,
                    address=x.ip_address,
                    reach_port=x.port_for(port),
                    running=x.state == "running",
                    next_probe=now + check.interval_s,
                    since=self._clock.now(),
                )
                self._wake.set()
            elif not r.acting and (r.address, r.reach_port, r.running) != (
                x.ip_address,
                x.port_for(port),
                x.state == "running",
            ):
                r.address, r.reach_port, r.running = x.ip_address, x.port_for(port), x.state == "running"
                self._wake.set()  # it may have become probeable
            fresh[x.id] = r
        for gone in old.keys() - fresh.keys():
            self._routes.let_in(gone)
        if fresh:
            self._replicas[service_id] = fresh
        else:
            self._replicas.pop(service_id, None)

    def untrack(self, service_id: str) -> None:
        for container_id in self._replicas.pop(service_id, {}):
            self._routes.let_in(container_id)

    def retain(self, service_ids: set[str]) -> None:
        """Forget services that no longer exist."""
        for service_id in list(self._replicas.keys() - service_ids):
            self.untrack(service_id)

    def health_state(self, service_id: str) -> list[ReplicaHealth]:
        replicas = self._replicas.get(service_id, {}).values()
        return [r.view() for r in sorted(replicas, key=lambda r: (r.replica_index, r.container_id))]

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="health-monitor")

    async def stop(self) -> None:
        """Cancel the loop and every probe, restart or route change under way, and wait for them."""
        task, self._task = self._task, None
        tasks = [*self._probes, *([task] if task is not None else [])]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def check_due(self) -> None:
        """Probe every replica that is due and wait for the results and what they lead to (tests
        drive the monitor with this and a manual clock instead of ``start()``)."""
        await self._tick()
        while self._probes:
            await asyncio.gather(*self._probes, return_exceptions=True)

    async def _run(self) -> None:
        failures = 0
        backoff = Backoff(self._s.backoff_min_s, self._s.backoff_max_s)
        while True:
            self._wake.clear()
            timeout: float | None
            try:
                timeout = await self._tick()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                timeout = backoff.delay(failures)
                log.exception("health monitor pass failed; next in %.1f s", timeout)
            await wait_event(self._wake, timeout)

    async def _tick(self) -> float | None:
        """Start the due probes and prune if due; seconds until something is due next (None: nothing
        is, until ``track`` or a finished probe wakes the loop)."""
        now = self._clock.monotonic()
        waits: list[float] = []
        for replicas in list(self._replicas.values()):
            for r in list(replicas.values()):
                if r.due(now):
                    self._spawn(r)
                elif r.probeable:
                    waits.append(r.next_probe - now)
        if self._records is not None:
            if self._next_prune is None or now >= self._next_prune:
                await self._prune(now)
            assert self._next_prune is not None
            waits.append(self._next_prune - now)
        return max(0.0, min(waits)) if waits else None

    async def _prune(self, now: float) -> None:
        assert self._records is not None
        before = self._clock.now() - timedelta(seconds=self._s.health_retention_s)
        try:
            removed = await self._records.prune_health(before)
        except Exception as exc:
            self._prune_failures += 1
            delay = Backoff(self._s.backoff_min_s, self._s.health_prune_interval_s).delay(self._prune_failures)
            log.warning("pruning health results failed (%s); retrying in %.1f s", error_message(exc), delay)
            self._next_prune = now + delay
            return
        self._prune_failures = 0
        self._next_prune = now + self._s.health_prune_interval_s
        if removed:
            log.debug("pruned %d health results", removed)

    def _spawn(self, r: _Replica) -> None:
        r.busy = True
        r.next_probe = self._clock.monotonic() + r.check.interval_s
        task = asyncio.create_task(self._check(r), name=f"health-check-{r.container_id[:12]}")
        self._probes.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._probes.discard(t)
            r.busy = False
            self._wake.set()
            if not t.cancelled() and t.exception() is not None:
                log.error("health check of %s failed", r.container_id[:12], exc_info=t.exception())

        task.add_done_callback(done)

    # -- one replica ------------------------------------------------------------------------------

    async def _check(self, r: _Replica) -> None:
        async with self._slots:
            result = await self._probe_once(r)
        if not self._watching(r):
            return
        self.probes += 1
        r.last = result
        await self._store(r, result)
        check = r.check
        if result.ok:
            r.failures = 0
            r.successes += 1
            if not r.in_route and r.successes >= check.healthy_threshold:
                await self._rejoin(r)
            return
        r.successes = 0
        if self._clock.monotonic() < r.quiet_until:
            return
        r.failures += 1
        if r.failures >= check.unhealthy_threshold:
            await self._hold_out_and_restart(r, result)

    async def _probe_once(self, r: _Replica) -> HealthResult:
        check = r.check
        address = r.address or ""
        started = self._clock.monotonic()
        try:
            async with asyncio.timeout(check.timeout_s + PROBE_SLACK_S):
                result = await self._probe.probe(address, r.reach_port, check)
        except TimeoutError:
            result = HealthResult(ok=False, latency_ms=0.0, error=f"timed out after {check.timeout_s:g} s")
        except Exception as exc:  # the Protocol says never; a bug must not stop the monitor
            log.warning("health probe of %s raised: %s", r.container_id[:12], error_message(exc))
            result = HealthResult(ok=False, latency_ms=0.0, error=error_message(exc))
        if result.latency_ms == 0.0 and not result.ok:
            result = replace(result, latency_ms=round((self._clock.monotonic() - started) * 1000, 2))
        if result.checked_at is None:
            result = replace(result, checked_at=self._clock.now())
        return result

    async def _store(self, r: _Replica, result: HealthResult, event: HealthEvent | None = None) -> None:
        if self._records is None:
            return
        try:
            await self._records.record_health(
                HealthRecord(
                    service_id=r.service_id,
                    container_id=r.container_id,
                    result=result,
                    replica_index=r.replica_index,
                    event=event,
                )
            )
        except Error as err:
            if err.code == NOT_FOUND:
                self.untrack(r.service_id)  # the service is gone; the reconciler tears it down
            else:
                log.warning("storing a health result of %s failed: %s", r.container_id[:12], err.message)
        except Exception as exc:
            log.warning("storing a health result of %s failed: %s", r.container_id[:12], error_message(exc))

    async def _note(self, r: _Replica, event: HealthEvent, reason: str, *, ok: bool) -> None:
        """An event on the replica's health history, beside its probe results."""
        result = HealthResult(ok=ok, latency_ms=0.0, error=reason, checked_at=self._clock.now())
        await self._store(r, result, event)

    async def _hold_out_and_restart(self, r: _Replica, result: HealthResult) -> None:
        reason = f"{self._target(r)} failed {r.failures} health checks in a row: {_failure(result)}"
        async with self._lock(r.service_id):
            if not self._watching(r):
                return  # a reconcile replaced or removed it meanwhile
            r.acting = True
            try:
                if r.in_route:
                    r.in_route = False
                    r.since = self._clock.now()
                    self._routes.hold_out(r.container_id)
                    await self._reroute_quietly(r)
                    await self._note(r, HealthEvent.HELD_OUT, reason, ok=False)
                    await self._announce(r, healthy=False, reason=f"{reason}; out of the route, restarting")
                else:
                    await self._append_log(r, f"health: replica {r.replica_index} still failing ({reason}); restarting")
                await self._restart(r)
            finally:
                r.acting = False

    async def _restart(self, r: _Replica) -> None:
        r.failures = r.successes = 0
        try:
            await self._runtime.restart_container(r.container_id, self._s.stop_grace_s)
        except Error as err:
            if err.code == NOT_FOUND:
                self._drop(r)
                return
            log.warning("restarting unhealthy replica %s failed: %s", r.container_id[:12], err.message)
            return
        r.restarts += 1
        await self._note(r, HealthEvent.RESTARTED, f"restart {r.restarts} by the health monitor", ok=False)
        deadline = self._clock.monotonic() + self._s.health_restart_wait_s
        while True:
            try:
                state = await self._runtime.inspect_container(r.container_id)
            except Error as err:
                if err.code == NOT_FOUND:
                    self._drop(r)
                    return
                log.warning("inspecting restarted replica %s failed: %s", r.container_id[:12], err.message)
                break
            r.address, r.running = state.ip_address, state.state == "running"
            r.reach_port = state.port_for(r.port)
            if (r.running and r.address) or self._clock.monotonic() > deadline:
                break
            await asyncio.sleep(self._s.readiness_poll_s)
        now = self._clock.monotonic()
        r.quiet_until = now + r.check.start_period_s
        r.next_probe = now + r.check.interval_s
        # A replica that does not run again is the reconciler's crash detection's business.

    async def _rejoin(self, r: _Replica) -> None:
        async with self._lock(r.service_id):
            if not self._watching(r) or r.in_route:
                return
            r.acting = True
            try:
                r.in_route = True
                r.since = self._clock.now()
                self._routes.let_in(r.container_id)
                await self._reroute_quietly(r)
                reason = f"{self._target(r)} passed {r.successes} health check(s) in a row"
                await self._note(r, HealthEvent.REJOINED, reason, ok=True)
                await self._announce(r, healthy=True, reason=reason)
            finally:
                r.acting = False

    async def _reroute_quietly(self, r: _Replica) -> None:
        """A failed route change is repaired by the next reconcile, which routes around held-out
        replicas too."""
        try:
            await self._reroute(r.service_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("re-routing service %s around its health failed: %s", r.service_id, error_message(exc))

    async def _announce(self, r: _Replica, *, healthy: bool, reason: str) -> None:
        state = "healthy" if healthy else "unhealthy"
        log.info("service %s replica %d (%s) %s: %s", r.service_id, r.replica_index, r.container_id[:12], state, reason)
        await self._append_log(r, f"health: replica {r.replica_index} {state}: {reason}")
        if self._bus is not None:
            self._bus.publish(
                Event(
                    type=EventType.HEALTH_CHANGED,
                    project_id=r.project_id,
                    service_id=r.service_id,
                    payload={
                        "service_id": r.service_id,
                        "deployment_id": r.deployment_id,
                        "container_id": r.container_id,
                        "replica_index": r.replica_index,
                        "state": state,
                        "healthy": healthy,
                        "reason": reason,
                    },
                    at=self._clock.now(),
                )
            )

    async def _append_log(self, r: _Replica, line: str) -> None:
        try:
            await self._deployments.append_log(r.deployment_id, f"{line}\n")
        except Exception as exc:
            log.warning("health note for deployment %s not logged: %s", r.deployment_id[:8], error_message(exc))

    def _watching(self, r: _Replica) -> bool:
        return self._replicas.get(r.service_id, {}).get(r.container_id) is r

    def _drop(self, r: _Replica) -> None:
        replicas = self._replicas.get(r.service_id, {})
        if replicas.get(r.container_id) is r:
            del replicas[r.container_id]
            if not replicas:
                self._replicas.pop(r.service_id, None)
        self._routes.let_in(r.container_id)

    @staticmethod
    def _target(r: _Replica) -> str:
        return r.check.path if r.check.type == HealthCheckType.HTTP else f"port {r.port}"


def _failure(result: HealthResult) -> str:
    if result.error:
        return result.error
    if result.status_code is not None:
        return f"HTTP {result.status_code}"
    return "no answer"
