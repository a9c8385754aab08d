"""Build pipeline benchmark: clone + build + run-to-first-200 through DeployKit's DockerBuilder, beside
the same steps by hand (`git clone`, `docker build`, `docker run`, first 200). Prints figures; never
passes or fails on time.

    .venv/bin/python bench/build_pipeline.py [--runs 5] [--image deploykit-test/busybox:latest]

Every run commits a new index.html first (as a push would), so the COPY step is never cached; the
FROM layer is. Runs of the two paths alternate (and which goes first alternates) so that drift in the
engine hits both alike, and each run's container and image are removed before the next run. The
container start and the wait for the first 200 are the same code on both paths.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploykit.build import BuildRequest
from deploykit.service import GitSource
from deploykit_docker.builder import DockerBuilder

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


async def sh(*args: str, cwd: Path | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=cwd, env=GIT_ENV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {err.decode().strip()}")
    return out.decode()


async def first_200(port: int, expected: str, deadline_s: float = 30.0) -> None:
    """Poll http://127.0.0.1:port/ every 10 ms until it answers 200 with ``expected``."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
            await writer.drain()
            response = await reader.read()
            writer.close()
            status = response.split(b"\r\n", 1)[0]
            if status.startswith(b"HTTP/1.") and b" 200 " in status and expected.encode() in response:
                return
        except OSError:
            pass
        await asyncio.sleep(0.01)
    raise RuntimeError(f"no 200 on port {port} within {deadline_s} s")


async def run_and_wait(tag: str, expected: str, containers: list[str]) -> None:
    cid = (await sh("docker", "run", "-d", "-p", "127.0.0.1::8080", tag)).strip()
    containers.append(cid)
    port = int((await sh("docker", "port", cid, "8080/tcp")).split()[0].rsplit(":", 1)[1])
    await first_200(port, expected)


async def by_builder(builder: DockerBuilder, repo: Path, content: str, containers: list[str]) -> tuple[float, float]:
    tag = f"deploykit/bench-pipeline:{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    req = BuildRequest(deployment_id=str(uuid.uuid4()), source=GitSource(repo_url=f"file://{repo}"), tag=tag)
    await builder.build(req, lambda _: None)
    built = time.perf_counter()
    await run_and_wait(tag, content, containers)
    return built - started, time.perf_counter() - started


async def by_hand(work: Path, repo: Path, content: str, containers: list[str]) -> tuple[float, float]:
    tag = f"deploykit/bench-pipeline:{uuid.uuid4().hex[:12]}"
    checkout = work / uuid.uuid4().hex
    started = time.perf_counter()
    await sh("git", "clone", "-q", "--depth", "1", "--branch", "main", f"file://{repo}", str(checkout))
    await sh("docker", "build", "-q", "-t", tag, str(checkout))
    built = time.perf_counter()
    await run_and_wait(tag, content, containers)
    total = time.perf_counter() - started
    shutil.rmtree(checkout)
    return built - started, total


def cleanup(containers: list[str]) -> None:
    if containers:
        subprocess.run(["docker", "rm", "-f", *containers], capture_output=True)
    tags = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "deploykit/bench-pipeline"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if tags:
        subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image", default=os.environ.get("DEPLOYKIT_TEST_IMAGE", "deploykit-test/busybox:latest"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dk-bench-build-") as tmp:
        work = Path(tmp)
        repo = work / "repo"
        await sh("git", "init", "-q", "-b", "main", str(repo))
        (repo / "Dockerfile").write_text(
            f"FROM {args.image}\nCOPY index.html /www/index.html\nEXPOSE 8080\n"
            'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
        )
        containers: list[str] = []
        results: dict[str, list[tuple[float, float]]] = {"builder": [], "by hand": []}
        try:
            async with DockerBuilder(work_dir=work / "builds") as builder:
                for i in range(args.runs):
                    order = ("by hand", "builder") if i % 2 == 0 else ("builder", "by hand")
                    for path in order:
                        content = f"run {i} {path} {uuid.uuid4().hex}\n"
                        (repo / "index.html").write_text(content)
                        await sh("git", "add", "-A", cwd=repo)
                        await sh("git", "commit", "-q", "-m", f"run {i}", cwd=repo)
                        if path == "builder":
                            results[path].append(await by_builder(builder, repo, content.strip(), containers))
                        else:
                            results[path].append(await by_hand(work, repo, content.strip(), containers))
                        await asyncio.to_thread(cleanup, containers)  # untimed: every run starts alike
                        containers.clear()
        finally:
            await asyncio.to_thread(cleanup, containers)

    builder_kind = "BuildKit" if os.environ.get("DOCKER_BUILDKIT") == "1" else "classic builder (CLI default here)"
    print(f"build pipeline: clone + build + run to first 200, {args.runs} runs each, docker build: {builder_kind}")
    for path, rows in results.items():
        builds = ", ".join(f"{b:.2f}" for b, _ in rows)
        totals = ", ".join(f"{t:.2f}" for _, t in rows)
        print(f"  {path:8}  clone+build s: [{builds}]  total s: [{totals}]")
    med = {p: (statistics.median(b for b, _ in r), statistics.median(t for _, t in r)) for p, r in results.items()}
    for path, (build, total) in med.items():
        print(f"  {path:8}  median clone+build {build:.3f} s, median total {total:.3f} s")
    print(
        f"  ratio builder / by hand: clone+build {med['builder'][0] / med['by hand'][0]:.2f}x, "
        f"total {med['builder'][1] / med['by hand'][1]:.2f}x"
    )


if __name__ == "__main__":
    asyncio.run(main())
