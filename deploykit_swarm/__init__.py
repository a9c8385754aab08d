"""Docker Swarm runtime adapter (aiodocker): the same ``Runtime`` and ``LogStreamer`` as
``deploykit_docker``, on a swarm manager (``deploykitd --runtime swarm``).

Construct and open it in the composition root::

    engine = DockerRuntime(url)                # the local engine: volumes, images, stats
    swarm = SwarmRuntime(engine, url)          # no I/O yet
    await swarm.open()
    await swarm.require_manager()              # Error(invalid) with the fix when not a manager
    ...
    await swarm.close()

How replicas, networks, ingress and volumes map onto Swarm: see ``deploykit_swarm.runtime``.
"""

from deploykit_swarm.runtime import SwarmRuntime, SwarmSettings

__all__ = ["SwarmRuntime", "SwarmSettings"]
