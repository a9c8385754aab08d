"""Waiting in tests: poll a condition against a deadline, never sleep a fixed time and hope.

``wait_for`` (in a running event loop) and ``wait_for_sync`` (in plain threads: e2e tests driving
a daemon, benchmarks) call ``check`` until it returns something truthy and return that value, so
that a test can wait for a thing and use it. An exception listed in ``retry_on`` counts as "not
yet" (an assertion inside ``check`` by default); any other propagates at once, which is how a
check aborts the wait (say, when the process it waits on has exited). At the deadline the wait
fails with ``message`` and what ``check`` last returned or raised.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")

INTERVAL_S = 0.05
"""20 checks a second: quick enough for tests, and a check of two requests stays within the
daemon's per-client request rate (50 a second), so polling never runs a test out of requests."""

NOT_YET: tuple[type[Exception], ...] = (AssertionError,)


@overload
async def wait_for(
    check: Callable[[], Awaitable[T | None]],
    *,
    within: float,
    message: str,
    interval: float = INTERVAL_S,
    retry_on: tuple[type[Exception], ...] = NOT_YET,
) -> T: ...


@overload
async def wait_for(
    check: Callable[[], T | None],
    *,
    within: float,
    message: str,
    interval: float = INTERVAL_S,
    retry_on: tuple[type[Exception], ...] = NOT_YET,
) -> T: ...


async def wait_for(
    check: Callable[[], object],
    *,
    within: float,
    message: str,
    interval: float = INTERVAL_S,
    retry_on: tuple[type[Exception], ...] = NOT_YET,
) -> object:
    """Await ``check`` (sync or async) until it returns something truthy; return that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            value = check()
            if inspect.isawaitable(value):
                value = await value
        except retry_on as exc:
            value = exc
        else:
            if value:
                return value
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {message} (last: {value!r})")
        await asyncio.sleep(interval)


def wait_for_sync(
    check: Callable[[], T | None],
    *,
    within: float,
    message: str,
    interval: float = INTERVAL_S,
    retry_on: tuple[type[Exception], ...] = NOT_YET,
) -> T:
    """Call ``check`` until it returns something truthy; return that. For code without an event
    loop; in a coroutine use ``wait_for``, which lets other tasks run between checks."""
    deadline = time.monotonic() + within
    while True:
        last: object
        try:
            value = check()
        except retry_on as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {message} (last: {last!r})")
        time.sleep(interval)
