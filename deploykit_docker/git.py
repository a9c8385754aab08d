"""Checkouts of a git source with the ``git`` command: the branch's head (shallow) or a pinned commit,
into a per-deployment directory that is removed afterwards. SSH remotes use the service's deploy key
and its pinned host keys; nothing ever waits on a prompt."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from deploykit import INVALID, Error
from deploykit.repository import LOCAL_REFUSED, local_repo, redact_text, refused_address, repo_host

SHA_RE = re.compile(r"^[0-9a-fA-F]{4,64}$")
# [user@]host:path, where host has no slash and the colon is not part of "://".
SCP_LIKE_RE = re.compile(r"^(?:[^@/:\s]+@)?(?P<host>[^@/:\s]+):(?!//)")
SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})
REMOTE_PROTOCOLS = "git:http:https:ssh"
KEY_FILE = "deploy_key"
"""Where a checkout's directory holds the deploy key ssh reads (0600)."""
UNREACHABLE = "the repository could not be reached or read (check the URL, and that the server answers and has it)"
# What git prints when a remote does not answer or does not serve a repository there. One message for
# all of them, so that a clone cannot tell an open port from a closed one.
UNREACHABLE_SIGNS = (
    "could not resolve", "failed to connect", "couldn't connect", "connection refused", "timed out",
    "unable to access", "not found", "returned error", "empty reply", "recv failure", "connection reset",
    "no route to host", "network is unreachable", "ssh: connect to host", "connection closed",
    "unable to look up", "unable to connect", "hung up", "not valid: is this a git repository",
    "does not appear to be a git repository", "certificate", "protocol error", "bad line length",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class GitSettings:
    git: str = "git"
    """The git binary."""
    ssh: str = "ssh"
    """The ssh binary git runs for SSH remotes."""
    ssh_keygen: str = "ssh-keygen"
    connect_timeout_s: int = 20
    """SSH connect timeout; the build timeout bounds everything else."""
    config: tuple[str, ...] = ()
    """Extra ``-c name=value`` options for every git command (a proxy, a protocol version)."""
    error_lines: int = 20
    """How many of a failing step's last output lines its error message carries."""
    allow_local: bool = False
    """Clone repositories on this host too: ``file://``, paths, loopback and link-local addresses
    (``--allow-local-repos``). Off, git may use only its network protocols, HTTP redirects are not
    followed, and a remote's host name must not resolve to such an address."""


@dataclass(frozen=True)
class Checkout:
    path: Path
    commit_sha: str
    commit_message: str
    known_hosts: str | None
    """For SSH remotes: the pinned host keys including any accepted on this first use; else None."""


def redact(text: str) -> str:
    """Hide ``user:token@`` credentials of URLs in ``text``."""
    return redact_text(text)


def ssh_host(url: str) -> str | None:
    """The known_hosts name (``host`` or ``[host]:port``) of an SSH remote; None for other transports."""
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme not in SSH_SCHEMES or not parts.hostname:
            return None
        return parts.hostname if parts.port in (None, 22) else f"[{parts.hostname}]:{parts.port}"
    match = SCP_LIKE_RE.match(url)
    return match.group("host") if match and not url.startswith("/") else None


class GitCloner:
    """Checks out git sources under ``work_dir``. Constructing it does no I/O."""

    def __init__(self, *, work_dir: Path, settings: GitSettings | None = None) -> None:
        self.work_dir = work_dir
        self.settings = settings or GitSettings()
        self._removals: set[asyncio.Future[None]] = set()

    @contextlib.asynccontextmanager
    async def checkout(
        self,
        name: str,
        url: str,
        branch: str,
        *,
        commit_sha: str | None = None,
        deploy_key: str | None = None,
        known_hosts: str | None = None,
        on_log: Callable[[str], None],
    ) -> AsyncIterator[Checkout]:
        """Check out ``branch``'s head, or ``commit_sha`` when given, into a fresh directory named after
        ``name`` (a deployment id) that is removed when the block exits: at once when it failed or was
        cancelled, beside what follows when it ended normally (``drain()`` waits for that).

        Raises ``invalid`` ("git clone failed: <last lines>", likewise fetch/checkout) when git fails."""
        if url.startswith("-") or branch.startswith("-"):
            raise Error(INVALID, "git clone failed: the repository URL and branch must not start with '-'.")
        if commit_sha is not None and not SHA_RE.match(commit_sha):
            raise Error(INVALID, f"git fetch failed: {commit_sha!r} is not a commit SHA.")
        pins = await self._remote_only(url)
        self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.work_dir.chmod(0o700)  # checkouts may hold deploy keys and private code
        root = Path(tempfile.mkdtemp(prefix=f"{_safe(name)}-", dir=self.work_dir))
        try:
            repo = root / "repo"
            host = ssh_host(url)
            env = self._env(pins)
            if host is not None:
                env["GIT_SSH_COMMAND"] = await self._ssh_command(root, host, deploy_key, known_hosts, on_log)
            # The branch's head, shallow: one command, and a pushed commit is that head but for a
            # newer push meanwhile (then that one commit is fetched into the same clone).
            on_log(f"$ git clone --depth 1 --branch {branch} {redact(url)}")
            try:
                await self._git("git clone", env, on_log, "clone", "-q", "--depth", "1", "--single-branch", "--no-tags",
                                f"--branch={branch}", "--", url, str(repo))  # fmt: skip
            except Error as err:
                if commit_sha is None or "remote branch" not in err.message.lower():
                    raise
                # The branch is gone, but the commit may still be served.
                on_log(f"$ git fetch --depth 1 {redact(url)} {commit_sha}")
                await self._git("git init", env, on_log, "init", "-q", str(repo))
                await self._fetch_commit(repo, url, branch, commit_sha, env, on_log, shallow=False)
            head = await self._git("git log", env, None, "-C", str(repo), "log", "-1", "--format=%H%n%B")
            if commit_sha is not None and not head.startswith(commit_sha.lower()):
                on_log(f"$ git fetch --depth 1 {redact(url)} {commit_sha}")
                await self._fetch_commit(repo, url, branch, commit_sha, env, on_log, shallow=True)
                head = await self._git("git log", env, None, "-C", str(repo), "log", "-1", "--format=%H%n%B")
            sha, _, message = head.strip().partition("\n")
            message = message.strip()
            on_log(f"Checked out {sha[:12]}: {message.splitlines()[0] if message else ''}")
            pinned = (root / "known_hosts").read_text() if host is not None else None
            yield Checkout(path=repo, commit_sha=sha, commit_message=message, known_hosts=pinned or known_hosts)
        except BaseException:
            # Shielded so that a failed or cancelled build still removes its checkout (and its
            # key) from disk before it lets go.
            removal = asyncio.ensure_future(asyncio.to_thread(shutil.rmtree, root, True))
            try:
                await asyncio.shield(removal)
            except asyncio.CancelledError:
                await asyncio.wait([removal])
            raise
        # A checkout that served its build goes beside what follows (the rollout), which need not
        # wait for it; ``drain()`` waits for those still going. Its deploy key goes now.
        (root / KEY_FILE).unlink(missing_ok=True)
        task = asyncio.ensure_future(asyncio.to_thread(shutil.rmtree, root, True))
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)

    async def drain(self) -> None:
        """Until every finished checkout is off the disk."""
        while self._removals:
            await asyncio.wait(list(self._removals))

    async def _fetch_commit(
        self,
        repo: Path,
        url: str,
        branch: str,
        sha: str,
        env: dict[str, str],
        on_log: Callable[[str], None],
        *,
        shallow: bool,
    ) -> None:
        """Fetch and check out ``sha`` in ``repo`` (a shallow clone of ``url``, or an empty one)."""
        try:
            await self._git("git fetch", env, on_log, "-C", str(repo), "fetch", "--depth", "1", "--no-tags",
                            "--", url, sha)  # fmt: skip
        except Error:
            # Servers that refuse to serve an unadvertised object (or a short SHA) still serve the
            # branch: fetch its history and find the commit there.
            on_log(f"The server refused to fetch {sha} directly; fetching branch {branch} instead.")
            whole = ["--unshallow"] if shallow else []
            await self._git("git fetch", env, on_log, "-C", str(repo), "fetch", *whole, "--no-tags", "--", url,
                            f"+refs/heads/{branch}:refs/remotes/origin/{branch}")  # fmt: skip
            await self._git("git checkout", env, on_log, "-C", str(repo), "checkout", "-q", "--detach", sha)
            return
        await self._git("git checkout", env, on_log, "-C", str(repo), "checkout", "-q", "--detach", "FETCH_HEAD")

    async def _remote_only(self, url: str) -> dict[str, str]:
        """Refuse a repository on this host (unless allowed); the ``-c`` options that pin an HTTP(S)
        remote to the addresses checked here, so that a second DNS answer cannot point elsewhere."""
        if self.settings.allow_local:
            return {}
        if local_repo(url):
            raise Error(INVALID, f"git clone failed: the repository {LOCAL_REFUSED}.")
        host = repo_host(url)
        assert host is not None
        parts = urlsplit(url) if "://" in url else None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise Error(INVALID, f"git clone failed: {UNREACHABLE}.") from None
        addresses = sorted({str(info[4][0]) for info in infos})
        if any(refused_address(a) for a in addresses):
            raise Error(INVALID, f"git clone failed: {host} resolves to the daemon's own host; {LOCAL_REFUSED}.")
        config = {"http.followRedirects": "false"}  # a redirect could lead anywhere, unchecked
        if parts is not None and parts.scheme.lower() in ("http", "https"):
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
            pinned = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
            config["http.curloptResolve"] = f"{host}:{port}:{pinned}"
        return config

    def _env(self, pins: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS", "SSH_ASKPASS"):
            env.pop(var, None)
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_ALLOW_PROTOCOL=REMOTE_PROTOCOLS + (":file" if self.settings.allow_local else ""),
            GCM_INTERACTIVE="never",
            LC_ALL="C",
        )
        # Options for every git command of this checkout (git's environment form of ``-c``).
        for i, (name, value) in enumerate(pins.items()):
            env[f"GIT_CONFIG_KEY_{i}"] = name
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        if pins:
            env["GIT_CONFIG_COUNT"] = str(len(pins))
        return env

    async def _ssh_command(
        self, root: Path, host: str, deploy_key: str | None, known_hosts: str | None, on_log: Callable[[str], None]
    ) -> str:
        """The GIT_SSH_COMMAND for this clone: only the deploy key, only the pinned host keys."""
        hosts_file = root / "known_hosts"
        hosts_file.write_text(known_hosts or "")
        # Host keys are accepted on first use and refused when they change. A host the pinned set
        # does not know yet (the repository moved) is a first use too.
        strict = "yes" if known_hosts and await self._knows(hosts_file, host) else "accept-new"
        if strict == "accept-new":
            on_log(f"Accepting and pinning the SSH host key of {host} (first use).")
        opts = [
            "-F", "/dev/null",
            "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", f"UserKnownHostsFile={hosts_file}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", f"StrictHostKeyChecking={strict}",
            "-o", "CheckHostIP=no",
            "-o", "HashKnownHosts=no",
            "-o", "UpdateHostKeys=no",
            "-o", f"ConnectTimeout={self.settings.connect_timeout_s}",
        ]  # fmt: skip
        if deploy_key:
            key_file = root / KEY_FILE
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(deploy_key if deploy_key.endswith("\n") else deploy_key + "\n")
            opts += ["-i", str(key_file)]
        else:
            # Never fall back to the daemon's own keys.
            opts += ["-o", "PubkeyAuthentication=no"]
        return shlex.join([self.settings.ssh, *opts])

    async def _knows(self, hosts_file: Path, host: str) -> bool:
        proc = await asyncio.create_subprocess_exec(
            self.settings.ssh_keygen, "-F", host, "-f", str(hosts_file),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        return await proc.wait() == 0

    async def _git(self, step: str, env: dict[str, str], on_log: Callable[[str], None] | None, *args: str) -> str:
        """Run git and return its stdout. With ``on_log``, stream its output lines there instead.
        Raises ``invalid`` "<step> failed: <last lines>"; a cancelled call kills git (and its ssh)."""
        config = [a for c in self.settings.config for a in ("-c", c)]
        try:
            proc = await asyncio.create_subprocess_exec(
                self.settings.git, *config, *args,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=env, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            raise Error(INVALID, f"{step} failed: cannot run {self.settings.git}: {exc.strerror}") from exc
        assert proc.stdout is not None
        assert proc.stderr is not None
        tail: collections.deque[str] = collections.deque(maxlen=self.settings.error_lines)

        async def pump(stream: asyncio.StreamReader) -> bytes:
            async for line in _lines(stream):
                tail.append(redact(line))
                if on_log is not None:
                    on_log(tail[-1])
            return b""

        try:
            stdout = proc.stdout.read() if on_log is None else pump(proc.stdout)
            out, _ = await asyncio.gather(stdout, pump(proc.stderr))
            code = await proc.wait()
        except BaseException:
            # Cancelled, or timed out: git and the ssh it started go down with us.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.shield(proc.wait())
            raise
        if code != 0:
            detail = "\n".join(tail).strip() or f"exit status {code}"
            if not self.settings.allow_local and _unreachable(detail):
                detail = UNREACHABLE + "."
            raise Error(INVALID, f"{step} failed: {detail}")
        return out.decode(errors="replace")


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """Lines split on newlines and carriage returns (progress meters), without overlong-line errors."""
    pending = b""
    while chunk := await stream.read(65536):
        pending += chunk
        *complete, pending = re.split(rb"\r\n|\r|\n", pending)
        for raw in complete:
            if raw.strip():
                yield raw.decode(errors="replace").rstrip()
    if pending.strip():
        yield pending.decode(errors="replace").rstrip()


def _unreachable(detail: str) -> bool:
    text = detail.lower()
    return "remote branch" not in text and any(sign in text for sign in UNREACHABLE_SIGNS)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:64] or "checkout"
