"""Volumes as tar through the engine's archive API, against the real engine: the running container
that mounts a volume is paused for the copy and only then (the engine's own events say so), files
keep their owners, and a volume is never filled over one that exists or is in use."""

from __future__ import annotations

import tarfile
import time
from pathlib import Path

import pytest

from deploykit.errors import CONFLICT, NOT_FOUND, Error
from deploykit.runtime import LABEL_INSTANCE, VolumeMount, managed_labels
from deploykit_docker.volume_archive import DockerVolumeArchiver
from tests.docker import test_runtime
from tests.docker.test_runtime import Engine
from tests.reconciler.support import docker_cli
from tests.wait import wait_for

pytestmark = [pytest.mark.docker]
engine = test_runtime.engine

WRITER = (
    "echo hello > /data/a.txt; mkdir -p /data/d; echo nested > /data/d/b.txt; chown 1234:5678 /data/a.txt; "
    "trap 'exit 0' TERM; while true; do sleep 1; done"
)


def volume_labels(e: Engine) -> dict[str, str]:
    return {**managed_labels(), LABEL_INSTANCE: e.tag}


async def test_a_volume_is_copied_with_its_user_paused_only_meanwhile(engine: Engine, tmp_path: Path) -> None:
    rt = engine.runtime
    volume = engine.name("data")
    await rt.ensure_volume(volume, volume_labels(engine))
    user = await rt.run_container(engine.spec("db", ["sh", "-c", WRITER], volumes=[VolumeMount(volume, "/data")]))

    async def written() -> bool:
        out = await docker_cli("exec", user.id, "sh", "-c", "test -f /data/d/b.txt && echo yes", check=False)
        return out.strip() == "yes"

    await wait_for(written, within=20, message="the container to write its files")
    archiver = DockerVolumeArchiver(rt, instance_id=engine.tag)
    assert [v.name for v in await archiver.list_volumes()] == [volume]

    since = str(int(time.time()) - 1)
    await archiver.export_volume(volume, tmp_path / "volume.tar")
    until = str(int(time.time()) + 1)

    with tarfile.open(tmp_path / "volume.tar") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {".deploykit-volume/a.txt", ".deploykit-volume/d/b.txt"} <= members.keys()
    assert (members[".deploykit-volume/a.txt"].uid, members[".deploykit-volume/a.txt"].gid) == (1234, 5678)
    events = await docker_cli(
        "events", "--since", since, "--until", until, "--filter", f"container={user.id}", "--format", "{{.Action}}"
    )
    assert [a for a in events.split() if a in {"pause", "unpause"}] == ["pause", "unpause"]
    assert (await rt.inspect_container(user.id)).state == "running"

    copy = engine.name("copy")
    await archiver.import_volume(copy, volume_labels(engine), tmp_path / "volume.tar", replace=False)
    out = await docker_cli(
        "run", "--rm", "-v", f"{copy}:/restored", engine.image, "sh", "-c",
        "cat /restored/a.txt /restored/d/b.txt; stat -c %u:%g /restored/a.txt",
    )  # fmt: skip
    assert out.split() == ["hello", "nested", "1234:5678"]

    await docker_cli(
        "run", "--rm", "-v", f"{copy}:/c", engine.image, "sh", "-c", "echo stale > /c/a.txt; touch /c/extra"
    )
    await archiver.import_volume(copy, volume_labels(engine), tmp_path / "volume.tar", replace=True)
    out = await docker_cli("run", "--rm", "-v", f"{copy}:/c", engine.image, "sh", "-c", "cat /c/a.txt; ls /c")
    assert out.split() == ["hello", "a.txt", "d"], "replaced whole: nothing stale is left"

    with pytest.raises(Error) as exists:
        await archiver.import_volume(copy, volume_labels(engine), tmp_path / "volume.tar", replace=False)
    assert (exists.value.code, exists.value.message) == (CONFLICT, f"Volume {copy} already exists.")
    with pytest.raises(Error) as in_use:
        await archiver.import_volume(volume, volume_labels(engine), tmp_path / "volume.tar", replace=True)
    assert (in_use.value.code, in_use.value.message) == (
        CONFLICT,
        f"Volume {volume} is in use; stop the containers that mount it first.",
    )


async def test_a_missing_volume_is_not_found_and_other_installations_volumes_are_not_listed(
    engine: Engine, tmp_path: Path
) -> None:
    await engine.runtime.ensure_volume(engine.name("theirs"), {**managed_labels(), LABEL_INSTANCE: engine.tag + "x"})
    try:
        archiver = DockerVolumeArchiver(engine.runtime, instance_id=engine.tag)
        assert await archiver.list_volumes() == []
        with pytest.raises(Error) as exc:
            await archiver.export_volume(engine.name("nope"), tmp_path / "x.tar")
        assert exc.value.code == NOT_FOUND
    finally:
        await engine.runtime.remove_volume(engine.name("theirs"))
