"""The readiness gate: a deployment's new replicas must prove themselves before traffic and the
old replicas move.

A replica is ready when its health check passed ``healthy_threshold`` times in a row (HTTP GET
or TCP connect against its own address), or, without a check, once it has run ``min_ready_s``
without a restart. A check that has not passed yet is retried quickly at first (10, 20, 40 ms...
up to the poll interval): most apps listen within milliseconds of starting, and the deploy should
not wait a whole interval for the second look. A bad observation is the replica exited, its restart count rose, or its check
failing after the start period (at most one per check interval). Enough of them fail the
deployment. A passing check resets the count of failing checks, never that of crashes: a replica
that answers between crashes (a restart loop under ``unless-stopped``) is crash-looping all the
same. A crash also resets the replica's success streak and takes back its readiness, so a
replica that was ready and then died before its siblings were holds the rollout back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from deploykit.clock import Clock, wait_event
from deploykit.deployment import Deployment, DeploymentService
from deploykit.errors import NOT_FOUND, Error
from deploykit.health import HealthProbe
from deploykit.runtime import ContainerState, Runtime
from deploykit_reconciler.settings import ReconcilerSettings

FIRST_RETRY_S = 0.01


def retry_delay(attempt: int, poll_s: float) -> float:
    """Seconds before the next look at a replica whose check has failed ``attempt`` times in a
    row (0 for the first failure): doubling from ``FIRST_RETRY_S``, never more than ``poll_s``."""
    return min(poll_s, FIRST_RETRY_S * float(2 ** min(attempt, 30)))


@dataclass(frozen=True)
class Ready:
    containers: list[ContainerState]


@dataclass(frozen=True)
class Failed:
    reason: str
    container_id: str | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class Cancelled:
    """The deployment stopped being the target (a newer one, a cancel) while we waited."""


Outcome = Ready | Failed | Cancelled


@dataclass
class _Replica:
    state: ContainerState
    restarts: int
    crashes: int = 0
    failing: int = 0
    last_reason: str = ""
    last_exit: int | None = None
    successes: int = 0
    running_since: float | None = None
    next_probe: float = 0.0
    misses: int = 0
    """Checks failed in a row; spaces the next one (``retry_delay``)."""
    last_bad_probe: float | None = None
    ready: bool = False
    history: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return self.crashes + self.failing


class ReadinessGate:
    def __init__(
        self,
        *,
        runtime: Runtime,
        probe: HealthProbe,
        deployments: DeploymentService,
        clock: Clock,
        settings: ReconcilerSettings,
    ) -> None:
        self._runtime = runtime
        self._probe = probe
        self._deployments = deployments
        self._clock = clock
        self._settings = settings

    async def wait(self, deployment: Deployment, containers: list[ContainerState], wake: asyncio.Event) -> Outcome:
        """Watch ``containers`` (the deployment's replicas) until all are ready, one fails, or the
        deployment is no longer in flight. ``wake`` is set by Docker events to look sooner."""
        s = self._settings
        check = deployment.config.health_check
        port = deployment.config.port
        threshold = check.unhealthy_threshold if check is not None else s.bad_observations
        started = self._clock.monotonic()
        replicas = [_Replica(state=c, restarts=c.restart_count) for c in containers]
        while True:
            now = self._clock.monotonic()
            for r in replicas:
                await self._observe(r, now - started, check_port=port, deployment=deployment)
                if r.bad >= threshold:
                    exit_code = r.last_exit if r.last_exit is not None else r.state.exit_code
                    return Failed(reason=r.last_reason, container_id=r.state.id, exit_code=exit_code)
            if all(r.ready for r in replicas):
                return Ready([r.state for r in replicas])
            if self._clock.monotonic() - started > s.readiness_timeout_s:
                return Failed(reason=f"not ready within {s.readiness_timeout_s:g} s")
            current = await self._deployments.get_deployment(deployment.id)
            if not current.in_flight:
                return Cancelled()
            wake.clear()
            await wait_event(wake, self._until_next_look(replicas, check is not None))

    def _until_next_look(self, replicas: list[_Replica], checked: bool) -> float:
        """The poll interval, or less when a replica's next check is due sooner."""
        poll = self._settings.readiness_poll_s
        if not checked:
            return poll
        now = self._clock.monotonic()
        due = [r.next_probe - now for r in replicas if not r.ready and r.running_since is not None]
        return max(0.0, min([poll, *due]))

    async def _observe(self, r: _Replica, elapsed: float, *, check_port: int | None, deployment: Deployment) -> None:
        s = self._settings
        now = self._clock.monotonic()
        try:
            c = await self._runtime.inspect_container(r.state.id)
        except Error as err:
            if err.code != NOT_FOUND:
                raise
            self._crashed(r, "the container disappeared")
            return
        r.state = c
        if c.state in {"exited", "dead"}:
            r.last_exit = c.exit_code
            self._crashed(r, _exit_reason(c))
            return
        if c.restart_count > r.restarts:
            r.restarts = c.restart_count
            r.last_exit = c.exit_code
            self._crashed(r, f"{_exit_reason(c)}; restarted {c.restart_count} time(s)")
            return
        if r.ready:
            return  # still up; it proved itself already
        if c.state != "running":
            return  # created / restarting without a new count yet: look again
        if r.running_since is None:
            r.running_since = now
        check = deployment.config.health_check
        if check is None or check_port is None:
            if now - r.running_since >= s.min_ready_s:
                r.ready = True
            return
        if now < r.next_probe:
            return
        if not c.ip_address:
            self._failing(r, "the container has no address on its network")
            return
        result = await self._probe.probe(c.ip_address, c.port_for(check_port), check)
        if result.ok:
            r.failing = 0
            r.misses = 0
            r.successes += 1
            r.next_probe = now + check.interval_s
            if r.successes >= check.healthy_threshold:
                r.ready = True
            return
        r.successes = 0
        r.next_probe = now + retry_delay(r.misses, s.readiness_poll_s)
        r.misses += 1
        within_start = elapsed < check.start_period_s
        spaced = r.last_bad_probe is None or now - r.last_bad_probe >= check.interval_s
        if not within_start and spaced:
            r.last_bad_probe = now
            target = check.path if check.type.value == "http" else f"port {check_port}"
            self._failing(r, f"health check on {target} failed: {result.error or 'no answer'}")

    @staticmethod
    def _crashed(r: _Replica, reason: str) -> None:
        r.crashes += 1
        r.last_reason = reason
        r.running_since = None
        r.successes = 0
        r.ready = False

    @staticmethod
    def _failing(r: _Replica, reason: str) -> None:
        r.failing += 1
        r.last_reason = reason


def _exit_reason(c: ContainerState) -> str:
    if c.oom_killed:
        return "killed: out of memory"
    if c.exit_code is not None:
        return f"exited with code {c.exit_code}"
    return f"container is {c.state}"
