"""Push webhooks from GitHub and GitLab, and their verification."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Provider(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"


class DeliveryStatus(StrEnum):
    SUCCESS = "success"
    SKIPPED = "skipped"
    FAILED = "failed"


def verify_github_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Check ``X-Hub-Signature-256`` (``sha256=<hex HMAC-SHA256 of the raw body>``) in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def verify_gitlab_token(secret: str, header: str | None) -> bool:
    """Check ``X-Gitlab-Token`` against the secret in constant time."""
    if not header:
        return False
    return hmac.compare_digest(secret.encode(), header.encode())


@dataclass(frozen=True)
class PushEvent:
    branch: str | None
    commit_sha: str | None
    author: str | None
    message: str | None


def _branch(ref: Any) -> str | None:
    if isinstance(ref, str) and ref.startswith("refs/heads/"):
        return ref.removeprefix("refs/heads/")
    return None


def parse_github_push(payload: dict[str, Any]) -> PushEvent:
    head = payload.get("head_commit") or {}
    author = (head.get("author") or {}).get("name") or (payload.get("pusher") or {}).get("name")
    return PushEvent(
        branch=_branch(payload.get("ref")),
        commit_sha=payload.get("after") or head.get("id"),
        author=author,
        message=head.get("message"),
    )


def parse_gitlab_push(payload: dict[str, Any]) -> PushEvent:
    sha = payload.get("checkout_sha") or payload.get("after")
    commits = payload.get("commits") or []
    head = next((c for c in commits if c.get("id") == sha), commits[-1] if commits else {})
    return PushEvent(
        branch=_branch(payload.get("ref")),
        commit_sha=sha,
        author=(head.get("author") or {}).get("name") or payload.get("user_name"),
        message=head.get("message"),
    )


@dataclass
class Webhook:
    id: str
    service_id: str
    provider: Provider
    secret: str
    enabled: bool = True
    created_at: datetime | None = None
    previews: bool = False
    """Run pull/merge requests as previews (``deploykit.preview``)."""
    max_previews: int = 3
    """At most this many previews of the service at once; a request beyond is skipped."""
    previews_from_forks: bool = False
    """Also preview requests from forks. Off by default: a fork's code, written by anyone, would run
    with the preview scope's variables."""


@dataclass
class WebhookDelivery:
    id: str
    webhook_id: str
    event: str
    status: DeliveryStatus
    delivery_key: str | None = None
    branch: str | None = None
    commit_sha: str | None = None
    author: str | None = None
    message: str | None = None
    reason: str | None = None
    deployment_id: str | None = None
    delivered_at: datetime | None = None
    preview_number: int | None = None
    """The pull/merge request a delivery was about, if any."""
    preview_action: str | None = None
    """What it did to that request's preview (``PreviewAction``)."""
    body_sha256: str | None = None
    """Of a signed push's body, so that the same body re-sent under another delivery id is
    known again (``find_delivery_by_body``)."""


class WebhookService(Protocol):
    async def get_webhook(self, id: str) -> Webhook:
        """Raises ``not_found``."""
        ...

    async def get_service_webhook(self, service_id: str) -> Webhook:
        """Raises ``not_found``."""
        ...

    async def create_webhook(self, service_id: str, provider: Provider) -> Webhook:
        """Replaces an existing one with a new secret. Raises ``not_found``, ``invalid`` (not a git
        service)."""
        ...

    async def update_webhook(
        self,
        service_id: str,
        *,
        enabled: bool | None = None,
        previews: bool | None = None,
        max_previews: int | None = None,
        previews_from_forks: bool | None = None,
    ) -> Webhook:
        """Turns the service's webhook on or off (a disabled one records deliveries as skipped),
        and its previews (also of requests from forks); None leaves a setting as it is. Raises ``not_found``, ``invalid``
        (``max_previews`` out of range)."""
        ...

    async def delete_webhook(self, service_id: str) -> None:
        """Removes the service's previews too (no delivery could close them any more). Raises
        ``not_found``."""
        ...

    async def record_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        """Raises ``conflict`` for a repeated ``delivery_key`` of the same webhook. Deliveries
        without a key (refused signatures) are kept only as a bounded recent history, so that
        unsigned requests cannot grow the table without end; keyed ones are all kept, since
        their keys are what stops a captured delivery from being replayed."""
        ...

    async def get_delivery(self, webhook_id: str, id: str) -> WebhookDelivery:
        """Raises ``not_found`` (also for another webhook's delivery)."""
        ...

    async def find_delivery(self, webhook_id: str, delivery_key: str) -> WebhookDelivery | None:
        """The delivery of this webhook with ``delivery_key``, if one was received."""
        ...

    async def find_delivery_by_body(self, webhook_id: str, body_sha256: str) -> WebhookDelivery | None:
        """A delivery of this webhook received with this body and not failed, if any: a sender may
        retry a delivery that failed, but a body that deployed (or was skipped) is a replay."""
        ...

    async def list_deliveries(self, webhook_id: str, limit: int = 50) -> list[WebhookDelivery]:
        """Newest first."""
        ...
