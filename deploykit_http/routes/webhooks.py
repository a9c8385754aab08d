"""Deploy from git: a service's push webhook and its deliveries, its SSH deploy key, and the public
endpoints GitHub and GitLab deliver pushes to.

A delivery is always answered and recorded with why it did what it did: a push to the service's
branch creates a deployment pinned to the pushed commit; a pull/merge request event, with previews
on, opens, updates or closes the request's preview (``routes/previews.py``); another branch, a repeated delivery id or
an unhandled event is ``skipped``; a bad signature is ``failed`` (and 401). Deliveries of one
webhook are handled one at a time, so that a redelivery racing the original still finds it.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import uuid
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request

from deploykit.build import DeployKeyGenerator, DeployKeyService
from deploykit.deployment import IN_FLIGHT, Deployment, DeploymentFilter, DeploymentTrigger
from deploykit.errors import INVALID, NOT_FOUND, UNAUTHORIZED, Error, ValidationError, error_message
from deploykit.preview import (
    MAX_PREVIEWS_LIMIT,
    PullRequestEvent,
    parse_github_pull_request,
    parse_gitlab_merge_request,
)
from deploykit.service import GitSource, Service
from deploykit.webhook import (
    DeliveryStatus,
    Provider,
    PushEvent,
    Webhook,
    WebhookDelivery,
    WebhookService,
    parse_github_push,
    parse_gitlab_push,
    verify_github_signature,
    verify_gitlab_token,
)
from deploykit_http.context import Context
from deploykit_http.endpoint import Access, Call, Endpoint
from deploykit_http.errors import unavailable
from deploykit_http.jsonin import parse_json
from deploykit_http.models import Model
from deploykit_http.routes.previews import receive_request
from deploykit_http.shapes.git import (
    DeliveryList,
    DeliveryOut,
    DeployKeyOut,
    WebhookOut,
    delivery_out,
    deploy_key_out,
    webhook_out,
)

DELETED_SHA = "0" * 40


# --- models -------------------------------------------------------------------------------------


class WebhookIn(Model):
    provider: Literal["github", "gitlab"]


class WebhookPatch(Model):
    enabled: bool | None = None
    previews: bool | None = Field(default=None, description="Run pull/merge requests as previews.")
    max_previews: int | None = Field(
        default=None, ge=0, le=MAX_PREVIEWS_LIMIT, description="At most this many previews of the service at once."
    )
    previews_from_forks: bool | None = Field(
        default=None, description="Also preview requests from forks (their code runs with the preview scope)."
    )


class DeliveryQuery(Model):
    limit: int = Field(default=50, ge=1, le=100)


# --- rendering ----------------------------------------------------------------------------------


def webhook_url(request: Request, hook: Webhook) -> str:
    return f"{str(request.base_url).rstrip('/')}/api/webhooks/{hook.provider.value}/{hook.id}"


def render_webhook(request: Request, hook: Webhook) -> WebhookOut:
    return webhook_out(hook, webhook_url(request, hook))


# --- deliveries ---------------------------------------------------------------------------------


class Receiver:
    """Turns one verified delivery into a recorded outcome (and, for a push to the service's
    branch, a deployment)."""

    def __init__(self, ctx: Context, webhooks: WebhookService) -> None:
        self.ctx = ctx
        self.webhooks = webhooks
        self._locks: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)

    async def receive(
        self,
        hook: Webhook,
        *,
        event: str,
        key: str | None,
        signed: bool,
        body: bytes,
        parse: Any,
        push_event: str,
        ping_event: str | None,
        request_event: str,
        parse_request: Callable[[dict[str, Any]], PullRequestEvent],
    ) -> DeliveryOut:
        base = WebhookDelivery(id="", webhook_id=hook.id, event=event or "unknown", status=DeliveryStatus.FAILED)
        if not signed:
            # No delivery key: an unsigned request must not use up the id of a genuine delivery.
            await self._record(base, DeliveryStatus.FAILED, "The signature does not match the webhook's secret.")
            raise Error(UNAUTHORIZED, "The webhook signature does not match.")
        async with self._locks[hook.id]:
            if key and await self._seen(hook.id, key):
                reason = f"Delivery {key} was already received; nothing done."
                return delivery_out(await self._record(base, DeliveryStatus.SKIPPED, reason))
            if event in (push_event, request_event):
                # A captured delivery re-sent under a new or no id: the signature holds, the body is old.
                digest = hashlib.sha256(body).hexdigest()
                earlier = await self.webhooks.find_delivery_by_body(hook.id, digest)
                if earlier is not None:
                    reason = f"The same body was received before (delivery {earlier.delivery_key or earlier.id}); "
                    reason += "a replay, nothing done."
                    return delivery_out(await self._record(base, DeliveryStatus.SKIPPED, reason))
                base.body_sha256 = digest
            base.delivery_key = key
            if not hook.enabled:
                return delivery_out(await self._record(base, DeliveryStatus.SKIPPED, "The webhook is disabled."))
            if ping_event is not None and event == ping_event:
                return delivery_out(await self._record(base, DeliveryStatus.SUCCESS, "Pong."))
            if event == request_event:
                try:
                    request = parse_request(self._payload(body))
                except (ValueError, UnicodeDecodeError, AttributeError, TypeError, ValidationError) as exc:
                    reason = f"The body is not a {request_event} event's JSON: {exc}."
                    await self._record(base, DeliveryStatus.FAILED, reason)
                    raise Error(INVALID, reason) from None
                return delivery_out(await receive_request(self.ctx, hook, base, request, self._record))
            if event != push_event:
                reason = f"The {event or 'unnamed'} event is not handled; only {push_event} and {request_event}."
                return delivery_out(await self._record(base, DeliveryStatus.SKIPPED, reason))
            try:
                push: PushEvent = parse(self._payload(body))
            except (ValueError, UnicodeDecodeError, AttributeError, TypeError, ValidationError):
                await self._record(base, DeliveryStatus.FAILED, "The body is not a push event's JSON.")
                raise Error(INVALID, "The body is not a push event's JSON.") from None
            return delivery_out(await self._push(hook, base, push))

    @staticmethod
    def _payload(body: bytes) -> dict[str, Any]:
        payload = parse_json(body)  # a commit message or title is stored, and must render again
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        return payload

    async def redeliver(self, hook: Webhook, earlier: WebhookDelivery) -> DeliveryOut:
        """Runs a recorded push delivery's effect again, as a new delivery: what the push asked
        for (its branch and commit) is re-checked against the service as it is now, so that a
        redelivered push deploys a commit that is not already active or in flight."""
        if earlier.preview_number is not None:
            raise Error(INVALID, "Only a push delivery can be redelivered; this one was about a pull request.")
        if earlier.branch is None or earlier.commit_sha is None:
            raise Error(
                INVALID, "Only a push delivery to a branch can be redelivered; this one has no branch or commit."
            )
        base = WebhookDelivery(
            id="",
            webhook_id=hook.id,
            event=earlier.event,
            status=DeliveryStatus.FAILED,
            delivery_key=f"redeliver:{earlier.id}:{uuid.uuid4()}",
        )
        push = PushEvent(earlier.branch, earlier.commit_sha, earlier.author, earlier.message)
        async with self._locks[hook.id]:
            if not hook.enabled:
                base.branch, base.commit_sha = push.branch, push.commit_sha
                base.author, base.message = push.author, push.message
                return delivery_out(await self._record(base, DeliveryStatus.SKIPPED, "The webhook is disabled."))
            return delivery_out(await self._push(hook, base, push))

    async def _push(self, hook: Webhook, base: WebhookDelivery, push: PushEvent) -> WebhookDelivery:
        base.branch, base.commit_sha = push.branch, push.commit_sha
        base.author, base.message = push.author, push.message
        service = await self.ctx.c.services.get_service(hook.service_id)
        source = service.config.source
        if not isinstance(source, GitSource):
            return await self._record(base, DeliveryStatus.SKIPPED, "The service is no longer built from git.")
        if push.branch is None:
            return await self._record(base, DeliveryStatus.SKIPPED, "Not a push to a branch.")
        if push.branch != source.branch:
            reason = f"Push to branch {push.branch}; the service deploys {source.branch}."
            return await self._record(base, DeliveryStatus.SKIPPED, reason)
        if not push.commit_sha or push.commit_sha == DELETED_SHA:
            return await self._record(base, DeliveryStatus.SKIPPED, "The branch was deleted.")
        current = await self._current_deployment(service, push.commit_sha)
        if current is not None:
            base.deployment_id = current.id
            which = "in-flight" if current.in_flight else "active"
            reason = f"Commit {push.commit_sha[:12]} is already the service's {which} deployment; nothing done."
            return await self._record(base, DeliveryStatus.SKIPPED, reason)
        if self.ctx.c.runtime is None:
            await self._record(base, DeliveryStatus.FAILED, "Deployments are not available on this server.")
            raise unavailable("The reconciler")
        try:
            dep = await self.ctx.c.deployments.redeploy(
                service.id,
                None,
                commit_sha=push.commit_sha,
                commit_message=push.message,
                trigger=DeploymentTrigger.WEBHOOK,
                actor="GitHub webhook" if hook.provider == Provider.GITHUB else "GitLab webhook",
            )
        except Error as exc:
            await self._record(base, DeliveryStatus.FAILED, error_message(exc))
            raise
        base.deployment_id = dep.id
        return await self._record(base, DeliveryStatus.SUCCESS, f"Deploying {push.commit_sha[:12]}.")

    async def _current_deployment(self, service: Service, commit_sha: str) -> Deployment | None:
        """The service's active or an in-flight deployment of ``commit_sha``: deploying it again
        would do nothing new (and a replayed old push must not roll the service back)."""
        deployments = self.ctx.c.deployments
        in_flight, _ = await deployments.list_deployments(
            DeploymentFilter(service_id=service.id, statuses=IN_FLIGHT, limit=100)
        )
        for dep in in_flight:
            if dep.commit_sha == commit_sha:
                return dep
        if service.active_deployment_id is not None:
            active = await deployments.get_deployment(service.active_deployment_id)
            if active.commit_sha == commit_sha:
                return active
        return None

    async def _seen(self, webhook_id: str, key: str) -> bool:
        return await self.webhooks.find_delivery(webhook_id, key) is not None

    async def _record(self, base: WebhookDelivery, status: DeliveryStatus, reason: str) -> WebhookDelivery:
        base.status, base.reason = status, reason
        return await self.webhooks.record_delivery(base)


# --- endpoints ----------------------------------------------------------------------------------


def endpoints(ctx: Context) -> list[Endpoint]:
    key_locks: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
    receiver: Receiver | None = None

    def webhooks() -> WebhookService:
        if ctx.c.webhooks is None:
            raise unavailable("Webhooks")
        return ctx.c.webhooks

    def deploy_keys() -> tuple[DeployKeyService, DeployKeyGenerator]:
        if ctx.c.deploy_keys is None or ctx.c.generate_deploy_key is None:
            raise unavailable("Deploy keys")
        return ctx.c.deploy_keys, ctx.c.generate_deploy_key

    def the_receiver() -> Receiver:
        nonlocal receiver
        if receiver is None:
            receiver = Receiver(ctx, webhooks())
        return receiver

    async def get_webhook(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        return render_webhook(call.request, await webhooks().get_service_webhook(svc.id))

    async def create_webhook(call: Call) -> Any:
        body: WebhookIn = call.body
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        return render_webhook(call.request, await webhooks().create_webhook(svc.id, Provider(body.provider)))

    async def update_webhook(call: Call) -> Any:
        body: WebhookPatch = call.body
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        hook = await webhooks().update_webhook(
            svc.id,
            enabled=body.enabled,
            previews=body.previews,
            max_previews=body.max_previews,
            previews_from_forks=body.previews_from_forks,
        )
        return render_webhook(call.request, hook)

    async def delete_webhook(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        await webhooks().delete_webhook(svc.id)

    async def redeliver(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        hook = await webhooks().get_service_webhook(svc.id)
        earlier = await webhooks().get_delivery(hook.id, call.params["delivery_id"])
        return await the_receiver().redeliver(hook, earlier)

    async def list_deliveries(call: Call) -> Any:
        q: DeliveryQuery = call.query
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        hook = await webhooks().get_service_webhook(svc.id)
        return {"data": [delivery_out(d) for d in await webhooks().list_deliveries(hook.id, limit=q.limit)]}

    async def get_deploy_key(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        keys, generate = deploy_keys()
        async with key_locks[svc.id]:  # two first GETs must not hand out two different keys
            try:
                return deploy_key_out(await keys.get_deploy_key(svc.id))
            except Error as exc:
                if exc.code != NOT_FOUND:
                    raise
            return deploy_key_out(await keys.set_deploy_key(svc.id, generate(f"deploykit-{svc.slug}")))

    async def rotate_deploy_key(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        keys, generate = deploy_keys()
        async with key_locks[svc.id]:
            return deploy_key_out(await keys.set_deploy_key(svc.id, generate(f"deploykit-{svc.slug}")))

    async def hook_of(call: Call, provider: Provider) -> Webhook:
        hook = await webhooks().get_webhook(call.params["webhook_id"])
        if hook.provider != provider:
            raise Error(NOT_FOUND, "Webhook not found.")
        return hook

    async def github_delivery(call: Call) -> Any:
        hook = await hook_of(call, Provider.GITHUB)
        body = await call.request.body()
        headers = call.request.headers
        return await the_receiver().receive(
            hook,
            event=headers.get("x-github-event", ""),
            key=headers.get("x-github-delivery"),
            signed=verify_github_signature(hook.secret, body, headers.get("x-hub-signature-256")),
            body=body,
            parse=parse_github_push,
            push_event="push",
            ping_event="ping",
            request_event="pull_request",
            parse_request=parse_github_pull_request,
        )

    async def gitlab_delivery(call: Call) -> Any:
        hook = await hook_of(call, Provider.GITLAB)
        body = await call.request.body()
        headers = call.request.headers
        return await the_receiver().receive(
            hook,
            event=headers.get("x-gitlab-event", ""),
            key=headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid"),
            signed=verify_gitlab_token(hook.secret, headers.get("x-gitlab-token")),
            body=body,
            parse=parse_gitlab_push,
            push_event="Push Hook",
            ping_event=None,
            request_event="Merge Request Hook",
            parse_request=parse_gitlab_merge_request,
        )

    tag = "git"
    svc_path = "/projects/{project_id}/services/{service_id}"
    return [
        Endpoint(
            "GET",
            svc_path + "/webhook",
            get_webhook,
            "The service's push webhook (URL and secret)",
            tag,
            response=WebhookOut,
            errors=(404, 503),
        ),
        Endpoint(
            "POST",
            svc_path + "/webhook",
            create_webhook,
            "Create the service's push webhook, replacing one it has (a new secret)",
            tag,
            body=WebhookIn,
            response=WebhookOut,
            status=201,
            errors=(400, 404, 503),
        ),
        Endpoint(
            "PATCH",
            svc_path + "/webhook",
            update_webhook,
            "Enable or disable the service's push webhook, or its pull-request previews and their limit",
            tag,
            body=WebhookPatch,
            response=WebhookOut,
            errors=(400, 404, 503),
        ),
        Endpoint(
            "DELETE",
            svc_path + "/webhook",
            delete_webhook,
            "Remove the service's push webhook",
            tag,
            status=204,
            errors=(404, 503),
        ),
        Endpoint(
            "GET",
            svc_path + "/webhook/deliveries",
            list_deliveries,
            "The webhook's deliveries, newest first",
            tag,
            query=DeliveryQuery,
            response=DeliveryList,
            errors=(404, 503),
        ),
        Endpoint(
            "POST",
            svc_path + "/webhook/deliveries/{delivery_id}/redeliver",
            redeliver,
            "Run a recorded push delivery's effect again (recorded as a new delivery)",
            tag,
            response=DeliveryOut,
            status=201,
            errors=(400, 404, 409, 503),
        ),
        Endpoint(
            "GET",
            svc_path + "/deploy-key",
            get_deploy_key,
            "The service's SSH deploy key (public half; created on first use)",
            tag,
            response=DeployKeyOut,
            errors=(404, 503),
        ),
        Endpoint(
            "POST",
            svc_path + "/deploy-key",
            rotate_deploy_key,
            "Rotate the service's SSH deploy key",
            tag,
            response=DeployKeyOut,
            errors=(404, 503),
        ),
        Endpoint(
            "POST",
            "/webhooks/github/{webhook_id}",
            github_delivery,
            "Receive a GitHub delivery (X-Hub-Signature-256 over the raw body)",
            tag,
            access=Access.PUBLIC,
            response=DeliveryOut,
            errors=(400, 401, 404, 409, 413, 503),
        ),
        Endpoint(
            "POST",
            "/webhooks/gitlab/{webhook_id}",
            gitlab_delivery,
            "Receive a GitLab delivery (X-Gitlab-Token)",
            tag,
            access=Access.PUBLIC,
            response=DeliveryOut,
            errors=(400, 401, 404, 409, 413, 503),
        ),
    ]
