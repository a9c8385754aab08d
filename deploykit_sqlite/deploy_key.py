"""Deploy keys on SQLite: one SSH key pair per service, the private half sealed at rest, and the
git remote's host keys pinned on first use (``deploykit.build.DeployKeyService``)."""

from __future__ import annotations

from deploykit.build import DeployKeyPair
from deploykit.bus import Event, EventType
from deploykit.errors import not_found
from deploykit_sqlite.db import DB, to_text
from deploykit_sqlite.service import load_service


class DeployKeyStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def get_deploy_key(self, service_id: str) -> DeployKeyPair:
        """Raises ``not_found`` (no key yet, or no such service)."""
        async with self.db.read() as tx:
            row = await tx.fetchone("SELECT * FROM deploy_keys WHERE service_id = ?", (service_id,))
            if row is None:
                raise not_found("Deploy key")
            return DeployKeyPair(
                public_key=row["public_key"], fingerprint=row["fingerprint"], private_key=tx.unseal(row["private_key"])
            )

    async def set_deploy_key(self, service_id: str, pair: DeployKeyPair) -> DeployKeyPair:
        """Store (or rotate to) ``pair``. Raises ``not_found``."""
        async with self.db.tx() as tx:
            service = await load_service(tx, service_id)
            await tx.execute(
                "INSERT INTO deploy_keys (service_id, public_key, fingerprint, private_key, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (service_id) DO UPDATE SET public_key = excluded.public_key, "
                "fingerprint = excluded.fingerprint, private_key = excluded.private_key, "
                "created_at = excluded.created_at",
                (service_id, pair.public_key, pair.fingerprint, tx.seal(pair.private_key), to_text(tx.now())),
            )
            tx.publish(
                Event(
                    EventType.DEPLOY_KEY_SET,
                    service.project_id,
                    service.id,
                    payload={"fingerprint": pair.fingerprint},
                    at=tx.now(),
                )
            )
        return pair

    async def delete_deploy_key(self, service_id: str) -> None:
        """Raises ``not_found``."""
        async with self.db.tx() as tx:
            if await tx.execute("DELETE FROM deploy_keys WHERE service_id = ?", (service_id,)) == 0:
                raise not_found("Deploy key")
            service = await load_service(tx, service_id)
            tx.publish(Event(EventType.DEPLOY_KEY_DELETED, service.project_id, service.id, at=tx.now()))

    async def get_known_hosts(self, service_id: str) -> str | None:
        async with self.db.read() as tx:
            row = await tx.fetchone("SELECT known_hosts FROM known_hosts WHERE service_id = ?", (service_id,))
            return None if row is None else str(row["known_hosts"])

    async def set_known_hosts(self, service_id: str, known_hosts: str) -> None:
        """Raises ``not_found``."""
        async with self.db.tx() as tx:
            await load_service(tx, service_id)
            await tx.execute(
                "INSERT INTO known_hosts (service_id, known_hosts, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (service_id) DO UPDATE SET known_hosts = excluded.known_hosts, "
                "updated_at = excluded.updated_at",
                (service_id, known_hosts, to_text(tx.now())),
            )
