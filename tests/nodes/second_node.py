"""A second Docker engine on this machine, joined to the local swarm as a worker.

The engine runs in a network namespace of its own (``dk-node2``) with its own data-root,
exec-root, pidfile, socket and bridge, and its own hostname (a UTS namespace), so that to the
swarm it is another machine. A veth pair links it to the host:

    host  dkn2-h  198.18.77.1/24   <->   dkn2-n  198.18.77.2/24  (default route via the host)

The host reaches the node's net through ``dkn2-h`` with the manager's advertised address as the
source (``src``): VXLAN drops a packet whose outer source is not the address the sending node
advertised (the kernel's fdb entries are permanent, "don't migrate static entries"), and without
it the host would answer from 198.18.77.1 and overlay traffic from the manager would never
arrive. The engine is started with ``nsenter --net`` rather than ``ip netns exec``: the latter
remounts ``/sys`` in a new mount namespace, which hides the cgroup v1 hierarchies, and dockerd
then refuses to start ("Devices cgroup isn't mounted").

Everything is idempotent: leftovers of an interrupted run (the namespace, a dockerd from the
pidfile, a stale ``dk-node2`` entry in the swarm) are removed before starting.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.wait import wait_for_sync

ROOT = Path(__file__).resolve().parents[2]
NETNS = "dk-node2"
HOSTNAME = "dk-node2"
VETH_HOST, VETH_NODE = "dkn2-h", "dkn2-n"
BRIDGE = "dkn2-br0"
HOST_ADDR, NODE_ADDR, PREFIX = "198.18.77.1", "198.18.77.2", 24
NET = f"198.18.77.0/{PREFIX}"
BRIDGE_ADDR = "198.19.77.1/24"
"""The node's default bridge (plain containers on it); 198.18.0.0/15 is kept for benchmarks, so it
never collides with Docker's address pools nor the machine's own networks."""
BASE = Path("/tmp/dk-node2")


def run(*args: str, check: bool = True, timeout: float = 60, input: bytes | None = None) -> str:
    out = subprocess.run(list(args), capture_output=True, timeout=timeout, input=input)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({out.returncode}): {out.stderr.decode(errors='replace')}")
    return out.stdout.decode(errors="replace")


def problem() -> str | None:
    """Why a second node cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, a second dockerd)"
    for tool in ("ip", "dockerd", "nsenter", "unshare", "docker"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH"
    return None


def manager_address() -> str:
    """The address this engine advertises to the swarm; makes it a single-node swarm manager first
    when it is none (``scripts/ensure-swarm.sh``, idempotent)."""
    state = run("docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").strip()
    if state != "active true":
        run(str(ROOT / "scripts" / "ensure-swarm.sh"))
    return run("docker", "info", "--format", "{{.Swarm.NodeAddr}}").strip()


@dataclass
class SecondNode:
    dir: Path
    manager_addr: str
    node_id: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.dir / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def address(self) -> str:
        return NODE_ADDR

    @property
    def hostname(self) -> str:
        return HOSTNAME

    def docker(self, *args: str, check: bool = True, timeout: float = 60, input: bytes | None = None) -> str:
        """The docker CLI against the second engine."""
        return run("docker", "-H", self.host, *args, check=check, timeout=timeout, input=input)

    def engine_answers(self) -> bool:
        return subprocess.run(["docker", "-H", self.host, "version"], capture_output=True, timeout=10).returncode == 0

    # -- the engine -------------------------------------------------------------------------------

    def start_engine(self) -> None:
        """Start (or start again) the node's dockerd and wait until it answers."""
        for d in ("data", "exec"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        dockerd = " ".join(
            [
                "exec dockerd",
                f"--data-root {self.dir / 'data'}",
                f"--exec-root {self.dir / 'exec'}",
                f"--pidfile {self.dir / 'docker.pid'}",
                f"-H {self.host}",
                f"--bridge {BRIDGE}",
            ]
        )
        log = (self.dir / "dockerd.log").open("ab")
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{NETNS}", "unshare", "--uts", "sh", "-c", f"hostname {HOSTNAME}; {dockerd}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def answers() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the second dockerd exited ({self.proc.returncode}):\n{self.log_tail()}")
            return self.engine_answers()

        wait_for_sync(answers, within=60, interval=0.2, message="the second dockerd to answer")

    def stop_engine(self) -> None:
        """SIGTERM the node's dockerd (it stops its containers) and wait until it has exited."""
        pid = self._pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self.proc is not None:  # our child: reap it, or it lingers as a zombie
            self.proc.wait(timeout=60)
            self.proc = None
        if pid is not None:
            wait_for_sync(lambda: not _alive(pid), within=60, interval=0.2, message="the second dockerd to exit")

    def _pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.dir / "docker.pid").read_text().strip())
            return pid if _alive(pid) else None
        return None

    def log_tail(self, n: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.dir / "dockerd.log").read_text(errors="replace").splitlines()[-n:])
        return ""

    # -- the swarm --------------------------------------------------------------------------------

    def join(self) -> None:
        token = run("docker", "swarm", "join-token", "-q", "worker").strip()
        self.docker(
            "swarm",
            "join",
            "--token",
            token,
            "--advertise-addr",
            NODE_ADDR,
            "--listen-addr",
            f"{NODE_ADDR}:2377",
            f"{self.manager_addr}:2377",
        )
        self.node_id = self.docker("info", "--format", "{{.Swarm.NodeID}}").strip()
        wait_for_sync(
            lambda: self.manager_view()["Status"]["State"] == "ready",
            within=60,
            interval=0.2,
            message="the manager to see the second node ready",
        )

    def manager_view(self) -> dict[str, Any]:
        """``docker node inspect`` of this node, from the manager."""
        data: list[dict[str, Any]] = json.loads(run("docker", "node", "inspect", self.node_id))
        return data[0]

    def availability(self) -> str:
        return str(self.manager_view()["Spec"]["Availability"])

    def set_availability(self, availability: str) -> None:
        run("docker", "node", "update", "--availability", availability, self.node_id)

    def load_image(self, ref: str) -> None:
        """Copy an image of the local engine into this one (``docker save | docker load``)."""
        image = subprocess.run(["docker", "save", ref], capture_output=True, check=True, timeout=120).stdout
        self.docker("load", "-q", input=image, timeout=120)


def _alive(pid: int) -> bool:
    """Running (a zombie of someone else's is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _remove_stale_swarm_entries() -> None:
    """Entries of earlier runs' second node that the swarm still lists (down, or about to be)."""
    out = run("docker", "node", "ls", "--filter", f"name={HOSTNAME}", "--format", "{{.ID}} {{.Hostname}}", check=False)
    for line in out.splitlines():
        node_id, _, hostname = line.partition(" ")
        if hostname == HOSTNAME:
            run("docker", "node", "rm", "--force", node_id, check=False)


def _network_up(manager_addr: str) -> None:
    run("ip", "netns", "add", NETNS)
    run("ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NODE)
    run("ip", "link", "set", VETH_NODE, "netns", NETNS)
    run("ip", "addr", "add", f"{HOST_ADDR}/{PREFIX}", "dev", VETH_HOST)
    run("ip", "link", "set", VETH_HOST, "up")
    # The manager's advertised address as the source towards the node: see the module's docstring.
    run("ip", "route", "replace", NET, "dev", VETH_HOST, "src", manager_addr)
    ns = ("ip", "-n", NETNS)
    run(*ns, "link", "set", "lo", "up")
    run(*ns, "addr", "add", f"{NODE_ADDR}/{PREFIX}", "dev", VETH_NODE)
    run(*ns, "link", "set", VETH_NODE, "up")
    run(*ns, "route", "add", "default", "via", HOST_ADDR)
    run(*ns, "link", "add", BRIDGE, "type", "bridge")
    run(*ns, "addr", "add", BRIDGE_ADDR, "dev", BRIDGE)
    run(*ns, "link", "set", BRIDGE, "up")


def _teardown(node: SecondNode) -> None:
    """Leave the swarm, stop the engine, remove the namespace (the veth and bridge go with it)
    and the node's files. Safe on a half-made or already removed node."""
    if node.engine_answers():
        node.docker("swarm", "leave", "--force", check=False, timeout=30)
    node.stop_engine()
    _remove_stale_swarm_entries()
    if NETNS in run("ip", "netns", "list", check=False).split():
        run("ip", "netns", "del", NETNS, check=False)
    wait_for_sync(
        lambda: subprocess.run(["ip", "link", "show", VETH_HOST], capture_output=True).returncode != 0,
        within=30,
        interval=0.2,
        message=f"{VETH_HOST} to go with the namespace",
    )
    # dockerd unmounts its layers on a clean exit; whatever an unclean one left is unmounted here.
    for mount in reversed(_mounts_under(node.dir)):
        run("umount", "-l", mount, check=False)
    shutil.rmtree(node.dir, ignore_errors=True)


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/mounts") as f:
        return [m for m in (line.split()[1] for line in f) if m.startswith(str(path) + "/")]


@contextlib.contextmanager
def second_node(*, images: tuple[str, ...] = (), availability: str = "drain") -> Iterator[SecondNode]:
    """A second engine joined to the local swarm as a worker, with ``images`` copied into it and
    left at ``availability`` (drained by default: the swarm places nobody's tasks on it until a
    test activates it), torn down after."""
    manager_addr = manager_address()
    node = SecondNode(dir=BASE, manager_addr=manager_addr)
    _teardown(node)
    try:
        _network_up(manager_addr)
        node.start_engine()
        for ref in images:
            node.load_image(ref)
        node.join()
        node.set_availability(availability)
        yield node
    finally:
        _teardown(node)
