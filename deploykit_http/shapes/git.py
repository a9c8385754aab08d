"""Deploying from git: push webhooks, their deliveries, deploy keys."""

from __future__ import annotations

from datetime import datetime

from typing_extensions import TypedDict

from deploykit.build import DeployKeyPair
from deploykit.preview import Preview, PreviewAction
from deploykit.webhook import DeliveryStatus, Provider, Webhook, WebhookDelivery


class WebhookOut(TypedDict):
    id: str
    provider: Provider
    url: str
    secret: str
    enabled: bool
    created_at: datetime | None
    previews: bool
    max_previews: int
    previews_from_forks: bool


def webhook_out(hook: Webhook, url: str) -> WebhookOut:
    """``url`` is where the provider delivers: it depends on the address the API was reached at."""
    return {
        "id": hook.id,
        "provider": hook.provider,
        "url": url,
        "secret": hook.secret,
        "enabled": hook.enabled,
        "created_at": hook.created_at,
        "previews": hook.previews,
        "max_previews": hook.max_previews,
        "previews_from_forks": hook.previews_from_forks,
    }


class DeliveryOut(TypedDict):
    id: str
    event: str
    branch: str | None
    commit_sha: str | None
    author: str | None
    message: str | None
    status: DeliveryStatus
    reason: str | None
    deployment_id: str | None
    delivered_at: datetime | None
    preview_number: int | None
    preview_action: PreviewAction | None


def delivery_out(d: WebhookDelivery) -> DeliveryOut:
    return {
        "id": d.id,
        "event": d.event,
        "branch": d.branch,
        "commit_sha": d.commit_sha,
        "author": d.author,
        "message": d.message,
        "status": d.status,
        "reason": d.reason,
        "deployment_id": d.deployment_id,
        "delivered_at": d.delivered_at,
        "preview_number": d.preview_number,
        "preview_action": PreviewAction(d.preview_action) if d.preview_action else None,
    }


class DeliveryList(TypedDict):
    data: list[DeliveryOut]


class DeployKeyOut(TypedDict):
    public_key: str
    fingerprint: str


def deploy_key_out(pair: DeployKeyPair) -> DeployKeyOut:
    return {"public_key": pair.public_key, "fingerprint": pair.fingerprint}  # never the private half


class PreviewOut(TypedDict):
    id: str
    number: int
    title: str
    url: str | None
    """The pull/merge request's page."""
    head_ref: str
    head_sha: str
    author: str | None
    hostname: str | None
    """The preview's generated domain (none when the service has no port)."""
    status: str | None
    """The newest deployment's status: pending, building, starting, healthy, failed, cancelled."""
    deployment_id: str | None
    preview_service_id: str
    """The hidden service that runs it: its deployments and logs are under its id."""
    created_at: datetime | None
    updated_at: datetime | None


def preview_out(p: Preview) -> PreviewOut:
    return {
        "id": p.id,
        "number": p.number,
        "title": p.title,
        "url": p.url,
        "head_ref": p.head_ref,
        "head_sha": p.head_sha,
        "author": p.author,
        "hostname": p.hostname,
        "status": p.status,
        "deployment_id": p.deployment_id,
        "preview_service_id": p.preview_service_id,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }


class PreviewList(TypedDict):
    data: list[PreviewOut]


class PreviewVarsOut(TypedDict):
    vars: dict[str, str]
