"""System introspection: host (psutil), Docker and database.

Construct it in the composition root (no I/O until asked)::

    system = SystemInfo(
        version=deploykit.__version__,
        docker=runtime,                 # anything with info()/version()/disk_usage(): DockerRuntime
        database_path=store.path,       # size includes the -wal and -shm files
        ingress=caddy,                  # optional; ping() only
    )
    about = await system.about()        # SystemService: never raises; a part that is down
    status = await system.status()      # reports {"reachable": False}

    sampler = MetricsSampler(runtime=runtime, store=store.metrics, clock=SystemClock(),
                             settings=MetricsSettings(interval_s=15))
    sampler.start()                     # a supervised task: samples, stores, rolls up
    await sampler.close()
"""

from deploykit_sysinfo.metrics import MetricsSampler, MetricsSettings
from deploykit_sysinfo.system import DockerIntrospection, SystemInfo

__all__ = ["DockerIntrospection", "MetricsSampler", "MetricsSettings", "SystemInfo"]
