"""Pull-request previews: what a verified pull/merge request delivery does to its preview, and the
routes that list a service's previews and set their "preview" variables.

The preview itself (a hidden service, its deployment, its domain) is the ``PreviewService``'s
business; the reconciler runs it like any service. Here a delivery is only turned into one call
and a recorded outcome: created, updated, removed or skipped, and why. A request that is no longer
into the service's branch (retargeted, GitHub ``edited`` with ``changes.base``, or GitLab ``update``)
has its preview removed like a closed one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field

from deploykit.errors import NOT_FOUND, Error, FieldErrors, error_message
from deploykit.preview import (
    PreviewAction,
    PreviewOpen,
    PreviewOutcome,
    PreviewService,
    PullRequestEvent,
    RequestAction,
    off_branch_reason,
    request_skip_reason,
)
from deploykit.repository import check_repo_url, redact_url
from deploykit.service import BRANCH_RE, GitSource
from deploykit.webhook import DeliveryStatus, Webhook, WebhookDelivery
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.errors import unavailable
from deploykit_http.models import Model
from deploykit_http.shapes.git import PreviewList, PreviewVarsOut, preview_out

Record = Callable[[WebhookDelivery, DeliveryStatus, str], Awaitable[WebhookDelivery]]


class PreviewVarsIn(Model):
    vars: dict[str, str] = Field(description="The whole preview scope: KEY -> value (replaces what was set).")


def previews_of(ctx: Context) -> PreviewService:
    if ctx.c.previews is None:
        raise unavailable("Previews")
    return ctx.c.previews


async def receive_request(
    ctx: Context, hook: Webhook, base: WebhookDelivery, pr: PullRequestEvent, record: Record
) -> WebhookDelivery:
    """Open, update or close the request's preview as the delivery asks, and record what was done."""
    base.branch, base.commit_sha, base.author, base.message = pr.head_ref, pr.head_sha, pr.author, pr.title
    base.preview_number = pr.number
    base.preview_action = PreviewAction.SKIPPED.value
    off = "Previews are off for this webhook."
    if pr.action is None:
        reason = f"The {pr.provider_action or 'unnamed'} action of #{pr.number} does not change its preview."
        return await record(base, DeliveryStatus.SKIPPED, reason if hook.previews else off)
    if ctx.c.runtime is None:
        await record(base, DeliveryStatus.FAILED, "Deployments are not available on this server.")
        raise unavailable("The reconciler")
    repo_url: str | None = None
    away: str | None = None  # why an open request is no longer one the service previews
    if pr.action != RequestAction.CLOSE:  # a close removes what runs, whatever the request is now
        source = (await ctx.c.services.get_service(hook.service_id)).config.source
        if not isinstance(source, GitSource):
            return await record(base, DeliveryStatus.SKIPPED, "The service is no longer built from git.")
        # A request retargeted to another branch (or into a branch the service no longer
        # deploys) loses its preview, as a closed one does, even with previews now off.
        away = off_branch_reason(pr, source.branch)
        if away is None:
            if not hook.previews:
                return await record(base, DeliveryStatus.SKIPPED, off)
            repo_url = pr.head_repo_url if pr.from_fork else None
            skip = request_skip_reason(pr, source.branch, hook.previews_from_forks) or refused_head(ctx, pr, repo_url)
            if skip is not None:
                return await record(base, DeliveryStatus.SKIPPED, skip)
    previews = previews_of(ctx)
    try:
        if pr.action == RequestAction.CLOSE or away is not None:
            outcome = await previews.close_preview(hook.service_id, pr.number)
        else:
            outcome = await previews.open_preview(
                PreviewOpen(
                    service_id=hook.service_id,
                    number=pr.number,
                    title=pr.title,
                    url=pr.url,
                    head_ref=pr.head_ref,
                    head_sha=pr.head_sha,
                    author=pr.author,
                    max_previews=hook.max_previews,
                    repo_url=repo_url,
                )
            )
    except Error as exc:
        await record(base, DeliveryStatus.FAILED, error_message(exc))
        raise
    status, reason = _recorded(base, outcome)
    if away is not None:
        reason = away if outcome.action == PreviewAction.SKIPPED else f"{away} {outcome.reason}"
    if not hook.previews and outcome.action == PreviewAction.SKIPPED:
        reason = off
    return await record(base, status, reason)


def refused_head(ctx: Context, pr: PullRequestEvent, url: str | None) -> str | None:
    """Why the request's head may not be built: its branch name, and for a fork its clone URL, go
    through the checks of any repository a user gives (the URL's form and protocol, and no
    repository on the daemon's own host unless the operator allows those); the builder then pins
    what the host resolves to when it clones, as for every build."""
    if not BRANCH_RE.match(pr.head_ref):
        return f"The request's head branch {pr.head_ref!r} is not a valid branch name; no preview."
    if url is None:
        return None
    errors = FieldErrors()
    GitSource(repo_url=url, branch=pr.head_ref).validate(errors)
    check_repo_url(url, allow_local=ctx.settings.allow_local_repos, errors=errors)
    problems = errors.fields.get("source.repo_url")
    return f"The fork's repository {redact_url(url)} is refused: it {problems[0]}; no preview." if problems else None


def _recorded(base: WebhookDelivery, outcome: PreviewOutcome) -> tuple[DeliveryStatus, str]:
    base.preview_action = outcome.action.value
    base.deployment_id = outcome.deployment_id
    status = DeliveryStatus.SKIPPED if outcome.action == PreviewAction.SKIPPED else DeliveryStatus.SUCCESS
    return status, outcome.reason


def endpoints(ctx: Context) -> list[Endpoint]:
    async def list_previews(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        return {"data": [preview_out(p) for p in await previews_of(ctx).list_previews(svc.id)]}

    async def remove_preview(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        try:
            number = int(call.params["number"])
        except ValueError:
            raise Error(NOT_FOUND, "Preview not found.") from None
        outcome = await previews_of(ctx).close_preview(svc.id, number)
        if outcome.action != PreviewAction.REMOVED:
            raise Error(NOT_FOUND, "Preview not found.")

    async def get_vars(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        return {"vars": await previews_of(ctx).get_preview_vars(svc.id)}

    async def set_vars(call: Call) -> Any:
        body: PreviewVarsIn = call.body
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        return {"vars": await previews_of(ctx).set_preview_vars(svc.id, dict(body.vars))}

    tag = "git"
    path = "/projects/{project_id}/services/{service_id}/previews"
    return [
        Endpoint(
            "GET",
            path,
            list_previews,
            "The service's pull-request previews (number, title, link, state, domain), by number",
            tag,
            response=PreviewList,
            errors=(404, 503),
        ),
        Endpoint(
            "GET",
            path + "/vars",
            get_vars,
            "The preview scope: variables laid over the service's own in its previews",
            tag,
            response=PreviewVarsOut,
            errors=(404, 503),
        ),
        Endpoint(
            "PUT",
            path + "/vars",
            set_vars,
            "Replace the preview scope (used by previews deployed from now on)",
            tag,
            body=PreviewVarsIn,
            response=PreviewVarsOut,
            errors=(400, 404, 422, 503),
        ),
        Endpoint(
            "DELETE",
            path + "/{number}",
            remove_preview,
            "Remove a preview now (its containers, volumes, images and route go)",
            tag,
            status=204,
            errors=(404, 503),
        ),
    ]
