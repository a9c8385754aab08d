"""The build adapters satisfy the domain Protocols that the reconciler, the HTTP adapter and the
composition root are typed against (checked by mypy --strict over the tests, and at run time here)."""

from __future__ import annotations

from pathlib import Path

from deploykit.build import Builder, BuildScheduler, DeployKeyGenerator, ImagePruner
from deploykit_docker.build_queue import BuildQueue
from deploykit_docker.builder import DockerBuilder
from deploykit_docker.keys import generate_deploy_key


def test_build_adapters_satisfy_the_domain_protocols(tmp_path: Path) -> None:
    builder = DockerBuilder(work_dir=tmp_path)  # no I/O until open()
    as_builder: Builder = builder
    as_pruner: ImagePruner = builder
    queue: BuildScheduler = BuildQueue(as_builder, max_concurrent=2)
    generate: DeployKeyGenerator = generate_deploy_key
    assert generate("svc").public_key.endswith(" svc")
    assert isinstance(queue, BuildQueue)
    assert as_pruner is builder
