"""Docker Compose import: a parsed compose file (plain dicts, lists and scalars) as the services
DeployKit would stage, and every key it could not import with the reason.

The YAML is parsed by the HTTP adapter; this module only reads the resulting data. A compose file
DeployKit cannot make sense of (a service without an image, a build without a repository, a
malformed value) raises ``invalid`` naming the field (``services.web.ports``); anything it merely
cannot express (bind mounts, networks, an entrypoint, a health check that is no HTTP or TCP probe)
is left out and listed in ``skipped``.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from deploykit.errors import FieldErrors, ValidationError
from deploykit.health import HealthCheck, HealthCheckType
from deploykit.service import (
    GitSource,
    ImageSource,
    Resources,
    RestartPolicy,
    ServiceConfig,
    Source,
    Volume,
    validate_service_name,
)
from deploykit.staging import validate_env_map

MAX_SERVICES = 100
NODE_W, NODE_H = 220.0, 90.0
GAP_X, GAP_Y = 80.0, 60.0
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]"})

IGNORED_TOP = {
    "version": "obsolete in the Compose specification",
    "name": "the project is the one imported into",
    "networks": "every service of a project shares the project's network",
    "configs": "configs are not supported; mount a named volume or set variables instead",
    "secrets": "secrets are not supported; set them as service variables (stored encrypted)",
    "include": "included files are not read; import each file",
}
IGNORED_SERVICE = {
    "container_name": "DeployKit names containers itself",
    "networks": "every service of a project shares the project's network",
    "links": "services reach each other by name on the project's network",
    "env_file": "env files are not read; set the variables on the service",
    "labels": "DeployKit sets its own labels",
    "logging": "DeployKit collects the logs itself",
    "hostname": "DeployKit names containers itself",
    "profiles": "every service is imported",
    "entrypoint": "DeployKit sets only a service's command; the image's entrypoint stays",
}
SERVICE_KEYS = {
    "image",
    "build",
    "ports",
    "expose",
    "environment",
    "volumes",
    "command",
    "deploy",
    "healthcheck",
    "depends_on",
    "restart",
    "mem_limit",
    "cpus",
}
DURATION_RE = re.compile(
    r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$"
)
MEMORY_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$", re.IGNORECASE)
MEMORY_UNIT = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True)
class GitRepo:
    """The repository a compose file's ``build`` sections build from."""

    repo_url: str
    branch: str = "main"


@dataclass(frozen=True)
class Skipped:
    """A key that was not imported: ``key`` is its path (``services.db.volumes.1``)."""

    key: str
    reason: str


@dataclass(frozen=True)
class ComposeService:
    name: str
    config: ServiceConfig
    env: dict[str, str]
    depends_on: list[str]
    position: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class ComposeImport:
    services: list[ComposeService]
    skipped: list[Skipped]

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Canvas edges from each service to those it depends on, by name."""
        return [(s.name, d) for s in self.services for d in s.depends_on]


@dataclass
class Reader:
    """Reads one service; collects its errors and what it skipped."""

    name: str
    repo: GitRepo | None
    errors: FieldErrors = field(default_factory=FieldErrors)
    skipped: list[Skipped] = field(default_factory=list)

    def path(self, *parts: object) -> str:
        return ".".join(["services", self.name, *(str(p) for p in parts if p != "")])

    def fail(self, key: str, reason: str) -> None:
        self.errors.add(self.path(key), reason)

    def skip(self, key: str, reason: str) -> None:
        self.skipped.append(Skipped(self.path(key), reason))


def duration_s(value: Any) -> float | None:
    """A compose duration (``1m30s``, ``500ms``) in seconds; None when it is none."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1e9  # a bare number is nanoseconds
    if not isinstance(value, str) or not value:
        return None
    m = DURATION_RE.match(value.strip())
    if m is None or not any(m.groups()):
        return None
    h, mi, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s + ms / 1000


def memory_mb(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return max(1, value // 1024**2)
    if not isinstance(value, str):
        return None
    m = MEMORY_RE.match(value.strip())
    if m is None:
        return None
    return max(1, int(float(m.group(1)) * MEMORY_UNIT[m.group(2).lower()] // 1024**2))


def as_argv(value: Any) -> list[str] | None:
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError:
            return None
    if isinstance(value, list) and all(isinstance(a, str | int | float) for a in value):
        return [str(a) for a in value]
    return None


def container_port(entry: Any) -> int | None:
    """The container side of a ``ports``/``expose`` entry (``8080:80/tcp`` -> 80)."""
    if isinstance(entry, Mapping):
        entry = entry.get("target")
    if isinstance(entry, int) and not isinstance(entry, bool):
        return entry
    if not isinstance(entry, str):
        return None
    port = entry.rsplit(":", 1)[-1].split("/", 1)[0]
    return int(port) if port.isdigit() else None


def read_source(r: Reader, svc: Mapping[str, Any]) -> Source | None:
    image, build = svc.get("image"), svc.get("build")
    if build is not None:
        if isinstance(build, str):
            build = {"context": build}
        if not isinstance(build, Mapping):
            r.fail("build", "must be a path or a mapping with context and dockerfile")
            return None
        context = build.get("context", ".")
        if not isinstance(context, str) or "://" in context or context.startswith("/"):
            r.fail("build.context", "must be a path inside the repository")
            return None
        if r.repo is not None:
            dockerfile = build.get("dockerfile", "Dockerfile")
            if not isinstance(dockerfile, str):
                r.fail("build.dockerfile", "must be a path")
                return None
            ctx = posixpath.normpath(context)
            for key in sorted(set(build) - {"context", "dockerfile"}):
                r.skip(f"build.{key}", "DeployKit builds with the Dockerfile and context only")
            if image is not None:
                r.skip("image", "the service is built from the repository; DeployKit names the image")
            return GitSource(
                repo_url=r.repo.repo_url,
                branch=r.repo.branch,
                dockerfile_path=posixpath.normpath(posixpath.join(ctx, dockerfile)),
                context=ctx,
            )
        if image is None:
            r.fail("build", "needs a repository to build from: give repo_url, or an image")
            return None
        r.skip("build", "no repository was given, so the service runs its image")
    if not isinstance(image, str) or not image:
        r.fail("image", "is required (or a build with a repository)")
        return None
    return ImageSource(image=image)


def read_port(r: Reader, svc: Mapping[str, Any]) -> int | None:
    ports: list[tuple[str, Any]] = []
    for key in ("ports", "expose"):
        value = svc.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            r.fail(key, "must be a list")
            continue
        ports += [(f"{key}.{i}", p) for i, p in enumerate(value)]
    chosen: int | None = None
    for key, entry in ports:
        port = container_port(entry)
        if port is None:
            r.fail(key, "must be a port such as '8080:80' or 80 (ranges are not supported)")
        elif chosen is None:
            chosen = port
            published = entry.get("published") if isinstance(entry, Mapping) else None
            if published is not None or (isinstance(entry, str) and ":" in entry):
                r.skip(key, f"the host port is not published; DeployKit routes to container port {port}")
        elif port != chosen:
            r.skip(key, f"a service has one port in DeployKit: {chosen} was taken")
    return chosen


def read_env(r: Reader, value: Any) -> dict[str, str]:
    env: dict[str, str] = {}
    if value is None:
        return env
    items: list[tuple[str, Any]]
    if isinstance(value, Mapping):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list) and all(isinstance(e, str) for e in value):
        items = [(e.split("=", 1)[0], e.split("=", 1)[1] if "=" in e else None) for e in value]
    else:
        r.fail("environment", "must be a list of KEY=value or a mapping")
        return env
    for key, val in items:
        if val is None:
            r.skip(f"environment.{key}", "has no value (compose takes it from the shell); set it on the service")
        elif isinstance(val, bool):
            env[key] = "true" if val else "false"
        elif isinstance(val, str | int | float):
            env[key] = str(val)
        else:
            r.fail(f"environment.{key}", "must be a string, number or boolean")
    return env


def read_volumes(r: Reader, value: Any) -> list[Volume]:
    volumes: list[Volume] = []
    if value is None:
        return volumes
    if not isinstance(value, list):
        r.fail("volumes", "must be a list")
        return volumes
    for i, entry in enumerate(value):
        key = f"volumes.{i}"
        if isinstance(entry, Mapping):
            kind, source, target = entry.get("type", "volume"), entry.get("source"), entry.get("target")
            read_only = bool(entry.get("read_only"))
        elif isinstance(entry, str):
            parts = entry.split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            kind = "bind" if source and (source.startswith((".", "/", "~", "$"))) else "volume"
        else:
            r.fail(key, "must be 'name:/path' or a mapping")
            continue
        if kind == "bind":
            r.skip(key, f"bind mount of '{source}': DeployKit mounts only named volumes, not host paths")
        elif kind != "volume":
            r.skip(key, f"a {kind} mount is not supported; only named volumes are")
        elif not isinstance(target, str):
            r.fail(key, "needs a mount path in the container")
        elif not source:
            r.skip(key, f"anonymous volume at {target}: name it to keep its data")
        else:
            volumes.append(Volume(name=str(source), mount_path=target))
            if read_only:
                r.skip(key, "mounted read-write: DeployKit volumes have no read-only mode")
    return volumes


def read_resources(r: Reader, svc: Mapping[str, Any]) -> tuple[int, Resources]:
    replicas, cpus, mem = 1, svc.get("cpus"), svc.get("mem_limit")
    deploy = svc.get("deploy") or {}
    if not isinstance(deploy, Mapping):
        r.fail("deploy", "must be a mapping")
        return replicas, Resources()
    if "replicas" in deploy:
        if isinstance(deploy["replicas"], bool) or not isinstance(deploy["replicas"], int):
            r.fail("deploy.replicas", "must be a whole number")
        else:
            replicas = deploy["replicas"]
    resources = deploy.get("resources") or {}
    limits = resources.get("limits") or {} if isinstance(resources, Mapping) else {}
    if not isinstance(limits, Mapping):
        r.fail("deploy.resources.limits", "must be a mapping")
        limits = {}
    cpus = limits.get("cpus", cpus)
    mem = limits.get("memory", mem)
    for key in sorted(set(deploy) - {"replicas", "resources"}):
        r.skip(f"deploy.{key}", "not supported by DeployKit")
    if isinstance(resources, Mapping):
        for key in sorted(set(resources) - {"limits"}):
            r.skip(f"deploy.resources.{key}", "only limits are imported")
    for key in sorted(set(limits) - {"cpus", "memory"}):
        r.skip(f"deploy.resources.limits.{key}", "only cpus and memory limits are supported")
    cpu_value: float | None = None
    if cpus is not None:
        try:
            cpu_value = float(cpus)
        except (TypeError, ValueError):
            r.fail("deploy.resources.limits.cpus", "must be a number of CPUs such as 0.5")
    mem_value = memory_mb(mem) if mem is not None else None
    if mem is not None and mem_value is None:
        r.fail("deploy.resources.limits.memory", "must be a size such as 512M or 1G")
    return replicas, Resources(cpus=cpu_value, memory_mb=mem_value)


def probe_of(test: Any) -> tuple[HealthCheckType, str, int | None] | None:
    """The HTTP or TCP probe a compose health test makes, when it recognisably is one:
    curl/wget of a local URL (its path and port), or ``nc -z`` of a local port."""
    if isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL"):
        argv = [str(a) for a in test[1:]]
        if test[0] == "CMD-SHELL":
            argv = as_argv(" ".join(argv)) or []
    elif isinstance(test, str):
        argv = as_argv(test) or []
    else:
        return None
    words = argv[: next((i for i, a in enumerate(argv) if a in ("||", "&&", "|", ";")), len(argv))]
    if not words:
        return None
    tool = posixpath.basename(words[0])
    if tool in ("curl", "wget"):
        urls = [w for w in words[1:] if w.startswith("http://")]
        if len(urls) != 1:
            return None
        url = urlsplit(urls[0])
        if url.hostname not in LOCAL_HOSTS:
            return None
        return HealthCheckType.HTTP, (url.path or "/") + (f"?{url.query}" if url.query else ""), url.port or 80
    if tool in ("nc", "netcat") and "-z" in words:
        args = [w for w in words[1:] if not w.startswith("-")]
        if len(args) == 2 and args[0] in LOCAL_HOSTS and args[1].isdigit():
            return HealthCheckType.TCP, "/", int(args[1])
    return None


def read_health(r: Reader, value: Any, port: int | None) -> tuple[HealthCheck | None, int | None]:
    if value is None:
        return None, port
    if not isinstance(value, Mapping):
        r.fail("healthcheck", "must be a mapping")
        return None, port
    if value.get("disable") is True or value.get("test") in (["NONE"], "NONE"):
        r.skip("healthcheck", "is disabled")
        return None, port
    probe = probe_of(value.get("test"))
    if probe is None:
        r.skip("healthcheck.test", "not an HTTP (curl/wget of a localhost URL) or TCP (nc -z) check")
        return None, port
    kind, path, probe_port = probe
    if port is None:
        port = probe_port
    elif probe_port != port:
        r.skip("healthcheck.test", f"checks port {probe_port}, but the service's port is {port}")
        return None, port
    interval = duration_s(value.get("interval")) or 30.0
    timeout = min(duration_s(value.get("timeout")) or 30.0, interval)
    retries = value.get("retries", 3)
    if isinstance(retries, bool) or not isinstance(retries, int):
        r.fail("healthcheck.retries", "must be a whole number")
        retries = 3
    for key in sorted(set(value) - {"test", "interval", "timeout", "retries", "start_period"}):
        r.skip(f"healthcheck.{key}", "not supported by DeployKit")
    check = HealthCheck(
        type=kind,
        path=path,
        interval_s=min(max(interval, 0.1), 3600.0),
        timeout_s=min(max(timeout, 0.1), 600.0),
        unhealthy_threshold=min(max(retries, 1), 100),
        start_period_s=min(duration_s(value.get("start_period")) or 0.0, 3600.0),
    )
    return check, port


def read_restart(r: Reader, value: Any) -> RestartPolicy:
    if value is None:
        return RestartPolicy.UNLESS_STOPPED
    text = str(value).split(":", 1)[0]
    try:
        policy = RestartPolicy(text)
    except ValueError:
        r.fail("restart", "must be no, always, unless-stopped or on-failure")
        return RestartPolicy.UNLESS_STOPPED
    if text != str(value):
        r.skip("restart", "the retry count of on-failure is not supported")
    return policy


def read_depends(r: Reader, value: Any, names: set[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        deps = [str(k) for k in value]
    elif isinstance(value, list) and all(isinstance(d, str) for d in value):
        deps = list(value)
    else:
        r.fail("depends_on", "must be a list of service names or a mapping")
        return []
    for dep in deps:
        if dep not in names:
            r.fail("depends_on", f"names '{dep}', which is not a service of this file")
    return [d for d in deps if d in names]


def read_service(r: Reader, svc: Mapping[str, Any], names: set[str]) -> ComposeService | None:
    validate_service_name(r.name, r.errors, r.path("name"))
    source = read_source(r, svc)
    port = read_port(r, svc)
    env = read_env(r, svc.get("environment"))
    volumes = read_volumes(r, svc.get("volumes"))
    command = None
    if svc.get("command") is not None:
        command = as_argv(svc["command"])
        if not command:
            r.fail("command", "must be a non-empty string or list of strings")
    replicas, resources = read_resources(r, svc)
    health, port = read_health(r, svc.get("healthcheck"), port)
    policy = read_restart(r, svc.get("restart"))
    depends = read_depends(r, svc.get("depends_on"), names)
    for key in sorted(set(svc) - SERVICE_KEYS):
        r.skip(key, IGNORED_SERVICE.get(key, "not supported by DeployKit"))
    if source is None:
        return None
    config = ServiceConfig(
        source=source,
        port=port,
        command=command,
        replicas=replicas,
        resources=resources,
        volumes=volumes,
        health_check=health,
        restart_policy=policy,
    )
    errors = FieldErrors()
    config.validate(errors)
    r.errors.merge(errors, prefix=r.path() + ".")
    try:
        validate_env_map(env, "-")
    except ValidationError as exc:
        r.errors.merge(FieldErrors(exc.fields), prefix=r.path() + ".")
    return ComposeService(r.name, config, env, depends)


def layout(
    services: list[ComposeService], occupied: Iterable[tuple[float, float, float, float]]
) -> list[ComposeService]:
    """Columns by dependency depth (dependencies left of their dependents), below every node
    already on the canvas (``occupied``: x, y, width, height), so no two nodes overlap."""
    top = max((y + h for _, y, _, h in occupied), default=-GAP_Y) + GAP_Y
    depth: dict[str, int] = {}
    by_name = {s.name: s for s in services}

    def depth_of(name: str, seen: frozenset[str]) -> int:
        if name not in depth:
            deps = [d for d in by_name[name].depends_on if d not in seen]
            depth[name] = 1 + max((depth_of(d, seen | {name}) for d in deps), default=-1)
        return depth[name]

    rows: dict[int, int] = {}
    placed = []
    for s in services:
        col = depth_of(s.name, frozenset())
        row = rows.get(col, 0)
        rows[col] = row + 1
        x, y = col * (NODE_W + GAP_X), top + row * (NODE_H + GAP_Y)
        placed.append(ComposeService(s.name, s.config, s.env, s.depends_on, (x, y)))
    return placed


def translate(
    doc: Any, *, repo: GitRepo | None = None, occupied: Iterable[tuple[float, float, float, float]] = ()
) -> ComposeImport:
    """What a parsed compose file stages. Raises ``invalid`` naming every field it cannot read."""
    if not isinstance(doc, Mapping):
        raise ValidationError({"compose": ["must be a YAML mapping with a 'services' key"]})
    services = doc.get("services")
    if not isinstance(services, Mapping) or not services:
        raise ValidationError({"compose.services": ["must be a mapping of at least one service"]})
    if len(services) > MAX_SERVICES:
        raise ValidationError({"compose.services": [f"must be at most {MAX_SERVICES} services"]})
    skipped: list[Skipped] = []
    for key in doc:
        if key in IGNORED_TOP:
            skipped.append(Skipped(str(key), IGNORED_TOP[str(key)]))
        elif key not in ("services", "volumes"):
            skipped.append(Skipped(str(key), "not supported by DeployKit"))
    errors = FieldErrors()
    names = {str(n) for n in services}
    out: list[ComposeService] = []
    mounts: dict[str, list[str]] = {}
    for name, svc in services.items():
        r = Reader(str(name), repo)
        if not isinstance(svc, Mapping):
            r.fail("", "must be a mapping")
        else:
            read = read_service(r, svc, names)
            if read is not None:
                out.append(read)
                for v in read.config.volumes:
                    mounts.setdefault(v.name, []).append(read.name)
        errors.merge(r.errors)
        skipped += r.skipped
    errors.raise_if_any()
    for volume, users in mounts.items():
        if len(users) > 1:
            skipped.append(
                Skipped(f"volumes.{volume}", f"shared by {', '.join(users)}: each gets its own volume in DeployKit")
            )
    declared = doc.get("volumes")
    if isinstance(declared, Mapping):
        for volume, spec in declared.items():
            if isinstance(spec, Mapping) and spec:
                skipped.append(Skipped(f"volumes.{volume}", "volume options (driver, external, name) are not used"))
    return ComposeImport(layout(out, occupied), skipped)
