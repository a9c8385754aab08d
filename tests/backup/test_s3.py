"""Archives in an S3-compatible store: a real S3 server (moto's standalone server) on a free
loopback port, driven through ``deploykitd backup --to``, ``--verify`` and ``restore``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from deploykit_backup import S3Location, S3Store
from tests.backup.test_archive import make_data_dir
from tests.e2e.support import free_port
from tests.wait import wait_for_sync

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "deploykit",
    "AWS_SECRET_ACCESS_KEY": "deploykit",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_sync(
            lambda: httpx.get(f"{url}/moto-api/", timeout=1).status_code == 200,
            within=30,
            message="the S3 server to answer",
            retry_on=(Exception,),
        )
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    name = f"backups-{abs(hash(request.node.name)) % 10**8}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


def deploykitd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploykitd", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **CREDENTIALS},
    )


async def test_a_backup_goes_to_s3_verifies_from_there_and_restores(tmp_path: Path, endpoint: str, bucket: str) -> None:
    await make_data_dir(tmp_path / "data")
    s3 = ["--s3-endpoint", endpoint]
    result = deploykitd(
        "backup", "--data-dir", str(tmp_path / "data"), "--no-volumes", "--to", f"s3://{bucket}/nightly", *s3
    )
    assert result.returncode == 0, result.stderr

    objects = await S3Store(endpoint_url=endpoint).list_objects(S3Location.parse(f"s3://{bucket}/nightly"))
    assert len(objects) == 1
    assert objects[0].name.startswith("deploykit-")
    assert objects[0].name.endswith(".tar.zst")
    assert objects[0].size_bytes > 0
    assert f"Backed up to {objects[0].url}:" in result.stdout
    assert not list((tmp_path / "data").glob(".deploykit-upload-*")), "the local copy is removed"

    verified = deploykitd("backup", "--data-dir", str(tmp_path / "v"), "--verify", objects[0].url, *s3)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "is sound" in verified.stdout

    target = tmp_path / "restored"
    restored = deploykitd("restore", objects[0].url, "--data-dir", str(target), "--no-volumes", *s3)
    assert restored.returncode == 0, restored.stderr
    assert (target / "deploykit.db").is_file()
    assert sorted(p.name for p in target.iterdir()) == ["deploykit.db", "secret.key"]


def test_a_missing_object_is_a_clear_error(endpoint: str, bucket: str, tmp_path: Path) -> None:
    result = deploykitd(
        "backup", "--data-dir", str(tmp_path), "--verify", f"s3://{bucket}/nope.tar.zst", "--s3-endpoint", endpoint
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"deploykitd: s3://{bucket}/nope.tar.zst not found."
