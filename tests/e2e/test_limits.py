"""The login and request limits through the real daemon, tried as an attacker would."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.support import PASSWORD, UNSETTLED, Account, Daemon, register_admin, running
from tests.wait import wait_for_sync


def from_address(daemon: Daemon, address: str) -> httpx.Client:
    """A client whose connections come from another loopback address."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=f"{daemon.base}/api", transport=transport, timeout=30)


def guess(c: httpx.Client, email: str, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return c.post("/auth/login", json={"email": email, "password": "a wrong guess"}, headers=headers)


def test_parallel_guesses_are_counted_before_hashing_and_the_owner_still_signs_in_elsewhere(fresh_dir: Path) -> None:
    with running(fresh_dir) as d:
        admin = register_admin(d)
        with d.client() as c, ThreadPoolExecutor(41) as pool:
            statuses = Counter(pool.map(lambda _: guess(c, admin.email).status_code, range(41)))
            assert statuses[401] <= 5
            assert statuses[429] >= 36, statuses
            # The right password from the flooding address is refused too, until the window ends.
            limited = c.post("/auth/login", json={"email": admin.email, "password": PASSWORD})
            assert limited.status_code == 429
            assert limited.json() == {"error": "rate_limited", "message": "Too many failed logins; try again later."}
            assert 800 < int(limited.headers["retry-after"]) <= 900
        with from_address(d, "127.0.0.2") as elsewhere:
            r = elsewhere.post("/auth/login", json={"email": admin.email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
            assert elsewhere.get("/projects", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_forwarded_for_header_from_an_untrusted_peer_gives_no_fresh_address(fresh_dir: Path) -> None:
    with running(fresh_dir) as d:
        admin = register_admin(d)
        with d.client() as c:
            statuses = [guess(c, admin.email, f"198.51.100.{i}").status_code for i in range(6)]
        assert statuses == [401] * 5 + [429]


def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit(fresh_dir: Path) -> None:
    with running(fresh_dir, "--trusted-proxy", "10.9.9.9,127.0.0.1") as d:
        admin = register_admin(d)
        with d.client() as c:
            statuses = [guess(c, admin.email, "203.0.113.7").status_code for _ in range(6)]
            assert statuses == [401] * 5 + [429]
            owner = c.post(
                "/auth/login",
                json={"email": admin.email, "password": PASSWORD},
                headers={"X-Forwarded-For": "203.0.113.8"},
            )
            assert owner.status_code == 200, owner.text


def test_a_burst_of_400_requests_gets_429_with_retry_after_and_other_clients_are_served(fresh_dir: Path) -> None:
    with running(fresh_dir) as d:
        admin = register_admin(d)
        other = Account(d, admin.email, admin.user, {"access_token": _login(d, admin.email)})
        with admin.client() as c, ThreadPoolExecutor(8) as pool:
            c.post("/projects", json={"name": "Kept"})
            responses = list(pool.map(lambda _: c.get("/projects"), range(400)))
            statuses = Counter(r.status_code for r in responses)
            assert statuses[429] > 0, statuses
            assert set(statuses) == {200, 429}
            limited = next(r for r in responses if r.status_code == 429)
            assert limited.json() == {"error": "rate_limited", "message": "Too many requests; slow down."}
            assert int(limited.headers["retry-after"]) >= 1
            with other.client() as o:
                assert [p["name"] for p in o.get("/projects").json()["data"]] == ["Kept"]
            # The limited client is served again as soon as its bucket has a request in it.
            page = wait_for_sync(
                lambda: _served(c.get("/projects")), within=10, message="the bucket to refill", retry_on=UNSETTLED
            )
            assert [p["name"] for p in page["data"]] == ["Kept"]


def _served(r: httpx.Response) -> dict[str, Any] | None:
    return dict(r.json()) if r.status_code == 200 else None


def _login(d: Daemon, email: str) -> str:
    with d.client() as c:
        r = c.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])
