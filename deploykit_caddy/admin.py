"""``AdminClient``: Caddy's admin API (plain HTTP/1.1 on a Unix socket or a loopback port) over
aiohttp.

aiohttp and not httpx: the daemon loads aiohttp anyway (aiodocker talks to Docker with it), and a
second HTTP stack only for Caddy cost an idle daemon about 5 MB resident (httpx imports rich and
click for its command line). One session per client keeps its connection alive between calls.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

UNIX_PREFIX = "unix://"


class AdminUnreachable(Exception):
    """The call got no answer: no connection, a connection that broke, or no answer in time."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(frozen=True)
class AdminResponse:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` when it is not."""
        return json.loads(self.content)


class AdminClient:
    """A client of an admin endpoint given as ``http://host:port`` or ``unix:///path/admin.sock``.
    Caddy accepts an empty Host on a socket that sets no ``origins``, and checks the Host against
    the listen address on TCP (aiohttp sends exactly that).

    The admin API is plain HTTP, so the client gets a TLS context without any CA loaded: an
    ``https://`` admin URL fails verification instead of being trusted blindly."""

    def __init__(self, admin_url: str, timeout_s: float) -> None:
        self.admin_url = admin_url
        self.timeout_s = timeout_s
        self.on_request: list[Callable[[str, str], None]] = []
        """Called with (method, path) before each request (tests record the calls made)."""
        self._session: aiohttp.ClientSession | None = None
        if admin_url.startswith(UNIX_PREFIX):
            self._socket: str | None = admin_url[len(UNIX_PREFIX) :]
            self._base = "http://caddy-admin"
            self._headers = {"Host": ""}
        else:
            self._socket = None
            self._base = admin_url.rstrip("/")
            self._headers = {}

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:  # made in the running loop, on first use
            connector: aiohttp.BaseConnector
            if self._socket is not None:
                connector = aiohttp.UnixConnector(path=self._socket)
            else:
                connector = aiohttp.TCPConnector(ssl=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self._headers, timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        return self._session

    async def request(
        self, method: str, path: str, body: Any = None, *, timeout_s: float | None = None
    ) -> AdminResponse:
        """One call; ``body`` (when not None) is sent as JSON. Raises ``AdminUnreachable``."""
        for hook in self.on_request:
            hook(method, path)
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        # No ``timeout=None`` to aiohttp: that would mean no timeout, not the session's.
        options: dict[str, Any] = {"timeout": aiohttp.ClientTimeout(total=timeout_s)} if timeout_s is not None else {}
        try:
            async with self._http().request(
                method, self._base + path, data=data, headers=headers, **options
            ) as response:
                return AdminResponse(response.status, await response.read())
        except TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
            raise AdminUnreachable(f"{method} {path}: no answer in time", timed_out=True) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise AdminUnreachable(f"{method} {path}: {exc or type(exc).__name__}", timed_out=False) from exc

    async def get(self, path: str, *, timeout_s: float | None = None) -> AdminResponse:
        return await self.request("GET", path, timeout_s=timeout_s)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def admin_client(admin_url: str, timeout_s: float) -> AdminClient:
    """The client of ``admin_url`` (see ``AdminClient``)."""
    return AdminClient(admin_url, timeout_s)
