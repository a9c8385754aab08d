"""References between services' variables: ``${{name.HOST}}`` and ``${{name.PORT}}`` (how the
service ``name`` is reached on the project network) and ``${{name.VAR}}`` (the value of its
variable ``VAR``, itself resolved: a database's ``DATABASE_URL`` can refer to its own host).

A reference that does not resolve (no such service, no such variable, a port the service does not
have, a cycle) is left literal, and said why: the UI warns about it when staging and at Deploy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

REFERENCE_RE = re.compile(r"\$\{\{\s*([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
ADDRESS_ATTRS = frozenset({"HOST", "PORT"})
MAX_DEPTH = 8


@dataclass(frozen=True)
class ServiceAddress:
    """How other services reach a service: its network alias and port."""

    host: str
    port: int | None


@dataclass(frozen=True)
class ResolvedEnv:
    values: dict[str, str]
    references: dict[str, frozenset[str]] = field(default_factory=dict)
    """For each key, the service names its value referred to (resolved or not)."""
    problems: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """For each key whose value holds a reference that did not resolve, why not."""


@dataclass(frozen=True)
class Resolution:
    value: str
    problems: tuple[str, ...] = ()


def find_references(value: str) -> list[tuple[str, str]]:
    """The ``(service_name, HOST|PORT|VAR)`` pairs referenced in ``value``, in order."""
    return [(m.group(1), m.group(2)) for m in REFERENCE_RE.finditer(value)]


def overlay(*layers: Mapping[str, str]) -> dict[str, str]:
    """Later layers win: ``overlay(project, group, service)``."""
    out: dict[str, str] = {}
    for layer in layers:
        out.update(layer)
    return out


@dataclass(frozen=True)
class References:
    """What references can resolve against: each service's address and its unresolved
    variables (project < group < service already overlaid), by service name."""

    addresses: Mapping[str, ServiceAddress]
    envs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def resolve(self, value: str) -> Resolution:
        problems: list[str] = []
        out = self._resolve(value, (), problems)
        return Resolution(out, tuple(dict.fromkeys(problems)))

    def _resolve(self, value: str, seen: tuple[tuple[str, str], ...], problems: list[str]) -> str:
        def substitute(match: re.Match[str]) -> str:
            name, attr = match.group(1), match.group(2)
            literal = "${{" + name + "." + attr + "}}"
            address = self.addresses.get(name)
            if address is None:
                problems.append(f"{literal}: no service is named '{name}'")
                return match.group(0)
            if attr == "HOST":
                return address.host
            if attr == "PORT":
                if address.port is None:
                    problems.append(f"{literal}: '{name}' has no port")
                    return match.group(0)
                return str(address.port)
            target = self.envs.get(name, {}).get(attr)
            if target is None:
                problems.append(f"{literal}: '{name}' has no variable {attr}")
                return match.group(0)
            if (name, attr) in seen or len(seen) >= MAX_DEPTH:
                problems.append(f"{literal}: refers back to itself")
                return match.group(0)
            return self._resolve(target, (*seen, (name, attr)), problems)

        return REFERENCE_RE.sub(substitute, value)


def resolve_env(
    project_vars: Mapping[str, str],
    group_vars: Mapping[str, str],
    service_vars: Mapping[str, str],
    addresses: Mapping[str, ServiceAddress],
    envs: Mapping[str, Mapping[str, str]] | None = None,
) -> ResolvedEnv:
    """Overlay the scopes, then substitute references to services in ``addresses`` (keyed by
    service name) and to their variables in ``envs``. What does not resolve is left literal so
    that the user can see it, and listed in ``problems``."""
    refs = References(addresses, envs or {})
    merged = overlay(project_vars, group_vars, service_vars)
    values: dict[str, str] = {}
    references: dict[str, frozenset[str]] = {}
    problems: dict[str, tuple[str, ...]] = {}
    for key, value in merged.items():
        resolution = refs.resolve(value)
        values[key] = resolution.value
        names = {name for name, _ in find_references(value)}
        if names:
            references[key] = frozenset(names)
        if resolution.problems:
            problems[key] = resolution.problems
    return ResolvedEnv(values=values, references=references, problems=problems)


def rename_references(value: str, old: str, new: str) -> str:
    """Rewrite ``${{old.X}}`` to refer to ``new`` (a service rename)."""

    def sub(match: re.Match[str]) -> str:
        if match.group(1) != old:
            return match.group(0)
        return "${{" + new + "." + match.group(2) + "}}"

    return REFERENCE_RE.sub(sub, value)
