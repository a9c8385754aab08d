"""Three things the daemon's libraries do at import time that it has no use for, each costing resident
memory in every daemon (issue 18). ``deploykitd/__init__`` calls ``apply()`` before anything of the
daemon imports aiohttp; nothing happens when aiohttp is already loaded (a test process, say).

- aiohttp creates its two default TLS client contexts when ``aiohttp.connector`` is imported, and
  each one parses the system's CA bundle (~2 MB resident together). The daemon speaks plain HTTP
  through aiohttp (Docker and Caddy's admin API on Unix sockets; a Docker engine over TLS gets a
  context of aiodocker's own), so the bundle is loaded into those same two contexts the first time
  aiohttp hands one to a connection instead: what they verify is unchanged, only when it is read.
- frozenlist's compiled extension links the C++ runtime (~1 MB resident for a list that aiohttp's
  signals keep); its pure-Python ``FrozenList`` behaves the same.
- ``import uvicorn`` loads its command line (``uvicorn.main``: click, and multiprocessing for its
  worker supervisors), ~1.5 MB resident the daemon never uses: it runs ``uvicorn.Server`` itself.
  ``uvicorn.main`` and ``uvicorn.run`` stay usable and load the real command line when called; a
  later ``import uvicorn.main`` imports the real module (and, as Python does for a submodule
  imported after its package, makes it the package's ``main``).
"""

from __future__ import annotations

import importlib
import os
import ssl
import sys
import types
from typing import Any


def apply() -> None:
    if "uvicorn" not in sys.modules:
        _uvicorn_without_its_command_line()
    if "aiohttp.connector" in sys.modules or "frozenlist" in sys.modules:
        return
    _pure_python_frozenlist()
    _defer_default_tls_trust()


def _uvicorn_without_its_command_line() -> None:
    """``uvicorn/__init__`` does ``from uvicorn.main import Server, main, run``: while it runs,
    ``uvicorn.main`` is a stand-in whose ``Server`` is ``uvicorn.server.Server`` (what the real
    module re-exports) and whose ``main``/``run`` load the real module when called."""

    def real() -> Any:
        package: Any = sys.modules["uvicorn"]
        if sys.modules.get("uvicorn.main") is stand_in:
            del sys.modules["uvicorn.main"]
        module = importlib.import_module("uvicorn.main")
        package.main, package.run = main, run  # the import set the package's ``main`` to the module
        return module

    def main(*args: Any, **kwargs: Any) -> Any:
        return real().main(*args, **kwargs)

    def run(*args: Any, **kwargs: Any) -> Any:
        return real().run(*args, **kwargs)

    def server(name: str) -> Any:
        if name == "Server":
            return importlib.import_module("uvicorn.server").Server
        raise AttributeError(name)

    stand_in = types.ModuleType("uvicorn.main")
    stand_in.main, stand_in.run = main, run  # type: ignore[attr-defined]
    stand_in.__getattr__ = server  # type: ignore[method-assign]
    sys.modules["uvicorn.main"] = stand_in
    try:
        import uvicorn
    except ImportError:  # a uvicorn laid out otherwise: import it as it is
        sys.modules.pop("uvicorn.main", None)
        import uvicorn  # noqa: F401
    finally:
        if sys.modules.get("uvicorn.main") is stand_in:
            del sys.modules["uvicorn.main"]


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
