"""The Store: one database and every storage service built on it."""

from __future__ import annotations

import logging
from pathlib import Path

from deploykit.bus import EventBus
from deploykit.clock import Clock, SystemClock
from deploykit_sqlite.audit import AuditStore
from deploykit_sqlite.auth import AuthStore
from deploykit_sqlite.backup_record import BackupRecordStore
from deploykit_sqlite.canvas import CanvasStore
from deploykit_sqlite.cipher import Cipher
from deploykit_sqlite.container import ContainerStore
from deploykit_sqlite.db import DB
from deploykit_sqlite.deploy_key import DeployKeyStore
from deploykit_sqlite.deployment import DeploymentStore
from deploykit_sqlite.domain import DomainStore
from deploykit_sqlite.envvar import EnvVarStore
from deploykit_sqlite.health import HealthRecordStore
from deploykit_sqlite.metrics import MetricsStore
from deploykit_sqlite.notification import ChannelStore
from deploykit_sqlite.passwords import DEFAULT_ROUNDS, PasswordHasher
from deploykit_sqlite.pending_change import PendingChangeStore
from deploykit_sqlite.preview import PreviewStore
from deploykit_sqlite.project import ProjectStore
from deploykit_sqlite.sealed_config import seal_stored_credentials
from deploykit_sqlite.service import ServiceStore
from deploykit_sqlite.user import UserStore
from deploykit_sqlite.webhook import WebhookStore

log = logging.getLogger(__name__)


class Store:
    """Every SQLite-backed service of DeployKit on one connection.

    ``path`` is the database file or ``":memory:"``; ``data_dir`` holds the AES key file (an
    in-memory key is used when it is None). The constructor does no I/O; call ``open()``.
    ``bcrypt_rounds`` exists so that tests can hash quickly.
    """

    def __init__(
        self,
        *,
        path: str,
        bus: EventBus,
        data_dir: str | Path | None = None,
        clock: Clock | None = None,
        base_domain: str = "localhost",
        bcrypt_rounds: int = DEFAULT_ROUNDS,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.db = DB(path=str(path), cipher=None, bus=bus, clock=clock or SystemClock(), base_domain=base_domain)
        self.hasher = hasher = PasswordHasher(bcrypt_rounds)
        self.projects = ProjectStore(self.db)
        self.users = UserStore(self.db, hasher)
        self.auth = AuthStore(self.db, hasher)
        self.services = ServiceStore(self.db)
        self.deployments = DeploymentStore(self.db)
        self.containers = ContainerStore(self.db)
        self.canvas = CanvasStore(self.db)
        self.env_vars = EnvVarStore(self.db)
        self.pending_changes = PendingChangeStore(self.db)
        self.webhooks = WebhookStore(self.db)
        self.previews = PreviewStore(self.db)
        self.domains = DomainStore(self.db)
        self.health = HealthRecordStore(self.db)
        self.metrics = MetricsStore(self.db)
        self.deploy_keys = DeployKeyStore(self.db)
        self.backups = BackupRecordStore(self.db)
        self.audit = AuditStore(self.db)
        self.notification_channels = ChannelStore(self.db)

    @property
    def path(self) -> str:
        return self.db.path

    async def open(self) -> None:
        """Load or create the key, connect, and run pending migrations."""
        self.db.set_cipher(Cipher.from_data_dir(self.data_dir) if self.data_dir is not None else Cipher.ephemeral())
        await self.db.open()
        async with self.db.tx() as tx:
            sealed = await seal_stored_credentials(tx)
        if sealed:
            log.info("sealed the repository credentials of %d stored configs", sealed)
        await self.hasher.prepare()

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> bool:
        """Whether the database answers a query. Never raises."""
        return await self.db.ping()

    def data_version(self) -> int | None:
        """A number that changes whenever a transaction commits, in this process or another;
        None for an in-memory database or when the database does not answer. Never raises."""
        return self.db.data_version()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
