"""Docker runtime adapter (aiodocker): networks, volumes, containers, images, logs, stats, probes.

Construct and open it in the composition root::

    runtime = DockerRuntime(url=None)          # DOCKER_HOST or the local socket; no I/O yet
    await runtime.open()                       # never fails because the engine is down
    ...                                        # Runtime + LogStreamer (+ info/version/disk_usage)
    await runtime.close()

    probe = SocketHealthProbe()                # HealthProbe: HTTP GET or TCP connect, no I/O to build

Engine failures surface as ``deploykit.Error``: 404 ``not_found``, 409 ``conflict``, an engine
that does not answer ``unavailable``.
"""

from deploykit_docker.probe import SocketHealthProbe
from deploykit_docker.runtime import DockerRuntime, DockerSettings

__all__ = ["DockerRuntime", "DockerSettings", "SocketHealthProbe"]
