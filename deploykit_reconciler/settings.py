"""The reconciler's tunables, with the defaults a production daemon runs with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from deploykit.runtime import LABEL_INSTANCE


@dataclass(frozen=True, kw_only=True)
class ReconcilerSettings:
    interval_s: float = 30.0
    """Full resync period (``--reconcile-interval``). Events and triggers act at once regardless."""
    workers: int = 8
    """Services reconciled at the same time."""
    backoff_min_s: float = 1.0
    backoff_max_s: float = 30.0
    """A failing service is retried after 1, 2, 4 ... 30 s; a success resets it."""
    shutdown_timeout_s: float = 10.0
    """How long ``stop()`` lets running work finish before cancelling it."""
    min_ready_s: float = 3.0
    """Without a health check, a replica is ready after running this long without a restart."""
    readiness_poll_s: float = 0.1
    """How often the readiness gate looks at starting replicas (Docker events wake it sooner)."""
    readiness_timeout_s: float = 300.0
    """A deployment that is neither ready nor failed after this long fails."""
    bad_observations: int = 3
    """Consecutive bad observations (exited, restarted, check failing) that fail a deployment;
    a health check's own ``unhealthy_threshold`` takes precedence for failing checks."""
    stop_grace_s: float = 10.0
    """SIGTERM to SIGKILL when stopping a replica."""
    crash_window_s: float = 10.0
    """A replica restarted within this window is not yet counted as up."""
    log_tail_lines: int = 50
    """Log lines stored with a failed deployment."""
    pull_mutable_tags: bool = True
    """Re-pull ``:latest`` (and untagged) images when a deployment starts."""
    events_retry_s: float = 0.1
    """Pause before resubscribing to Docker events after the engine went away (doubling); the
    engine is pinged then (a refused connection costs next to nothing)."""
    engine_retry_max_s: float = 0.5
    """Ceiling for those pauses: how soon an engine that comes back (dockerd restart) is noticed
    and everything is looked at again."""
    resync_retry_max_s: float = 5.0
    """Ceiling for a failing resync's retries (an engine that comes back triggers one at once)."""
    drain_requires_ingress: bool = True
    """Old replicas get ``service.drain_s`` only when an ingress routed traffic to them."""
    health_concurrency: int = 32
    """Health probes of healthy deployments' replicas in flight at once (each replica is probed at
    its service's ``health_check.interval_s``; a slow one holds one slot, never the others)."""
    health_restart_wait_s: float = 30.0
    """How long a restart by the health monitor waits for the replica to run again."""
    health_retention_s: float = 24 * 3600.0
    """Stored probe results older than this are pruned."""
    health_prune_interval_s: float = 3600.0
    """How often old probe results are pruned."""
    instance_id: str | None = None
    """Labels everything this reconciler creates with ``deploykit.instance=<id>`` and makes it touch
    only objects carrying that label; None means objects without an instance label. Lets several
    installations (and test suites) share one engine."""

    def owns(self, labels: Mapping[str, str]) -> bool:
        return labels.get(LABEL_INSTANCE) == self.instance_id

    def instance_labels(self, labels: dict[str, str]) -> dict[str, str]:
        return labels if self.instance_id is None else {**labels, LABEL_INSTANCE: self.instance_id}
