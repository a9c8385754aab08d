"""Two things the daemon's libraries do at import time that it has no use for, each costing resident
memory in every daemon (issue 18). ``deploykitd/__init__`` calls ``apply()`` before anything of the
daemon imports aiohttp; nothing happens when aiohttp is already loaded (a test process, say).

- aiohttp creates its two default TLS client contexts when ``aiohttp.connector`` is imported, and
  each one parses the system's CA bundle (~2 MB resident together). The daemon speaks plain HTTP
  through aiohttp (Docker and Caddy's admin API on Unix sockets; a Docker engine over TLS gets a
  context of aiodocker's own), so the bundle is loaded into those same two contexts the first time
  aiohttp hands one to a connection instead: what they verify is unchanged, only when it is read.
- frozenlist's compiled extension links the C++ runtime (~1 MB resident for a list that aiohttp's
  signals keep); its pure-Python ``FrozenList`` behaves the same.
"""

from __future__ import annotations

import os
import ssl
import sys
from typing import Any


def apply() -> None:
    if "aiohttp.connector" in sys.modules or "frozenlist" in sys.modules:
        return
    _pure_python_frozenlist()
    _defer_default_tls_trust()


def _pure_python_frozenlist() -> None:
    had = "FROZENLIST_NO_EXTENSIONS" in os.environ
    os.environ.setdefault("FROZENLIST_NO_EXTENSIONS", "1")
    try:
        import frozenlist  # noqa: F401
    finally:
        if not had:  # read once at import; the daemon's children do not inherit it
            del os.environ["FROZENLIST_NO_EXTENSIONS"]


def _defer_default_tls_trust() -> None:
    deferred: list[ssl.SSLContext] = []

    def defer(self: ssl.SSLContext) -> None:
        deferred.append(self)

    own = ssl.SSLContext.__dict__.get("set_default_verify_paths")  # None: the C method of _ssl._SSLContext
    ssl.SSLContext.set_default_verify_paths = defer  # type: ignore[method-assign]
    try:
        import aiohttp.connector
    finally:
        if own is None:
            del ssl.SSLContext.set_default_verify_paths
        else:
            ssl.SSLContext.set_default_verify_paths = own  # type: ignore[method-assign]
    if not deferred:
        return
    connector: Any = aiohttp.connector.TCPConnector
    get_ssl_context = getattr(connector, "_get_ssl_context", None)
    if get_ssl_context is None:  # an aiohttp without it: load now, as aiohttp itself would have
        for context in deferred:
            context.set_default_verify_paths()
        return

    def with_trust(self: Any, req: Any) -> Any:
        context = get_ssl_context(self, req)
        if deferred and any(context is d for d in deferred):
            for d in deferred:
                d.set_default_verify_paths()
            deferred.clear()
        return context

    connector._get_ssl_context = with_trust
