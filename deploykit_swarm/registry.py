"""Built images for a multi-node swarm: pushed to a registry every node pulls from.

On one engine a git build's image is used where it was built. On a swarm a task may be placed on
any node, and each node pulls the service's image itself, so ``deploykitd --runtime swarm
--registry host:port`` wraps the builder in ``RegistryBuilder``: after a build the image is tagged
into the registry and pushed, and the deployment records the pushed reference *by digest*
(``host:port/deploykit/shop-api@sha256:...``), which every node resolves to the very same image.

The registry is any Docker registry (Debian's ``docker-registry`` package is the CNCF
distribution registry). Every engine must trust it: loopback addresses are trusted over plain
HTTP; any other address needs TLS with its CA in ``/etc/docker/certs.d/<host:port>/ca.crt`` on
each node, or the address in each engine's ``insecure-registries`` (see docs/scale-out.md).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from deploykit.build import Builder, BuildRequest, BuildResult
from deploykit.errors import INVALID, UNAVAILABLE, Error
from deploykit_swarm.errors import CONNECT_FAILED, translate

_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "dial tcp", "timeout", "no route to host")


def parse_registry(value: str) -> str:
    """``host:port`` (or ``host``) of a registry, as given to ``--registry``. Raises ``invalid``."""
    value = value.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    if not _REGISTRY.match(value):
        raise Error(INVALID, f"--registry must be host:port (e.g. 10.0.0.5:5000), not {value!r}.")
    return value


def local_ref(ref: str, registry: str) -> str:
    """The local tag a pushed reference was made from: ``registry/`` and ``@digest`` taken off
    (a rollback rebuilds its recorded image into that tag)."""
    ref = ref.split("@", 1)[0]
    return ref.removeprefix(registry + "/")


def split_tag(ref: str) -> tuple[str, str]:
    """(repository, tag) of ``ref``; ``latest`` when it names none (a port is not a tag)."""
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return name, tag


class RegistryPusher:
    """Tags a local image into ``registry`` and pushes it from the engine at ``url``. No I/O in
    the constructor; ``open()`` builds the client."""

    def __init__(self, registry: str, url: str | None = None) -> None:
        self.registry = parse_registry(registry)
        self._url = url
        self._docker: aiodocker.Docker | None = None

    async def open(self) -> None:
        if self._docker is None:
            try:
                self._docker = aiodocker.Docker(url=self._url)
            except ValueError as exc:
                raise Error(UNAVAILABLE, "No Docker engine address is configured.") from exc

    async def close(self) -> None:
        docker, self._docker = self._docker, None
        if docker is not None:
            await docker.close()

    @property
    def _client(self) -> aiodocker.Docker:
        if self._docker is None:
            raise Error(UNAVAILABLE, "The registry client is not open.")
        return self._docker

    async def push(self, ref: str) -> str:
        """Push the local image ``ref``; answers ``registry/repository@sha256:...``. Raises
        ``unavailable`` (the engine or the registry does not answer: worth retrying),
        ``invalid`` (the registry refused it, or it is not trusted), ``not_found`` (no such image)."""
        repository, tag = split_tag(ref)
        target = f"{self.registry}/{repository}"
        try:
            await self._client.images.tag(ref, target, tag=tag)
            progress: list[dict[str, Any]] = await self._client.images.push(target, tag=tag)
        except DockerError as exc:
            raise self._refused(exc, target) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise translate(exc, f"image {ref}") from exc
        digests = [str(p["aux"]["Digest"]) for p in progress if isinstance(p.get("aux"), dict) and "Digest" in p["aux"]]
        if not digests:
            raise Error(UNAVAILABLE, f"The registry {self.registry} did not answer a digest for {target}:{tag}.")
        return f"{target}@{digests[-1]}"

    def _refused(self, exc: DockerError, target: str) -> Error:
        text = str(exc.message).strip()
        if exc.status in (404, CONNECT_FAILED):  # no such local image; the engine does not answer
            return translate(exc, f"image {target}")
        if any(s in text.lower() for s in _UNREACHABLE):
            return Error(UNAVAILABLE, f"The registry {self.registry} is not reachable: {text}")
        return Error(INVALID, f"Pushing {target} to the registry {self.registry} failed: {text}")


class RegistryBuilder(Builder):
    """A Builder whose images are pushed to a registry: the result names the pushed image by
    digest. Build errors are the wrapped builder's; push errors are ``RegistryPusher.push``'s."""

    def __init__(self, builder: Builder, pusher: RegistryPusher) -> None:
        self._builder = builder
        self._pusher = pusher

    async def build(self, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        local = dataclasses.replace(req, tag=local_ref(req.tag, self._pusher.registry))
        result = await self._builder.build(local, on_log)
        on_log(f"Pushing {result.image} to the registry {self._pusher.registry} ...")
        pushed = await self._pusher.push(result.image)
        on_log(f"Pushed {pushed}")
        return dataclasses.replace(result, image=pushed)
