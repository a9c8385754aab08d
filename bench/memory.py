"""Resident memory of an idle daemon (no Caddy, Docker unreachable) with an empty store and after
seeding 100 projects x 10 services, beside the floor: a bare Python process that imports the same
third-party packages. Goal (issue 18): <= 60 MB with 100 x 10, and <= 1.25x the floor. Prints
figures; never asserts.

Two floors are printed. The first imports each package by its top-level name, which for lazily
loading packages (pydantic, starlette, httpx...) loads only their ``__init__``. The second imports
every third-party module the daemon itself has loaded once it is open, which is what "the same
packages" costs; the ratio is taken against that one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import NO_DOCKER, register, rss_mb, seed, server

PROJECTS = 100
SERVICES = 10
THIRD_PARTY = [
    "aiosqlite",
    "aiodocker",
    "aiohttp",
    "starlette",
    "uvicorn",
    "pydantic",
    "bcrypt",
    "psutil",
    "websockets",
]
FLOOR_SCRIPT = (
    "import "
    + ", ".join(THIRD_PARTY)
    + "; import sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"
)


OURS = frozenset(
    {
        "deploykit",
        "deploykit_sqlite",
        "deploykit_docker",
        "deploykit_events",
        "deploykit_reconciler",
        "deploykit_sysinfo",
        "deploykit_caddy",
        "deploykit_http",
        "deploykitd",
        "bench",
    }
)


def _list_third_party(data_dir: str) -> None:
    """Print the third-party modules an opened daemon has loaded (run in a process of its own)."""
    import sysconfig

    from deploykitd.config import Config
    from deploykitd.main import Main

    async def open_and_list() -> list[str]:
        main = Main(
            Config(
                addr="127.0.0.1:0", data_dir=Path(data_dir), docker_host=NO_DOCKER, log_level="error", keep_caddy=False
            )
        )
        await main.open()
        try:
            roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
            return sorted(
                name
                for name, module in list(sys.modules.items())
                if name.split(".")[0] not in OURS
                and any(str(getattr(module, "__file__", None) or "").startswith(r) for r in roots)
            )
        finally:
            await main.close()

    print("\n".join(asyncio.run(open_and_list())))


def third_party_modules() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, __file__, "list-third-party", tmp], capture_output=True, text=True, timeout=120, check=True
        )
    return out.stdout.split()


def floor_mb(modules: list[str] | None = None) -> float:
    script = FLOOR_SCRIPT
    if modules is not None:
        script = (
            "import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except Exception:\n"
            "        pass\n"
            "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()\n"
        )
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        return rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def idle_rss(pid: int, settle_s: float = 3.0) -> float:
    """The daemon's RSS once it has been quiet for a moment (sampled until it stops growing)."""
    last, samples = rss_mb(pid), []
    end = time.monotonic() + settle_s
    while time.monotonic() < end:
        time.sleep(0.25)
        samples.append(rss_mb(pid))
    return max(last, *samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as srv:
        empty = idle_rss(srv.proc.pid)
        token = register(srv.base)
        t0 = time.monotonic()
        asyncio.run(seed(srv.base, token, PROJECTS, SERVICES))
        seeded_s = time.monotonic() - t0
        daemon = idle_rss(srv.proc.pid)
    packages = floor_mb()
    modules = third_party_modules()
    floor = floor_mb(modules)
    print(f"seeded {PROJECTS} projects x {SERVICES} services in {seeded_s:.1f} s (Docker unreachable)")
    print(f"floor, top-level packages only:  {packages:6.1f} MB")
    print(f"floor, the daemon's {len(modules)} third-party modules: {floor:6.1f} MB")
    print(f"{'':34s}{'daemon':>9s}{'floor':>9s}{'ratio':>7s}   goal")
    print(f"{'idle, empty store':34s}{empty:6.1f} MB{floor:6.1f} MB{empty / floor:7.2f}   -")
    print(
        f"{'idle, 100 x 10 services':34s}{daemon:6.1f} MB{floor:6.1f} MB{daemon / floor:7.2f}   <= 60 MB, ratio <= 1.25"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["list-third-party"]:
        _list_third_party(sys.argv[2])
    else:
        main()
