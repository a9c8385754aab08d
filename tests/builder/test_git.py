"""Checkouts with the real git command: file:// and local paths, pinned commits (with and without
servers that serve them directly), and SSH through a real sshd with deploy keys and pinned host keys."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from deploykit import Error
from deploykit_docker.git import GitCloner, GitSettings, redact, ssh_host
from deploykit_docker.keys import generate_deploy_key
from tests.builder.conftest import Repo, Sshd, host_key, run


def cloner(tmp_path: Path, *config: str) -> GitCloner:
    return GitCloner(work_dir=tmp_path / "work", settings=GitSettings(config=config, allow_local=True))


async def test_clone_of_a_branch_checks_out_its_head_and_is_removed_afterwards(
    tmp_path: Path, make_repo: Callable[..., Repo]
) -> None:
    repo = make_repo("v1\n")
    head = repo.commit({"index.html": "v2\n"}, "second commit\n\nwith a body")
    logs: list[str] = []
    git = cloner(tmp_path)
    async with git.checkout("dep-1", repo.url, "main", on_log=logs.append) as co:
        assert (co.path / "index.html").read_text() == "v2\n"
        assert co.commit_sha == head
        assert co.commit_message == "second commit\n\nwith a body"
        assert co.known_hosts is None
        assert co.path.parent.name.startswith("dep-1-")
        checkout_root = co.path.parent
    await git.drain()  # removed beside what follows the build
    assert not checkout_root.exists()
    assert logs[0] == f"$ git clone --depth 1 --branch main {repo.url}"
    assert f"Checked out {head[:12]}: second commit" in logs


async def test_clone_from_a_local_path(tmp_path: Path, make_repo: Callable[..., Repo]) -> None:
    repo = make_repo("local\n")
    async with cloner(tmp_path).checkout("d", str(repo.path), "main", on_log=lambda _: None) as co:
        assert (co.path / "index.html").read_text() == "local\n"


@pytest.mark.parametrize(
    ("config", "refused"),
    [((), False), (("protocol.version=0",), True)],
    ids=["sha-fetch", "server-refuses-sha-fetch"],
)
async def test_pinned_commit_checks_out_that_commit(
    tmp_path: Path, make_repo: Callable[..., Repo], config: tuple[str, ...], refused: bool
) -> None:
    repo = make_repo("old\n")
    old = run("git", "rev-parse", "HEAD", cwd=repo.path).stdout.strip()
    repo.commit({"index.html": "new\n"}, "newer commit")
    logs: list[str] = []
    async with cloner(tmp_path, *config).checkout("d", repo.url, "main", commit_sha=old, on_log=logs.append) as co:
        assert (co.path / "index.html").read_text() == "old\n"
        assert (co.commit_sha, co.commit_message) == (old, "first commit")
    assert any("refused to fetch" in line for line in logs) is refused


async def test_pinned_commit_at_the_branch_head_is_one_shallow_clone(
    tmp_path: Path, make_repo: Callable[..., Repo]
) -> None:
    repo = make_repo("v1\n")
    head = repo.commit({"index.html": "v2\n"}, "pushed commit")
    logs: list[str] = []
    async with cloner(tmp_path).checkout("d", repo.url, "main", commit_sha=head[:10], on_log=logs.append) as co:
        assert (co.path / "index.html").read_text() == "v2\n"
        assert (co.commit_sha, co.commit_message) == (head, "pushed commit")
        assert run("git", "rev-parse", "--is-shallow-repository", cwd=co.path).stdout.strip() == "true"
    assert [line for line in logs if line.startswith("$ ")] == [f"$ git clone --depth 1 --branch main {repo.url}"]


async def test_pinned_commit_of_a_deleted_branch_is_still_fetched(
    tmp_path: Path, make_repo: Callable[..., Repo]
) -> None:
    repo = make_repo("v1\n")
    run("git", "checkout", "-q", "-b", "feature", cwd=repo.path)
    sha = repo.commit({"index.html": "feature\n"}, "feature commit")
    run("git", "checkout", "-q", "main", cwd=repo.path)
    run("git", "branch", "-q", "-D", "feature", cwd=repo.path)
    logs: list[str] = []
    async with cloner(tmp_path).checkout("d", repo.url, "feature", commit_sha=sha, on_log=logs.append) as co:
        assert (co.path / "index.html").read_text() == "feature\n"
        assert co.commit_sha == sha


@pytest.mark.parametrize(
    ("branch", "sha", "message"),
    [
        ("nope", None, "git clone failed: warning: Could not find remote branch nope to clone.\n"
                       "fatal: Remote branch nope not found in upstream origin"),
        ("main", "0" * 40, "git checkout failed: fatal: reference is not a tree: " + "0" * 40),
        ("main", "not-a-sha", "git fetch failed: 'not-a-sha' is not a commit SHA."),
        ("--upload-pack=touch", None, "git clone failed: the repository URL and branch must not start with '-'."),
    ],
    ids=["unknown-branch", "unknown-commit", "malformed-sha", "option-injection"],
)  # fmt: skip
async def test_failed_steps_are_invalid_with_their_output(
    tmp_path: Path, make_repo: Callable[..., Repo], branch: str, sha: str | None, message: str
) -> None:
    repo = make_repo()
    with pytest.raises(Error) as info:
        async with cloner(tmp_path).checkout("d", repo.url, branch, commit_sha=sha, on_log=lambda _: None):
            pass
    assert (info.value.code, info.value.message) == ("invalid", message)
    assert list((tmp_path / "work").glob("*")) == []


async def test_missing_repository_fails_the_clone(tmp_path: Path) -> None:
    with pytest.raises(Error) as info:
        async with cloner(tmp_path).checkout("d", f"file://{tmp_path}/missing", "main", on_log=lambda _: None):
            pass
    assert info.value.code == "invalid"
    assert info.value.message.startswith("git clone failed: ")
    assert "does not appear to be a git repository" in info.value.message


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("git@github.com:acme/api.git", "github.com"),
        ("deploy@git.example.org:team/api", "git.example.org"),
        ("ssh://git@github.com/acme/api.git", "github.com"),
        ("ssh://git@github.com:22/acme/api.git", "github.com"),
        ("ssh://git@10.0.0.5:2222/srv/api.git", "[10.0.0.5]:2222"),
        ("git+ssh://git@example.org/api", "example.org"),
        ("https://github.com/acme/api.git", None),
        ("file:///srv/git/api", None),
        ("/srv/git/api", None),
    ],
)
def test_ssh_host_names_the_known_hosts_entry(url: str, host: str | None) -> None:
    assert ssh_host(url) == host


def test_credentials_in_urls_are_redacted() -> None:
    text = "fatal: unable to access 'https://bot:ghp_secret@github.com/acme/api.git/': 403"
    assert redact(text) == "fatal: unable to access 'https://***@github.com/acme/api.git/': 403"


@pytest.fixture
def ssh_repo(sshd: Sshd, make_repo: Callable[..., Repo], tmp_path: Path) -> tuple[Sshd, str]:
    """A bare repository served by the sshd; its URL."""
    work = make_repo("over ssh\n")
    bare = tmp_path / "served.git"
    run("git", "clone", "-q", "--bare", str(work.path), str(bare))
    return sshd, sshd.url(bare)


async def test_ssh_clone_uses_the_deploy_key_and_pins_the_host_key_on_first_use(
    tmp_path: Path, ssh_repo: tuple[Sshd, str]
) -> None:
    server, url = ssh_repo
    key = generate_deploy_key("test")
    server.authorized_keys.write_text(key.public_key + "\n")
    logs: list[str] = []
    async with cloner(tmp_path).checkout("d", url, "main", deploy_key=key.private_key, on_log=logs.append) as co:
        assert (co.path / "index.html").read_text() == "over ssh\n"
        key_file = co.path.parent / "deploy_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        pinned = co.known_hosts
    assert not key_file.exists()
    assert pinned is not None
    server_key = (server.dir / "host_key_1.pub").read_text().split()[:2]
    assert pinned.split()[:3] == [f"[127.0.0.1]:{server.port}", *server_key]
    assert f"Accepting and pinning the SSH host key of [127.0.0.1]:{server.port} (first use)." in logs

    # With the key pinned, the same server is trusted without a first-use acceptance.
    logs.clear()
    async with cloner(tmp_path).checkout(
        "d", url, "main", deploy_key=key.private_key, known_hosts=pinned, on_log=logs.append
    ) as co:
        assert co.known_hosts == pinned
    assert not any("Accepting" in line for line in logs)


async def test_ssh_clone_without_an_authorized_deploy_key_is_refused(
    tmp_path: Path, ssh_repo: tuple[Sshd, str]
) -> None:
    server, url = ssh_repo
    server.authorized_keys.write_text(generate_deploy_key().public_key + "\n")
    for deploy_key in (None, generate_deploy_key().private_key):
        with pytest.raises(Error) as info:
            async with cloner(tmp_path).checkout("d", url, "main", deploy_key=deploy_key, on_log=lambda _: None):
                pass
        assert info.value.code == "invalid"
        assert info.value.message.startswith("git clone failed: ")
        assert "Permission denied (publickey)" in info.value.message


async def test_ssh_clone_refuses_a_changed_host_key(tmp_path: Path, ssh_repo: tuple[Sshd, str]) -> None:
    server, url = ssh_repo
    key = generate_deploy_key()
    server.authorized_keys.write_text(key.public_key + "\n")
    async with cloner(tmp_path).checkout("d", url, "main", deploy_key=key.private_key, on_log=lambda _: None) as co:
        pinned = co.known_hosts

    server.start(host_key(server.dir / "host_key_2"))  # same address, another host key
    with pytest.raises(Error) as info:
        async with cloner(tmp_path).checkout(
            "d", url, "main", deploy_key=key.private_key, known_hosts=pinned, on_log=lambda _: None
        ):
            pass
    assert info.value.code == "invalid"
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in info.value.message
    assert "Host key verification failed." in info.value.message
