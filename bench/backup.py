"""Backup and restore at size: ``--projects`` projects x ``--services`` services (each staged with
env vars and a volume, then applied: every service has a deployment) plus ``--volume-mb`` MB of data
in managed named volumes on the real engine.

The daemon serves throughout the backup (it runs without Docker, so it starts no containers: the
figures are the archive's, not a thousand containers'). Half of each volume is random bytes
(incompressible), half log-like text. Prints the time and size of ``deploykitd backup``, of
``backup --verify`` and of ``restore`` (the volumes removed first, then put back on the engine), and
checks that the restored daemon lists every project. Never passes or fails on time. Needs Docker
and the offline test image.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import NO_DOCKER, TEST_IMAGE, free_port

PASSWORD = "benchmark password"


def deploykitd(*args: str) -> tuple[float, str]:
    """Run a deploykitd command; its wall time and output. Raises when it fails."""
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "deploykitd", *args], capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    if out.returncode != 0:
        raise RuntimeError(f"deploykitd {args[0]} failed:\n{out.stdout}{out.stderr}")
    return took, out.stdout.strip()


def docker(*args: str) -> str:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"docker {args[0]} failed: {out.stderr}")
    return out.stdout.strip()


def start_daemon(data_dir: Path, instance: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "deploykitd", "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", str(data_dir)]
    cmd += ["--docker-host", NO_DOCKER, "--no-ingress", "--instance-id", instance, "--api-rate-limit", "0"]
    cmd += ["--log-level", "warning"]
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir.parent / f"{data_dir.name}.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"deploykitd exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("deploykitd did not answer")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def seed(base: str, projects: int, services: int) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=60)
    body = {"email": "bench@example.com", "name": "Bench", "password": PASSWORD}
    tokens = c.post("/auth/register", json=body).json()["tokens"]
    c.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    for p in range(projects):
        pid = c.post("/projects", json={"name": f"Project {p:03d}"}).json()["id"]
        c.post(f"/projects/{pid}/env-vars", json={"key": "DATABASE_PASSWORD", "value": uuid.uuid4().hex})
        for s in range(services):
            svc = {
                "name": f"svc-{s}",
                "source": {"type": "image", "image": TEST_IMAGE},
                "port": 8080,
                "command": ["sh", "-c", "sleep 3600"],
                "volumes": [{"name": "data", "mount_path": "/data"}],
            }
            temp = c.post(f"/projects/{pid}/services", json=svc).json()["target_temp_id"]
            c.post(f"/projects/{pid}/services/{temp}/env-vars", json={"key": "TOKEN", "value": uuid.uuid4().hex})
        r = c.post(f"/projects/{pid}/deploy")
        if r.status_code != 200:
            raise RuntimeError(f"deploy of project {p} failed: {r.text}")
    return c


def fill_volumes(instance: str, total_mb: int, count: int) -> list[str]:
    """``count`` managed volumes of this instance holding ``total_mb`` MB together."""
    each = max(2, total_mb // count)
    names = []
    for i in range(count):
        name = f"dk_bench_{instance[-8:]}_{i}"
        labels = ["--label", "managed-by=deploykit", "--label", f"deploykit.instance={instance}"]
        docker("volume", "create", *labels, name)
        half = each * 1024 * 1024 // 2
        script = (
            f"head -c {half} /dev/urandom > /data/random.bin; "
            f"yes 'GET /api/items?page=2 200 12ms user=42 request=7f3a' | head -c {half} > /data/access.log"
        )
        docker("run", "--rm", "-v", f"{name}:/data", TEST_IMAGE, "sh", "-c", script)
        names.append(name)
    return names


def volume_bytes(names: list[str]) -> int:
    total = 0
    for name in names:
        out = docker("run", "--rm", "-v", f"{name}:/data", TEST_IMAGE, "du", "-sk", "/data")
        total += int(out.split()[0]) * 1024
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--volume-mb", type=int, default=1024)
    parser.add_argument("--volumes", type=int, default=10, help="how many volumes hold the data")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dk-bench-backup-"))
    instance = f"bench-backup-{uuid.uuid4().hex[:8]}"
    restored_instance = f"{instance}-r"
    proc = None
    try:
        proc, base = start_daemon(tmp / "data", instance)
        started = time.monotonic()
        seed(base, args.projects, args.services)
        print(f"seeded {args.projects} projects x {args.services} services in {time.monotonic() - started:.1f} s")
        names = fill_volumes(instance, args.volume_mb, args.volumes)
        raw = volume_bytes(names)
        db = sum(p.stat().st_size for p in (tmp / "data").glob("deploykit.db*"))  # with its WAL
        print(f"database {db / 1e6:.1f} MB, {len(names)} volumes {raw / 1e6:.0f} MB")

        archive = tmp / "backup.tar.zst"
        took, _ = deploykitd(
            "backup", "--data-dir", str(tmp / "data"), "--instance-id", instance, "--out", str(archive)
        )
        size = archive.stat().st_size
        print(
            f"backup (daemon serving): {took:.1f} s, archive {size / 1e6:.0f} MB ({size / (raw + db):.2f} of the input)"
        )
        took, _ = deploykitd("backup", "--data-dir", str(tmp / "v"), "--verify", str(archive))
        print(f"verify: {took:.1f} s")
        stop(proc)
        proc = None
        docker("volume", "rm", *names)

        took, _ = deploykitd(
            "restore", str(archive), "--data-dir", str(tmp / "restored"), "--instance-id", restored_instance
        )
        print(f"restore into an empty directory (database, key, {len(names)} volumes): {took:.1f} s")
        proc, base = start_daemon(tmp / "restored", restored_instance)
        c = httpx.Client(base_url=base, timeout=30)
        tokens = c.post("/auth/login", json={"email": "bench@example.com", "password": PASSWORD}).json()
        c.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        total = c.get("/projects", params={"limit": 1}).json()["total_count"]
        print(f"restored daemon lists {total} projects; volumes back: {volume_bytes(names) / 1e6:.0f} MB")
    finally:
        if proc is not None:
            stop(proc)
        for label in (instance, restored_instance):
            ids = docker("volume", "ls", "-q", "--filter", f"label=deploykit.instance={label}").split()
            if ids:
                docker("volume", "rm", "-f", *ids)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
