"""Pull-request previews: a git service's webhook, with previews on, runs each open pull request
(GitHub) or merge request (GitLab) as a preview built from the request's head commit, on its own
generated domain, until the request is closed or merged.

A preview runs as a service of its own that is hidden from the canvas and from service lists: it
is named and slugged so that no user's service can be (``name#pr-N``, ``pr-N--slug``), which keeps
its containers, volumes and images apart from the previewed service's, and it is deployed,
reconciled, routed and torn down exactly like any service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from deploykit.errors import FieldErrors

DEFAULT_MAX_PREVIEWS = 3
MAX_PREVIEWS_LIMIT = 20


class RequestAction(StrEnum):
    """What a pull/merge request event asks of its preview."""

    OPEN = "open"
    """Opened or reopened: the preview should run the head commit."""
    UPDATE = "update"
    """New commits (or, on GitLab, an edit): the preview should run the head commit."""
    CLOSE = "close"
    """Closed or merged: the preview goes."""
    RETARGET = "retarget"
    """The request's base branch changed (GitHub ``edited`` with ``changes.base``): the preview
    runs the head if the new base is the service's branch, and goes otherwise."""


class PreviewAction(StrEnum):
    """What a delivery did to a preview (recorded on the delivery)."""

    CREATED = "created"
    UPDATED = "updated"
    REMOVED = "removed"
    SKIPPED = "skipped"


GITHUB_ACTIONS = {
    "opened": RequestAction.OPEN,
    "reopened": RequestAction.OPEN,
    "synchronize": RequestAction.UPDATE,
    "closed": RequestAction.CLOSE,
}
GITLAB_ACTIONS = {
    "open": RequestAction.OPEN,
    "reopen": RequestAction.OPEN,
    "update": RequestAction.UPDATE,
    "close": RequestAction.CLOSE,
    "merge": RequestAction.CLOSE,
}


@dataclass(frozen=True)
class PullRequestEvent:
    number: int
    provider_action: str
    """The provider's own word (``opened``, ``synchronize``, ``merge``...)."""
    action: RequestAction | None
    """None: an action previews do not follow (``edited``, ``labeled``, ``approved``...)."""
    title: str
    url: str | None
    head_ref: str
    head_sha: str
    author: str | None
    base_ref: str | None = None
    """The branch the request is to be merged into: only requests to the service's branch get previews."""
    head_repo_url: str | None = None
    """Where the head commit is: the head repository's HTTP(S) clone URL (None: it was deleted)."""
    from_fork: bool = False
    """The head is in another repository than the base (a fork)."""
    head_private: bool = False
    """That repository is not public: its clone URL needs credentials the daemon does not have."""
    head_repo_name: str | None = None
    """``owner/name`` of the head repository, for the reasons recorded."""


GITLAB_PUBLIC = 20
"""GitLab's ``visibility_level`` of a public project (10 is internal, 0 private)."""


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} is missing")
    return value


def _optional(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} is not a positive number")
    return value


def parse_github_pull_request(payload: dict[str, Any]) -> PullRequestEvent:
    """A GitHub ``pull_request`` delivery. Raises ``ValueError`` naming what is missing."""
    pr = payload.get("pull_request")
    if not isinstance(pr, dict):
        raise ValueError("pull_request is missing")
    head, base = _obj(pr.get("head")), _obj(pr.get("base"))
    head_repo, base_repo = _obj(head.get("repo")), _obj(base.get("repo"))
    same = (head_repo.get("id"), head_repo.get("full_name")) == (base_repo.get("id"), base_repo.get("full_name"))
    action = str(payload.get("action") or "")
    retargeted = action == "edited" and "base" in _obj(payload.get("changes"))
    return PullRequestEvent(
        number=_number(payload.get("number", pr.get("number")), "number"),
        provider_action=action,
        action=RequestAction.RETARGET if retargeted else GITHUB_ACTIONS.get(action),
        title=str(pr.get("title") or ""),
        url=pr.get("html_url") if isinstance(pr.get("html_url"), str) else None,
        head_ref=_text(head.get("ref"), "pull_request.head.ref"),
        head_sha=_text(head.get("sha"), "pull_request.head.sha"),
        author=_obj(pr.get("user")).get("login") or _obj(payload.get("sender")).get("login"),
        base_ref=_optional(base.get("ref")),
        head_repo_url=_optional(head_repo.get("clone_url")),
        from_fork=not head_repo or not same,
        head_private=head_repo.get("private") is not False,
        head_repo_name=_optional(head_repo.get("full_name")),
    )


def parse_gitlab_merge_request(payload: dict[str, Any]) -> PullRequestEvent:
    """A GitLab ``Merge Request Hook`` delivery. Raises ``ValueError`` naming what is missing."""
    attrs = payload.get("object_attributes")
    if not isinstance(attrs, dict):
        raise ValueError("object_attributes is missing")
    last, source = _obj(attrs.get("last_commit")), _obj(attrs.get("source"))
    action = str(attrs.get("action") or "")
    return PullRequestEvent(
        number=_number(attrs.get("iid"), "object_attributes.iid"),
        provider_action=action,
        action=GITLAB_ACTIONS.get(action),
        title=str(attrs.get("title") or ""),
        url=attrs.get("url") if isinstance(attrs.get("url"), str) else None,
        head_ref=_text(attrs.get("source_branch"), "object_attributes.source_branch"),
        head_sha=_text(last.get("id"), "object_attributes.last_commit.id"),
        author=_obj(payload.get("user")).get("username") or _obj(payload.get("user")).get("name"),
        base_ref=_optional(attrs.get("target_branch")),
        head_repo_url=_optional(source.get("git_http_url")),
        from_fork=not source
        or attrs.get("source_project_id") is None
        or attrs.get("source_project_id") != attrs.get("target_project_id"),
        head_private=source.get("visibility_level") != GITLAB_PUBLIC,
        head_repo_name=_optional(source.get("path_with_namespace")),
    )


def off_branch_reason(pr: PullRequestEvent, service_branch: str) -> str | None:
    """Why request ``pr`` is not into the service's branch (None: it is). Such a request has no
    preview, and one it had (it was retargeted, or the service now deploys another branch) goes."""
    if pr.base_ref == service_branch:
        return None
    into = f"branch {pr.base_ref}" if pr.base_ref else "no named branch"
    return f"#{pr.number} is a request into {into}; the service deploys {service_branch}, so no preview."


def request_skip_reason(pr: PullRequestEvent, service_branch: str, from_forks: bool) -> str | None:
    """Why request ``pr`` gets no preview of a service deploying ``service_branch`` (None: it may).

    Only requests into the service's own branch are previewed (``off_branch_reason``). A request
    from a fork is previewed only when the webhook allows forks (its code, written by anyone, runs
    with the preview scope's variables), and only from a public fork: the service's deploy key and
    credentials are for its own repository, and are never offered to another."""
    off_branch = off_branch_reason(pr, service_branch)
    if off_branch is not None:
        return off_branch
    if not pr.from_fork:
        return None
    fork = f"a fork ({pr.head_repo_name})" if pr.head_repo_name else "a fork"
    if not from_forks:
        return (
            f"Request from {fork}: previews of forks are off for this webhook (previews_from_forks), "
            "since a fork's code would run with the preview variables."
        )
    if pr.head_repo_url is None:
        return f"Request from {fork} whose repository is gone or has no HTTP clone URL; no preview."
    if pr.head_private:
        return (
            f"Request from {fork} that is not public: the daemon cannot clone it (the service's deploy key "
            "and credentials are for its own repository only); no preview."
        )
    return None


def preview_hostname(number: int, service_slug: str, project_slug: str, base_domain: str) -> str:
    return f"pr-{number}-{service_slug}-{project_slug}.{base_domain}"


def preview_service_name(service_name: str, number: int) -> str:
    """``#`` is never in a service name, so no user's service can take a preview's name."""
    return f"{service_name}#pr-{number}"


def preview_service_slug(service_slug: str, number: int) -> str:
    """``--`` is never in a service slug (slugify joins with single dashes), so a preview's engine
    names (containers, volumes, images, network alias) never meet an ordinary service's."""
    return f"pr-{number}--{service_slug}"


def validate_max_previews(value: int, errors: FieldErrors, field_name: str = "max_previews") -> None:
    if isinstance(value, bool) or not 0 <= value <= MAX_PREVIEWS_LIMIT:
        errors.add(field_name, f"must be between 0 and {MAX_PREVIEWS_LIMIT}")


def limit_reached(open_numbers: set[int], number: int, max_previews: int) -> bool:
    """Whether request ``number`` may not get a new preview: it has none yet and the service
    already runs ``max_previews``. An existing preview is always updated (or removed)."""
    return number not in open_numbers and len(open_numbers) >= max_previews


def limit_reason(number: int, open_numbers: set[int], max_previews: int) -> str:
    running = ", ".join(f"#{n}" for n in sorted(open_numbers)) or "none"
    return (
        f"No preview for #{number}: the service already has {len(open_numbers)} of at most {max_previews} "
        f"previews ({running}); close one or raise the limit."
    )


@dataclass
class Preview:
    id: str
    service_id: str
    """The previewed service."""
    preview_service_id: str
    """The hidden service that runs the preview (its deployments, containers and route)."""
    project_id: str
    number: int
    title: str
    url: str | None
    head_ref: str
    head_sha: str
    author: str | None
    hostname: str | None
    status: str | None = None
    """The newest deployment's status (pending, building, starting, healthy, failed...)."""
    deployment_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class PreviewOpen:
    """Run request ``number`` of ``service_id`` at ``head_sha`` (creating or replacing its preview)."""

    service_id: str
    number: int
    title: str
    url: str | None
    head_ref: str
    head_sha: str
    author: str | None = None
    max_previews: int = DEFAULT_MAX_PREVIEWS
    repo_url: str | None = None
    """Build from this repository (a fork's, checked like any repository URL); None: the service's."""


@dataclass(frozen=True)
class PreviewOutcome:
    action: PreviewAction
    reason: str
    preview: Preview | None = None
    deployment_id: str | None = None


class PreviewService(Protocol):
    async def list_previews(self, service_id: str) -> list[Preview]:
        """The service's previews by request number. Raises ``not_found``."""
        ...

    async def open_preview(self, req: PreviewOpen) -> PreviewOutcome:
        """Create the request's preview, or deploy its new head commit (the same readiness gate as
        any deployment); ``skipped`` when the head is already deployed or the service is at its
        limit. Raises ``not_found``, ``invalid`` (not a git service), ``conflict`` (the preview's
        hostname is taken)."""
        ...

    async def close_preview(self, service_id: str, number: int) -> PreviewOutcome:
        """Remove the request's preview (its containers, volumes, images and route follow);
        ``skipped`` when it has none. Raises ``not_found`` for an unknown service."""
        ...

    async def get_preview_vars(self, service_id: str) -> dict[str, str]:
        """The "preview" scope: variables laid over the service's own in its previews."""
        ...

    async def set_preview_vars(self, service_id: str, values: dict[str, str]) -> dict[str, str]:
        """Replace the preview scope (used by previews deployed from now on). Raises ``not_found``,
        ``invalid`` naming the bad key or value."""
        ...
