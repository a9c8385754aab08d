"""Service configs as stored: credentials in a git repository URL (``https://user:token@host/...``)
never reach the ``config`` column in the clear. The column keeps the redacted URL (so a reader of
the database file learns the repository, not the token) and the sealed real one beside it."""

from __future__ import annotations

import base64
import json
from typing import Any

from deploykit.repository import has_credentials, redact_url
from deploykit.service import ServiceConfig
from deploykit_sqlite.db import Tx, dumps

SEALED = "repo_url_sealed"
"""The key beside ``source.repo_url`` that holds the sealed real URL (base64 of nonce||ciphertext)."""


def encode_config(tx: Tx, config: ServiceConfig) -> str:
    return dumps(seal_source(tx, config.to_dict()))


def seal_source(tx: Tx, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a config as a dict) with a credential-bearing repository URL sealed."""
    source = data.get("source")
    url = source.get("repo_url") if isinstance(source, dict) else None
    if not isinstance(source, dict) or not isinstance(url, str) or not has_credentials(url):
        return data
    sealed = base64.b64encode(tx.seal(url)).decode()
    return {**data, "source": {**source, "repo_url": redact_url(url), SEALED: sealed}}


def decode_config(tx: Tx, text: str) -> ServiceConfig:
    data = json.loads(text)
    source = data.get("source")
    if isinstance(source, dict) and SEALED in source:
        source = dict(source)
        source["repo_url"] = tx.unseal(base64.b64decode(source.pop(SEALED)))
        data["source"] = source
    return ServiceConfig.from_dict(data)


async def seal_stored_credentials(tx: Tx) -> int:
    """Seal the repository credentials of services and deployments stored before they were sealed;
    how many rows changed. Rows without such credentials are left byte for byte as they are."""
    changed = 0
    for table in ("services", "deployments"):
        rows = await tx.fetchall(f"SELECT id, config FROM {table} WHERE config LIKE '%://%@%'")
        for row in rows:
            data = json.loads(row["config"])
            source = data.get("source")
            if isinstance(source, dict) and SEALED in source:
                continue
            sealed = seal_source(tx, data)
            if sealed is not data:
                await tx.execute(f"UPDATE {table} SET config = ? WHERE id = ?", (dumps(sealed), row["id"]))
                changed += 1
    return changed
