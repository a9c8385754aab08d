"""A keeper port on each project network's Linux bridge, so that the bridge never loses its carrier.

A project whose only container dies (a crash, someone's ``docker kill``) leaves its network's
bridge with no port: the kernel turns the bridge NO-CARRIER and drops what the host sends into it.
Its replacement's port brings the carrier back, but the host's first packets to it (an ARP request
from Caddy's or the health probe's first connection) can be lost meanwhile, and the kernel tries
again only after its one-second retransmit time: measured here, about half of such repairs
answered 0.8-0.9 s late (``bench/drift_repair``; none with a keeper).

The keeper is a veth pair in the host's namespace, one end a port of the bridge, the other end up
and idle: a link with carrier, so the bridge keeps its own. It is inert: the bridge neither learns
from nor floods to that port, and neither end speaks ARP or has an IPv6 address, so nothing ever
crosses it. It costs two network devices and no process (a keeper container would cost a
containerd shim, ~7 MB, per project).

Only where the engine's bridge is a device of this host (``/sys/class/net``): an engine on another
host or in another network namespace is left alone. Creating it needs CAP_NET_ADMIN; without it
(or without iproute2's ``ip``) DeployKit says so once and runs as before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SYS_NET = Path("/sys/class/net")
PORT_PREFIX = "dkk"
PEER_PREFIX = "dkp"
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"


def bridge_of(network: dict[str, Any]) -> str | None:
    """The Linux bridge of a Docker ``bridge`` network (as the engine lists it); None otherwise."""
    if network.get("Driver") != "bridge" or not network.get("Id"):
        return None
    named = (network.get("Options") or {}).get(BRIDGE_NAME_OPTION)
    return str(named) if named else f"br-{str(network['Id'])[:12]}"


def keeper_names(network_id: str) -> tuple[str, str]:
    """The keeper's bridge port and its peer: 15 characters each, the kernel's limit."""
    return f"{PORT_PREFIX}{network_id[:12]}", f"{PEER_PREFIX}{network_id[:12]}"


class BridgeKeepers:
    """Puts (``ensure``) and takes (``remove``) the keeper of a network's bridge."""

    def __init__(self, *, sys_net: Path = SYS_NET, ip: str | None = None) -> None:
        self._sys = sys_net
        self._ip = ip or shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin")
        self._warned = False

    def kept(self, network_id: str, bridge: str) -> bool:
        """The network's keeper is a port of ``bridge``."""
        port, _ = keeper_names(network_id)
        try:
            return os.path.basename(os.readlink(self._sys / port / "master")) == bridge
        except OSError:
            return False

    async def ensure(self, network_id: str, bridge: str) -> bool:
        """Give ``bridge`` its keeper (again: a reboot or the engine's recreating the bridge loses
        it). True when the keeper is in place; False when the bridge is not on this host or the
        keeper could not be made (said once)."""
        if not (self._sys / bridge).exists():
            return False
        if self.kept(network_id, bridge):
            return True
        port, peer = keeper_names(network_id)
        # A leftover of that name is no port of this bridge (the bridge was recreated): it goes.
        commands = [f"link del {port}"] if (self._sys / port).exists() else []
        commands += [
            # A port of the bridge from the start: never an orphan to another instance's sweep.
            f"link add {port} master {bridge} type veth peer name {peer}",
            # Silent before it is up: no ARP, no IPv6 link-local address (no neighbour discovery).
            f"link set {port} arp off addrgenmode none",
            f"link set {peer} arp off addrgenmode none",
            f"link set {port} type bridge_slave learning off flood off mcast_flood off bcast_flood off mcast_router 0",
            f"link set {peer} up",
            f"link set {port} up",
        ]
        error = await self._run(commands)
        if self.kept(network_id, bridge):
            return True
        self._warn(f"no keeper port on bridge {bridge}: {error or 'it did not appear'}")
        return False

    async def remove(self, network_id: str) -> None:
        """Delete the network's keeper (both ends), and any keeper whose bridge is gone (its
        network removed behind DeployKit's back, ``docker network rm``)."""
        port, _ = keeper_names(network_id)
        doomed = [port] if (self._sys / port).exists() else []
        doomed += [p for p in self.orphans() if p != port]
        if not doomed:
            return
        error = await self._run([f"link del {p}" for p in doomed])
        if (self._sys / port).exists():
            self._warn(f"the keeper port {port} stayed: {error}")

    def orphans(self) -> list[str]:
        """Keeper ports that are no bridge's port."""
        try:
            names = os.listdir(self._sys)
        except OSError:
            return []
        return sorted(n for n in names if n.startswith(PORT_PREFIX) and not (self._sys / n / "master").exists())

    async def _run(self, commands: list[str]) -> str:
        """``ip -force -batch -``: every command is tried; the errors' text ('' when none)."""
        if self._ip is None:
            return "iproute2's ip command is not installed"
        try:
            proc = await asyncio.create_subprocess_exec(
                self._ip, "-force", "-batch", "-",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except OSError as exc:
            return str(exc)
        _, err = await proc.communicate("\n".join(commands).encode() + b"\n")
        return err.decode(errors="replace").strip()

    def _warn(self, message: str) -> None:
        if self._warned:
            log.debug("%s", message)
            return
        self._warned = True
        log.warning(
            "%s; a project whose only container is replaced may not answer for up to a second "
            "(the daemon needs CAP_NET_ADMIN and iproute2 for the keeper)",
            message,
        )
