"""The readiness gate with fakes and a hand-moved clock."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

from deploykit.deployment import DeploymentStatus
from deploykit.health import HealthCheck, HealthResult
from deploykit.runtime import ContainerState
from deploykit_reconciler import ReconcilerSettings
from deploykit_reconciler.readiness import Cancelled, Failed, ReadinessGate, Ready
from tests.reconciler.fakes import FakeDeployments, FakeProbe, FakeRuntime, ManualClock, container, deployment

SETTINGS = ReconcilerSettings(min_ready_s=3.0, readiness_poll_s=0.001, readiness_timeout_s=60.0, bad_observations=3)


def gate(
    states: list[ContainerState],
    *,
    clock: ManualClock,
    probes: list[bool] | None = None,
    status: DeploymentStatus = DeploymentStatus.STARTING,
) -> ReadinessGate:
    """Each inspect returns the next state (the last one repeats); each probe the next result."""
    seen = list(states)

    async def inspect(id: str) -> ContainerState:
        return seen.pop(0) if len(seen) > 1 else seen[0]

    results = list(probes or [])

    async def probe(address: str, port: int, check: HealthCheck) -> HealthResult:
        ok = results.pop(0) if len(results) > 1 else results[0]
        return HealthResult(ok=ok, latency_ms=1.0, status_code=200 if ok else None, error=None if ok else "refused")

    async def get(id: str) -> object:
        return deployment(id, status=status)

    return ReadinessGate(
        runtime=FakeRuntime(inspect_container_fn=inspect),  # type: ignore[arg-type]
        probe=FakeProbe(probe_fn=probe),
        deployments=FakeDeployments(get_deployment_fn=get),  # type: ignore[arg-type]
        clock=clock,
        settings=SETTINGS,
    )


async def test_without_a_check_a_replica_is_ready_after_min_ready_s_without_restarts() -> None:
    clock = ManualClock(step=0.5)
    c = container()
    outcome = await gate([c], clock=clock).wait(deployment(port=None), [c], asyncio.Event())
    assert isinstance(outcome, Ready)
    assert clock.t - 1000.0 >= 3.0


async def test_http_check_passing_the_healthy_threshold_makes_it_ready() -> None:
    check = HealthCheck(interval_s=1.0, healthy_threshold=2, start_period_s=10.0)
    clock = ManualClock(step=0.25)
    c = container()
    g = gate([c], clock=clock, probes=[False, False, True, True])
    outcome = await g.wait(deployment(check=check), [c], asyncio.Event())
    assert outcome == Ready([c])


async def test_three_exits_fail_it_with_the_exit_code() -> None:
    clock = ManualClock(step=0.1)
    start = container()
    exited = replace(start, state="exited", exit_code=3)
    outcome = await gate([start, exited], clock=clock).wait(deployment(port=None), [start], asyncio.Event())
    assert outcome == Failed(reason="exited with code 3", container_id="c1", exit_code=3)


async def test_a_rising_restart_count_is_a_bad_observation_each_time() -> None:
    clock = ManualClock(step=0.1)
    start = container()
    states = [start] + [replace(start, restart_count=n, exit_code=1) for n in (1, 2, 3)]
    outcome = await gate(states, clock=clock).wait(deployment(port=None), [start], asyncio.Event())
    assert outcome == Failed(reason="exited with code 1; restarted 3 time(s)", container_id="c1", exit_code=1)


async def test_a_failing_check_counts_once_per_interval_after_the_start_period() -> None:
    check = HealthCheck(interval_s=1.0, unhealthy_threshold=3, start_period_s=2.0)
    clock = ManualClock(step=0.1)
    c = container()
    outcome = await gate([c], clock=clock, probes=[False]).wait(deployment(check=check), [c], asyncio.Event())
    assert outcome == Failed(reason="health check on / failed: refused", container_id="c1", exit_code=None)
    # Start period (2 s) plus two more intervals before the third bad observation.
    assert clock.t - 1000.0 >= 4.0


async def test_a_deployment_that_stopped_being_in_flight_cancels_the_wait() -> None:
    clock = ManualClock(step=0.01)
    c = container()
    g = gate([c], clock=clock, status=DeploymentStatus.CANCELLED)
    assert await g.wait(deployment(port=None), [c], asyncio.Event()) == Cancelled()


async def test_a_restart_loop_fails_it_even_when_the_replica_answers_between_crashes() -> None:
    # unless-stopped: each run answers its check once, crashes, and Docker starts it again.
    check = HealthCheck(interval_s=0.1, healthy_threshold=3, unhealthy_threshold=3)
    clock = ManualClock(step=0.1)
    start = container()
    states = [start, start]
    for n in (1, 2, 3):
        crashed = replace(start, state="restarting", restart_count=n, exit_code=3)
        states += [crashed, replace(crashed, state="running"), replace(crashed, state="running")]
    g = gate(states, clock=clock, probes=[True])
    outcome = await g.wait(deployment(check=check), [start], asyncio.Event())
    assert outcome == Failed(reason="exited with code 3; restarted 3 time(s)", container_id="c1", exit_code=3)
    # Promptly: a handful of polls, nowhere near the readiness timeout.
    assert clock.t - 1000.0 < 5.0


async def test_a_crash_after_a_passing_check_resets_the_success_streak() -> None:
    # One pass, a restart, then passes again: ready only after a full streak since the restart.
    check = HealthCheck(interval_s=0.1, healthy_threshold=2)
    clock = ManualClock(step=0.1)
    start = container()
    restarted = replace(start, restart_count=1, exit_code=3)
    probed: list[str] = []
    seen = [start, restarted]

    async def inspect(id: str) -> ContainerState:
        return seen.pop(0) if len(seen) > 1 else seen[0]

    async def probe(address: str, port: int, check: HealthCheck) -> HealthResult:
        probed.append(address)
        return HealthResult(ok=True, latency_ms=1.0, status_code=200)

    async def get(id: str) -> object:
        return deployment(id)

    g = ReadinessGate(
        runtime=FakeRuntime(inspect_container_fn=inspect),  # type: ignore[arg-type]
        probe=FakeProbe(probe_fn=probe),
        deployments=FakeDeployments(get_deployment_fn=get),  # type: ignore[arg-type]
        clock=clock,
        settings=SETTINGS,
    )
    assert await g.wait(deployment(check=check), [start], asyncio.Event()) == Ready([restarted])
    # The pass before the restart did not count towards the two needed after it.
    assert len(probed) == 3


async def test_a_ready_replica_that_dies_before_its_siblings_are_ready_fails_it() -> None:
    check = HealthCheck(interval_s=0.1, healthy_threshold=1, start_period_s=30.0)
    clock = ManualClock(step=0.1)
    first, second = container("c1"), container("c2", replica=1, ip="10.0.0.3")
    dead = replace(first, state="exited", exit_code=3)
    states = {"c1": [first, dead], "c2": [second]}
    answers = {"10.0.0.2": [True], "10.0.0.3": [False, False, False, False, True]}

    async def inspect(id: str) -> ContainerState:
        seen = states[id]
        return seen.pop(0) if len(seen) > 1 else seen[0]

    async def probe(address: str, port: int, check: HealthCheck) -> HealthResult:
        results = answers[address]
        ok = results.pop(0) if len(results) > 1 else results[0]
        return HealthResult(ok=ok, latency_ms=1.0, status_code=200 if ok else None, error=None if ok else "refused")

    async def get(id: str) -> object:
        return deployment(id)

    g = ReadinessGate(
        runtime=FakeRuntime(inspect_container_fn=inspect),  # type: ignore[arg-type]
        probe=FakeProbe(probe_fn=probe),
        deployments=FakeDeployments(get_deployment_fn=get),  # type: ignore[arg-type]
        clock=clock,
        settings=SETTINGS,
    )
    outcome = await g.wait(deployment(check=check, replicas=2), [first, second], asyncio.Event())
    assert outcome == Failed(reason="exited with code 3", container_id="c1", exit_code=3)


def test_a_failing_check_is_retried_sooner_at_first_then_at_the_poll_interval() -> None:
    from deploykit_reconciler.readiness import retry_delay

    assert [retry_delay(n, 0.1) for n in range(6)] == [0.01, 0.02, 0.04, 0.08, 0.1, 0.1]
    assert retry_delay(1000, 2.0) == 2.0


async def test_a_replica_that_starts_listening_late_is_seen_after_quick_retries_not_whole_intervals() -> None:
    """With a poll interval of a second, a check refused twice still passes about 30 ms (fake
    time) after the first look: the retries are 10 and 20 ms apart."""
    check = HealthCheck(interval_s=5.0, healthy_threshold=1, start_period_s=10.0)
    clock = ManualClock()
    c = container()
    looks: list[float] = []
    results = [False, False, True]

    async def inspect(id: str) -> ContainerState:
        clock.advance(0.001)  # each look at Docker takes a millisecond
        return c

    async def probe(address: str, port: int, hc: HealthCheck) -> HealthResult:
        looks.append(clock.t)
        ok = results.pop(0)
        return HealthResult(ok=ok, latency_ms=1.0, status_code=200 if ok else None, error=None if ok else "refused")

    async def get(id: str) -> object:
        return deployment(id, status=DeploymentStatus.STARTING)

    g = ReadinessGate(
        runtime=FakeRuntime(inspect_container_fn=inspect),  # type: ignore[arg-type]
        probe=FakeProbe(probe_fn=probe),
        deployments=FakeDeployments(get_deployment_fn=get),  # type: ignore[arg-type]
        clock=clock,
        settings=replace(SETTINGS, readiness_poll_s=1.0),
    )

    async def advancing() -> None:
        # Fake time moves on while the gate waits in real time for its next look.
        while True:
            await asyncio.sleep(0.001)
            clock.advance(0.001)

    mover = asyncio.create_task(advancing())
    try:
        outcome = await asyncio.wait_for(g.wait(deployment(check=check), [c], asyncio.Event()), 30)
    finally:
        mover.cancel()
    assert outcome == Ready([c])
    assert len(looks) == 3
    gaps = [b - a for a, b in itertools.pairwise(looks)]
    # Nowhere near the 1 s poll interval.
    assert gaps[0] < 0.1, gaps
    assert gaps[1] < 0.2, gaps
