"""Database presets: ready-made service templates with generated secrets.

A preset's ``render()`` gives what the UI stages as a ``service.create``: the config (image, port,
volume, health check) and the env vars, with fresh random passwords each time.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from deploykit.errors import not_found
from deploykit.health import HealthCheck, HealthCheckType
from deploykit.service import ImageSource, ServiceConfig, Volume


def generate_secret(nbytes: int = 18) -> str:
    """URL- and shell-safe random text (no quoting needed in connection strings)."""
    return secrets.token_urlsafe(nbytes).replace("-", "x").replace("_", "y")


@dataclass(frozen=True)
class RenderedPreset:
    """A preset made concrete: the service to stage and its variables, secrets generated."""

    id: str
    name: str
    description: str
    service_name: str
    config: ServiceConfig
    env_vars: dict[str, str]
    connection_url: str


@dataclass(frozen=True)
class Preset:
    id: str
    name: str
    description: str
    image: str
    port: int
    mount_path: str
    env: dict[str, str] = field(default_factory=dict)
    """Values may hold ``{secret}`` placeholders, each replaced by one generated secret."""
    connection_url: str = ""
    """A template for other services, e.g. ``postgres://u:{secret}@${{name.HOST}}:${{name.PORT}}/db``."""
    url_var: str = "DATABASE_URL"
    """The variable of the service that holds ``connection_url``, for other services to refer to
    (``${{db.DATABASE_URL}}``): the connection string lives in one place."""

    def render(self, service_name: str | None = None) -> RenderedPreset:
        """The preset with generated secrets, for a service named ``service_name``."""
        secret = generate_secret()
        name = service_name or self.id
        config = ServiceConfig(
            source=ImageSource(self.image),
            port=self.port,
            volumes=[Volume("data", self.mount_path)],
            health_check=HealthCheck(type=HealthCheckType.TCP, path="/", interval_s=5, timeout_s=2),
        )
        env = {key: value.replace("{secret}", secret) for key, value in self.env.items()}
        url = self.connection_url.replace("{secret}", secret).replace("{name}", name)
        if url:
            env[self.url_var] = url
        return RenderedPreset(
            id=self.id,
            name=self.name,
            description=self.description,
            service_name=name,
            config=config,
            env_vars=env,
            connection_url=url,
        )


PRESETS: tuple[Preset, ...] = (
    Preset(
        id="postgres",
        name="PostgreSQL",
        description="PostgreSQL 16 with a data volume.",
        image="postgres:16",
        port=5432,
        mount_path="/var/lib/postgresql/data",
        env={
            "POSTGRES_USER": "app",
            "POSTGRES_PASSWORD": "{secret}",
            "POSTGRES_DB": "app",
            "PGDATA": "/var/lib/postgresql/data/pgdata",
        },
        connection_url="postgres://app:{secret}@${{{name}.HOST}}:${{{name}.PORT}}/app",
    ),
    Preset(
        id="mysql",
        name="MySQL",
        description="MySQL 8 with a data volume.",
        image="mysql:8.4",
        port=3306,
        mount_path="/var/lib/mysql",
        env={"MYSQL_ROOT_PASSWORD": "{secret}", "MYSQL_DATABASE": "app"},
        connection_url="mysql://root:{secret}@${{{name}.HOST}}:${{{name}.PORT}}/app",
    ),
    Preset(
        id="mariadb",
        name="MariaDB",
        description="MariaDB 11 with a data volume.",
        image="mariadb:11",
        port=3306,
        mount_path="/var/lib/mysql",
        env={"MARIADB_ROOT_PASSWORD": "{secret}", "MARIADB_DATABASE": "app"},
        connection_url="mysql://root:{secret}@${{{name}.HOST}}:${{{name}.PORT}}/app",
    ),
    Preset(
        id="redis",
        name="Redis",
        description="Redis 7 with append-only persistence and a password.",
        image="redis:7",
        port=6379,
        mount_path="/data",
        env={"REDIS_PASSWORD": "{secret}", "REDIS_ARGS": "--appendonly yes --requirepass {secret}"},
        connection_url="redis://:{secret}@${{{name}.HOST}}:${{{name}.PORT}}",
        url_var="REDIS_URL",
    ),
    Preset(
        id="mongodb",
        name="MongoDB",
        description="MongoDB 7 with a data volume.",
        image="mongo:7",
        port=27017,
        mount_path="/data/db",
        env={"MONGO_INITDB_ROOT_USERNAME": "app", "MONGO_INITDB_ROOT_PASSWORD": "{secret}"},
        connection_url="mongodb://app:{secret}@${{{name}.HOST}}:${{{name}.PORT}}",
        url_var="MONGODB_URL",
    ),
)


def get_preset(id: str) -> Preset:
    """Raises ``not_found``."""
    for preset in PRESETS:
        if preset.id == id:
            return preset
    raise not_found("Preset")
