"""The control loop that converges actual state (Docker, ingress) towards desired state (the store).

Construct it in the composition root with domain Protocols only (no I/O in the constructor)::

    reconciler = Reconciler(
        runtime=runtime, logs=runtime, probe=SocketHealthProbe(),      # deploykit_docker
        projects=store.projects, services=store.services,              # deploykit_sqlite
        deployments=store.deployments, containers=store.containers,
        bus=bus,                                                       # deploykit_events (optional)
        ingress=caddy, domains=store.domains,                          # optional traffic switch
        builds=BuildQueue(DockerBuilder(work_dir=...)),                # optional: git sources
        deploy_keys=store.deploy_keys,
        health=store.health,                                           # optional: keep probe results
        settings=ReconcilerSettings(
            interval_s=config.reconcile_interval,
            instance_id=installation_id,   # labels what it creates; touches nothing of other installs
        ),
    )
    await reconciler.start()     # resync loop, Docker and store event listeners, workers,
                                 # and the health monitor of healthy deployments' replicas
    ...                          # trigger(), trigger_service(id), restart_service(id),
                                 # health_state(service_id) (the domain HealthMonitor Protocol)
    await reconciler.stop()      # timed drain of running work
"""

from deploykit_reconciler.health import HealthMonitor
from deploykit_reconciler.queue import Backoff, WorkQueue
from deploykit_reconciler.reconciler import Reconciler, ResyncReport
from deploykit_reconciler.settings import ReconcilerSettings

__all__ = ["Backoff", "HealthMonitor", "Reconciler", "ReconcilerSettings", "ResyncReport", "WorkQueue"]
