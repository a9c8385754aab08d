"""DomainService on SQLite: the generated hostname of each service with a port, and custom ones.

Adding or removing a custom domain publishes ``domain.added|removed`` after commit; the reconciler
follows it and sends the service's route with its new hostnames. The generated hostname changes
only with an apply, whose ``service.updated`` already wakes the reconciler."""

from __future__ import annotations

import sqlite3

from deploykit.bus import Event, EventType
from deploykit.errors import INVALID, Error, FieldErrors, not_found
from deploykit.ingress import Domain, TLSStatus, generated_hostname, normalize_hostname, validate_hostname
from deploykit.service import Service
from deploykit_sqlite.db import DB, Tx, from_text, to_text
from deploykit_sqlite.service import load_service


def row_to_domain(row: sqlite3.Row) -> Domain:
    return Domain(
        hostname=row["hostname"],
        project_id=row["project_id"],
        service_id=row["service_id"],
        is_generated=bool(row["is_generated"]),
        dns_ok=None if row["dns_ok"] is None else bool(row["dns_ok"]),
        tls_status=TLSStatus(row["tls_status"]),
        created_at=from_text(row["created_at"]),
    )


def domain_event(type: EventType, domain: Domain, tx: Tx) -> Event:
    """``domain.added|removed``: the reconciler sends the service's route again."""
    return Event(type, domain.project_id, domain.service_id, {"hostname": domain.hostname}, tx.now())


def hostname_taken(hostname: str) -> str:
    return f"The hostname '{hostname}' is already in use."


async def insert_domain(tx: Tx, service: Service, hostname: str, generated: bool) -> Domain:
    await tx.execute(
        "INSERT INTO domains (hostname, project_id, service_id, is_generated, tls_status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (hostname, service.project_id, service.id, int(generated), TLSStatus.PENDING.value, to_text(tx.now())),
        conflict=hostname_taken(hostname),
        missing=not_found("Service"),
    )
    row = await tx.fetchone("SELECT * FROM domains WHERE hostname = ?", (hostname,))
    assert row is not None
    return row_to_domain(row)


async def sync_generated_domain(tx: Tx, service: Service, project_slug: str) -> None:
    """A public service with a port has ``{service}-{project}.{base_domain}``; any other has none."""
    current = await tx.scalar("SELECT hostname FROM domains WHERE service_id = ? AND is_generated = 1", (service.id,))
    if service.config.port is None or not service.public:
        if current is not None:
            await tx.execute("DELETE FROM domains WHERE hostname = ?", (current,))
        return
    if current is None:
        hostname = generated_hostname(service.slug, project_slug, tx.db.base_domain)
        await insert_domain(tx, service, hostname, generated=True)


class DomainStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def list_domains(self, service_id: str) -> list[Domain]:
        async with self.db.read() as tx:
            await load_service(tx, service_id)
            rows = await tx.fetchall(
                "SELECT * FROM domains WHERE service_id = ? ORDER BY is_generated DESC, hostname", (service_id,)
            )
        return [row_to_domain(r) for r in rows]

    async def list_all_domains(self) -> list[Domain]:
        async with self.db.read() as tx:
            rows = await tx.fetchall("SELECT * FROM domains ORDER BY service_id, is_generated DESC, hostname")
        return [row_to_domain(r) for r in rows]

    async def add_domain(self, service_id: str, hostname: str, *, generated: bool = False) -> Domain:
        errors = FieldErrors()
        validate_hostname(hostname, errors)
        errors.raise_if_any()
        async with self.db.tx() as tx:
            service = await load_service(tx, service_id)
            domain = await insert_domain(tx, service, normalize_hostname(hostname), generated)
            tx.publish(domain_event(EventType.DOMAIN_ADDED, domain, tx))
            return domain

    async def delete_domain(self, service_id: str, hostname: str) -> None:
        async with self.db.tx() as tx:
            row = await tx.fetchone(
                "SELECT * FROM domains WHERE hostname = ? AND service_id = ?",
                (normalize_hostname(hostname), service_id),
            )
            if row is None:
                raise not_found("Domain")
            if row["is_generated"]:
                raise Error(INVALID, "The generated domain cannot be removed.")
            await tx.execute("DELETE FROM domains WHERE hostname = ?", (row["hostname"],))
            tx.publish(domain_event(EventType.DOMAIN_REMOVED, row_to_domain(row), tx))

    async def update_domain_status(self, hostname: str, *, dns_ok: bool | None, tls_status: TLSStatus) -> Domain:
        async with self.db.tx() as tx:
            name = normalize_hostname(hostname)
            changed = await tx.execute(
                "UPDATE domains SET dns_ok = ?, tls_status = ? WHERE hostname = ?",
                (None if dns_ok is None else int(dns_ok), TLSStatus(tls_status).value, name),
            )
            if not changed:
                raise not_found("Domain")
            row = await tx.fetchone("SELECT * FROM domains WHERE hostname = ?", (name,))
        assert row is not None
        return row_to_domain(row)
