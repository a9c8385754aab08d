"""What differs between two versions of a service, as people read it.

``config_drift``: a service's config against the deployment it runs (or is rolling out to). A
rollback makes the config equal to what runs; a failed deployment leaves the config the user asked
for, which then differs from what runs until it is deployed again or reverted. The UI shows every
difference before Deploy, and a Deploy (or Redeploy) of the service applies them. ``env_drift`` does
the same for the resolved variables (a value that changed counts, not only a key): each is a field
``env.KEY`` whose values the UI masks like every other variable value.

``change_summary``: a deployment against the service's previous one, in a few short lines
(``replicas: 1 → 2``, ``env: +API_KEY``) recorded on the deployment card. Env values are never
shown here, only which keys were added, changed or removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from deploykit.service import ServiceConfig
from deploykit.staged_diff import FieldDiff, field_diffs

MAX_SUMMARY = 8


def config_drift(config: ServiceConfig, deployed: ServiceConfig | None) -> list[FieldDiff]:
    """Each field whose value in ``config`` differs from ``deployed`` (before: the deployed value,
    after: the configured one; repository URLs redacted); nothing when no deployment runs."""
    if deployed is None:
        return []
    return field_diffs(deployed.to_dict(), config.to_dict(), created=False)


ENV_PREFIX = "env."


def env_drift(config_env: Mapping[str, str] | None, running_env: Mapping[str, str] | None) -> list[FieldDiff]:
    """Each variable whose resolved value now (``config_env``) differs from the one the running
    deployment got, as a field ``env.KEY`` (before: running, None when it had none; after: now,
    None when removed), by key; nothing when either side is unknown."""
    if config_env is None or running_env is None:
        return []
    keys = sorted(set(config_env) | set(running_env))
    return [
        FieldDiff(ENV_PREFIX + k, running_env.get(k), config_env.get(k))
        for k in keys
        if running_env.get(k) != config_env.get(k)
    ]


def service_drift(
    config: ServiceConfig,
    deployed: ServiceConfig | None,
    config_env: Mapping[str, str] | None = None,
    running_env: Mapping[str, str] | None = None,
) -> list[FieldDiff]:
    """``config_drift`` then ``env_drift``: everything a Deploy of the service would change in what runs."""
    if deployed is None:
        return []
    return config_drift(config, deployed) + env_drift(config_env, running_env)


def short(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 40 else text[:39] + "…"


def change_summary(
    previous: tuple[ServiceConfig, Mapping[str, str], str | None] | None,
    current: tuple[ServiceConfig, Mapping[str, str], str | None],
) -> list[str]:
    """What changed from ``previous`` to ``current`` (each: config, resolved env, commit): one
    line per changed field, one for the env keys, one for the commit; at most ``MAX_SUMMARY``
    lines (the last says how many more). Empty for a first deployment or no change."""
    if previous is None:
        return []
    (old_config, old_env, old_commit), (config, env, commit) = previous, current
    lines = [f"{d.field}: {short(d.before)} → {short(d.after)}" for d in config_drift(config, old_config)]
    env_ops = [f"+{k}" for k in env if k not in old_env]
    env_ops += [f"~{k}" for k in env if k in old_env and old_env[k] != env[k]]
    env_ops += [f"-{k}" for k in old_env if k not in env]
    if env_ops:
        lines.append("env: " + ", ".join(sorted(env_ops, key=lambda op: op[1:])))
    if commit and old_commit and commit != old_commit:
        lines.append(f"commit: {old_commit[:7]} → {commit[:7]}")
    if len(lines) > MAX_SUMMARY:
        lines = [*lines[: MAX_SUMMARY - 1], f"and {len(lines) - MAX_SUMMARY + 1} more"]
    return lines
