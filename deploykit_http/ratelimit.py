"""How often a client may ask: the login limit and the general per-client request limit.

Both are in-process and forget everything on restart, which is what one daemon needs: they bound
what a single client can do to the server (guess passwords, or flood it), not a fleet.

The general limit is a token bucket rather than the ``limits`` library's fixed or moving windows:
a window that a burst has filled stays shut for the rest of the window, while a bucket lets a
client that slowed down back in after ``1 / rate`` seconds, which is what a UI that polls needs.
That bucket is a dozen lines; a dependency would add a background expiry thread for it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

from deploykit.clock import Clock
from deploykit.errors import RATE_LIMITED, Error

TOO_MANY_LOGINS = "Too many failed logins; try again later."
TOO_MANY_REQUESTS = "Too many requests; slow down."
MAX_KEYS = 100_000
"""Keys tracked at most; beyond that the oldest state is dropped (a flood of fresh keys must not
grow the daemon without bound)."""


@dataclass(frozen=True)
class LoginAttempt:
    """One login in progress, already counted as a failure until it is known to be otherwise."""

    limiter: LoginLimiter
    keys: tuple[str, ...]
    at: float

    def succeeded(self) -> None:
        """The password was right: the attempt is no failure, and earlier failures of this
        account from this address are forgiven."""
        self.abandoned()
        self.limiter._failures.pop(self.keys[0], None)

    def abandoned(self) -> None:
        """The attempt ended without checking a password (a server error): it does not count."""
        for key in self.keys:
            times = self.limiter._failures.get(key)
            if times is not None and self.at in times:
                times.remove(self.at)


@dataclass
class LoginLimiter:
    """Failed logins allowed in ``window``: ``per_account_address`` for one account from one
    client address, ``per_address`` from one address over all accounts (password spraying), and
    ``per_account`` for one account over all addresses (a distributed guess).

    ``attempt`` counts the attempt before the password is hashed, so that parallel guesses cannot
    all pass the check while the first ones are still hashing. A flood against one account from one
    address stops at ``per_account_address`` and leaves that account's owner free to sign in from
    another address; only ``per_account / per_account_address`` addresses together lock it."""

    clock: Clock
    per_account_address: int = 5
    per_address: int = 20
    per_account: int = 100
    window: timedelta = timedelta(minutes=15)
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def attempt(self, email: str, address: str) -> LoginAttempt:
        """Record a login attempt. Raises ``rate_limited`` (with ``retry_after``) when one of the
        limits is reached; the refused attempt is not recorded."""
        account = email.strip().lower()
        limits = (
            (f"account-address:{account}\n{address}", self.per_account_address),
            (f"address:{address}", self.per_address),
            (f"account:{account}", self.per_account),
        )
        now = self.clock.monotonic()
        for key, limit in limits:
            times = self._recent(key, now)
            if len(times) >= limit:
                retry = times[-limit] + self.window.total_seconds() - now
                raise Error(RATE_LIMITED, TOO_MANY_LOGINS, retry_after=retry)
        if len(self._failures) > MAX_KEYS:
            self._failures.clear()
        for key, _ in limits:
            self._failures.setdefault(key, deque()).append(now)
        return LoginAttempt(self, tuple(key for key, _ in limits), now)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        horizon = now - self.window.total_seconds()
        while times and times[0] <= horizon:
            times.popleft()
        return times


@dataclass
class RequestLimiter:
    """A token bucket per client: ``burst`` requests at once, refilled at ``rate`` per second.
    ``rate`` 0 turns the limit off."""

    clock: Clock
    rate: float = 50.0
    burst: float = 200.0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    """key -> (tokens left, when they were counted)."""

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str) -> None:
        """Spend one request of ``key``'s bucket. Raises ``rate_limited`` with the seconds until
        the next one is available."""
        if not self.enabled:
            return
        now = self.clock.monotonic()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            raise Error(RATE_LIMITED, TOO_MANY_REQUESTS, retry_after=(1 - tokens) / self.rate)
        if key not in self._buckets and len(self._buckets) >= MAX_KEYS:
            self._forget_full(now)
        self._buckets[key] = (tokens - 1, now)

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (they carry no state); if none has, all of them."""
        full = [k for k, (t, then) in self._buckets.items() if t + (now - then) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]
        if not full:
            self._buckets.clear()
