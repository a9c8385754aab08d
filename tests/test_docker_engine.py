"""The offline test image runs on the real engine: the base every Docker test stands on."""

from __future__ import annotations

import subprocess

import pytest


@pytest.mark.docker
def test_offline_image_runs_a_container_and_prints(test_image: str) -> None:
    result = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--label",
            "deploykit-test=1",
            test_image,
            "sh",
            "-c",
            "echo hello-$((6*7)); which httpd nc",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["hello-42", "/bin/httpd", "/bin/nc"]
