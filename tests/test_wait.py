"""The one polling helper: returns what the check found, retries what counts as "not yet", stops at
once on anything else, and fails at the deadline saying what it waited for."""

from __future__ import annotations

import itertools

import pytest

from tests.wait import wait_for, wait_for_sync


async def test_wait_for_returns_the_first_truthy_value_of_a_sync_check() -> None:
    count = itertools.count()
    assert await wait_for(lambda: next(count) >= 3 and "ready", within=5, interval=0, message="three calls") == "ready"


async def test_wait_for_awaits_an_async_check() -> None:
    count = itertools.count()

    async def check() -> int | None:
        n = next(count)
        return n if n >= 2 else None

    assert await wait_for(check, within=5, interval=0, message="two calls") == 2


async def test_wait_for_retries_an_assertion_and_propagates_anything_else() -> None:
    count = itertools.count()

    def flaky() -> bool:
        assert next(count) >= 2, "not yet"
        return True

    def broken() -> bool:
        raise RuntimeError("the process exited")

    assert await wait_for(flaky, within=5, interval=0, message="flaky") is True
    with pytest.raises(RuntimeError, match="the process exited"):
        await wait_for(broken, within=5, interval=0, message="broken")


async def test_wait_for_fails_at_the_deadline_with_the_message_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0 s waiting for the moon \(last: 0\)"):
        await wait_for(lambda: 0, within=0, message="the moon")


def test_wait_for_sync_behaves_the_same() -> None:
    count = itertools.count()

    def flaky() -> int:
        n = next(count)
        if n < 2:
            raise ConnectionError("refused")
        return n

    assert wait_for_sync(flaky, within=5, interval=0, message="a daemon", retry_on=(ConnectionError,)) == 2

    def refused() -> int:
        raise ConnectionRefusedError("no")

    with pytest.raises(AssertionError, match=r"waiting for nothing \(last: ConnectionRefusedError\('no'\)\)"):
        wait_for_sync(refused, within=0, message="nothing", retry_on=(OSError,))
