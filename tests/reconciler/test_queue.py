"""The keyed work queue: coalescing, one run per key at a time, bounded workers, backoff, drain."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from deploykit.errors import UNAVAILABLE, Error
from deploykit_reconciler import Backoff, WorkQueue
from tests.wait import wait_for


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (50, 30.0)],
)
def test_backoff_doubles_from_one_second_up_to_thirty(failures: int, delay: float) -> None:
    assert Backoff(1.0, 30.0).delay(failures) == delay


async def test_repeated_adds_coalesce_and_a_key_never_runs_twice_at_once() -> None:
    running: set[str] = set()
    runs: list[str] = []
    release = asyncio.Event()
    started = asyncio.Event()

    async def handle(key: str) -> None:
        assert key not in running  # a second run at once would count as a failure below
        running.add(key)
        runs.append(key)
        started.set()
        await release.wait()
        running.discard(key)

    q = WorkQueue(handle, workers=4, backoff=Backoff(0.01, 0.05))
    for _ in range(5):
        q.add("a")
    q.start()
    await asyncio.wait_for(started.wait(), 1)
    for _ in range(5):
        q.add("a")  # while running: marks it dirty, once
    assert runs == ["a"]
    release.set()
    await asyncio.wait_for(q.wait_idle(), 2)
    assert runs == ["a", "a"]
    assert q.failures("a") == 0
    await q.stop(1)


async def test_a_slow_key_holds_one_worker_and_never_delays_another() -> None:
    slow_started = asyncio.Event()
    finish_slow = asyncio.Event()
    done: list[str] = []

    async def handle(key: str) -> None:
        if key == "slow":
            slow_started.set()
            await finish_slow.wait()
        done.append(key)

    q = WorkQueue(handle, workers=2, backoff=Backoff(0.01, 0.05))
    q.start()
    q.add("slow")
    await asyncio.wait_for(slow_started.wait(), 1)
    q.add("fast-1")
    q.add("fast-2")
    await wait_for(lambda: len(done) >= 2, within=20, message="two fast keys done")
    assert done == ["fast-1", "fast-2"]
    finish_slow.set()
    await asyncio.wait_for(q.wait_idle(), 1)
    assert done == ["fast-1", "fast-2", "slow"]
    await q.stop(1)


async def test_failures_back_off_and_a_success_resets_the_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="deploykit_reconciler.queue")
    outcomes = [False, False, True, False]
    stamps: list[float] = []
    loop = asyncio.get_running_loop()

    async def handle(key: str) -> None:
        stamps.append(loop.time())
        if not outcomes.pop(0):
            raise Error(UNAVAILABLE, "The Docker engine is not reachable.")

    q = WorkQueue(handle, workers=1, backoff=Backoff(0.1, 1.0))
    q.start()
    q.add("svc")
    await wait_for(lambda: len(stamps) >= 3, within=20, message="three attempts")
    assert q.failures("svc") == 0
    # The delays the queue chose double; no retry came before its delay (a loaded machine may
    # make one later, so no upper bound).
    assert [m for m in caplog.messages if "retrying in" in m] == [
        "reconcile svc failed (attempt 1): The Docker engine is not reachable.; retrying in 0.1 s",
        "reconcile svc failed (attempt 2): The Docker engine is not reachable.; retrying in 0.2 s",
    ]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps[0] >= 0.1 - 0.001
    assert gaps[1] >= 0.2 - 0.001
    q.add("svc")
    await wait_for(lambda: q.failures("svc") == 1, within=20, message="the failure counted")
    assert len(stamps) == 4  # counted from zero again
    await q.stop(1)


async def test_ordinary_adds_wait_for_the_retry_but_a_forced_add_runs_now() -> None:
    calls = 0

    async def handle(key: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Error(UNAVAILABLE, "down")

    q = WorkQueue(handle, workers=1, backoff=Backoff(10.0, 30.0))
    q.start()
    q.add("svc")
    await wait_for(lambda: q.failures("svc") > 0, within=20, message="a failure to schedule a retry")
    q.add("svc")
    assert not q.busy  # coalesced into the scheduled retry: nothing queued, nothing running
    await asyncio.wait_for(q.wait_idle(), 1)
    assert calls == 1
    q.add("svc", force=True)
    await asyncio.wait_for(q.wait_idle(), 1)
    assert calls == 2
    await q.stop(1)


async def test_a_handler_asks_to_look_again_later_without_counting_a_failure() -> None:
    calls = 0

    async def handle(key: str) -> float | None:
        nonlocal calls
        calls += 1
        return 0.02 if calls == 1 else None

    q = WorkQueue(handle, workers=1, backoff=Backoff(10.0, 30.0))
    q.start()
    q.add("svc")
    await wait_for(lambda: calls >= 2, within=20, message="the run the handler asked for")
    assert q.failures("svc") == 0
    await q.stop(1)


async def test_stop_lets_running_work_finish_then_cancels_it_after_the_timeout() -> None:
    started: list[str] = []
    finished: list[str] = []
    cancelled: list[str] = []

    async def handle(key: str) -> None:
        started.append(key)
        try:
            if key == "quick":
                await asyncio.sleep(0.05)  # work that ends within the stop timeout
            else:
                await asyncio.Event().wait()  # work that never ends
            finished.append(key)
        except asyncio.CancelledError:
            cancelled.append(key)
            raise

    q = WorkQueue(handle, workers=2, backoff=Backoff(0.01, 0.05))
    q.start()
    q.add("quick")
    q.add("stuck")
    await wait_for(lambda: len(started) == 2, within=5, message="both keys to start")
    await q.stop(0.2)
    assert finished == ["quick"]
    assert cancelled == ["stuck"]
    q.add("after-stop")
    assert not q.busy


async def test_retry_now_runs_keys_waiting_for_their_backoff_at_once() -> None:
    calls: list[str] = []

    async def handle(key: str) -> None:
        calls.append(key)
        if calls.count(key) == 1:
            raise Error(UNAVAILABLE, "down")

    q = WorkQueue(handle, workers=2, backoff=Backoff(30.0, 30.0))
    q.start()
    q.add("a")
    q.add("b")
    await wait_for(lambda: q.failures("a") == 1 and q.failures("b") == 1, within=20, message="a failure of each key")
    q.retry_now()
    await asyncio.wait_for(q.wait_idle(), 1)
    assert sorted(calls) == ["a", "a", "b", "b"]
    await q.stop(1)


async def test_keys_waiting_for_a_retry_run_in_the_order_they_are_due() -> None:
    """Many keys wait at once (every service while the engine is away): each runs again after its
    own delay, soonest first, and none is left waiting."""
    order: list[str] = []
    seen: set[str] = set()
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def handle(key: str) -> float | None:
        if key in seen:
            order.append(key)
            return None
        seen.add(key)
        # Due at a fixed time from the start, the last key added first.
        return max(0.0, start + 2.0 - 0.005 * int(key) - loop.time())

    q = WorkQueue(handle, workers=4, backoff=Backoff(10.0, 30.0))
    q.start()
    for i in range(200):
        q.add(str(i))
    await wait_for(lambda: len(order) == 200, within=30, message="every key's second run")
    assert order == [str(i) for i in reversed(range(200))]
    assert q.waiting == 0
    await q.stop(1)


async def test_a_sooner_retry_replaces_a_later_one_and_a_later_one_never_postpones() -> None:
    calls = 0

    async def handle(key: str) -> float | None:
        nonlocal calls
        calls += 1
        return 60.0 if calls == 1 else None

    q = WorkQueue(handle, workers=1, backoff=Backoff(10.0, 30.0))
    q.start()
    q.add("svc")
    await wait_for(lambda: q.waiting == 1, within=20, message="the run in a minute to be scheduled")
    q.add_after("svc", 3600)  # later: ignored
    q.add_after("svc", 0.01)  # sooner: replaces it
    await wait_for(lambda: calls == 2, within=20, message="the sooner run")
    assert q.waiting == 0
    await q.stop(1)


async def test_holding_a_key_lock_keeps_the_worker_out_until_it_is_released() -> None:
    ran = asyncio.Event()

    async def handle(key: str) -> None:
        ran.set()

    q = WorkQueue(handle, workers=1, backoff=Backoff(10.0, 30.0))
    q.start()

    async def hold_then_fail() -> None:
        async with q.lock("svc"):
            q.add("svc")
            for _ in range(3):  # yield to the worker, which takes the key and waits for the lock
                await asyncio.sleep(0)
            assert not ran.is_set()
            raise RuntimeError("a failure inside the lock releases it")

    with pytest.raises(RuntimeError):
        await hold_then_fail()
    await asyncio.wait_for(ran.wait(), 5)
    async with q.lock("svc"):  # free again, and usable again
        pass
    await q.stop(1)
