"""Deploying from git: push webhooks, their deliveries, deploy keys."""

from __future__ import annotations

from datetime import datetime

from typing_extensions import TypedDict

from deploykit.build import DeployKeyPair
from deploykit.webhook import DeliveryStatus, Provider, Webhook, WebhookDelivery


class WebhookOut(TypedDict):
    id: str
    provider: Provider
    url: str
    secret: str
    enabled: bool
    created_at: datetime | None


def webhook_out(hook: Webhook, url: str) -> WebhookOut:
    """``url`` is where the provider delivers: it depends on the address the API was reached at."""
    return {
        "id": hook.id,
        "provider": hook.provider,
        "url": url,
        "secret": hook.secret,
        "enabled": hook.enabled,
        "created_at": hook.created_at,
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
    }


class DeliveryList(TypedDict):
    data: list[DeliveryOut]


class DeployKeyOut(TypedDict):
    public_key: str
    fingerprint: str


def deploy_key_out(pair: DeployKeyPair) -> DeployKeyOut:
    return {"public_key": pair.public_key, "fingerprint": pair.fingerprint}  # never the private half
