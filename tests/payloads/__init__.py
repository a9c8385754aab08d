"""The providers' published webhook payload examples, as JSON fixtures, and helpers that point
them at a repository a test made (its branch, head commit and clone URL) and sign them.

``github_pull_request_opened.json`` is GitHub's ``pull_request`` (``opened``) example from its
webhook documentation (octokit/webhooks ``payload-examples/api.github.com/pull_request/
opened.payload.json``), with the many ``*_url`` API link fields of its users and repositories left
out; ``gitlab_merge_request.json`` is GitLab's "Merge request events" payload example from its
webhook documentation (``doc/user/project/integrations/webhook_events.md``), verbatim.

What the helpers change, and nothing else: the action, the request's number, title and link; its
head branch, head commit and the clone URLs (pointed at a repository the test made); on request the
base/target branch (and, for GitHub's ``edited``, the ``changes`` of a retargeted base); and for a request from a fork, the head repository's identity (GitHub: another
``id``, ``full_name``, owner and ``fork: true``; GitLab: another ``source_project_id`` and
``source`` project) and its clone URL, pointed at a second local repository."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load(name: str) -> dict[str, Any]:
    data = json.loads((HERE / name).read_text())
    assert isinstance(data, dict)
    return data


def github_pull_request(
    action: str,
    *,
    number: int,
    ref: str,
    sha: str,
    clone_url: str,
    title: str | None = None,
    base_ref: str | None = None,
    fork_url: str | None = None,
    private_fork: bool = False,
    retargeted_from: str | None = None,
) -> dict[str, Any]:
    """GitHub's example with ``action``, request ``number`` and its head at ``ref``/``sha`` of
    ``clone_url`` (of ``fork_url``, a fork's, when given), into ``base_ref`` (the example's
    ``master`` unless given). ``retargeted_from``: the ``changes`` an ``edited`` delivery carries
    when the base branch was changed from that branch (``changes.base.ref.from``, ``.sha.from``)."""
    payload = copy.deepcopy(load("github_pull_request_opened.json"))
    payload["action"] = action
    payload["number"] = number
    pr = payload["pull_request"]
    pr["number"] = number
    pr["html_url"] = f"https://github.com/Codertocat/Hello-World/pull/{number}"
    if title is not None:
        pr["title"] = title
    pr["head"]["ref"], pr["head"]["sha"] = ref, sha
    for repo in (pr["head"]["repo"], pr["base"]["repo"], payload["repository"]):
        repo["clone_url"] = clone_url
    if base_ref is not None:
        pr["base"]["ref"] = base_ref
        pr["base"]["label"] = f"Codertocat:{base_ref}"
    if fork_url is not None:
        head = pr["head"]
        head["label"] = f"octocat:{ref}"
        head["repo"].update(
            id=head["repo"]["id"] + 1,
            full_name="octocat/Hello-World",
            owner={**head["repo"]["owner"], "login": "octocat"},
            fork=True,
            private=private_fork,
            clone_url=fork_url,
        )
    if retargeted_from is not None:
        payload["changes"] = {"base": {"ref": {"from": retargeted_from}, "sha": {"from": pr["base"]["sha"]}}}
    if action == "closed":
        pr["state"] = "closed"
    return payload


def gitlab_merge_request(
    action: str,
    *,
    iid: int,
    ref: str,
    sha: str,
    clone_url: str,
    title: str | None = None,
    target_branch: str | None = None,
    fork_url: str | None = None,
) -> dict[str, Any]:
    """GitLab's example with ``action``, request ``iid`` and its source branch at ``ref``/``sha``
    (of ``fork_url``, a fork's, when given), into ``target_branch`` (the example's ``master``
    unless given)."""
    payload = copy.deepcopy(load("gitlab_merge_request.json"))
    attrs = payload["object_attributes"]
    attrs["action"], attrs["iid"], attrs["source_branch"] = action, iid, ref
    attrs["url"] = f"http://example.com/diaspora/merge_requests/{iid}"
    attrs["last_commit"]["id"] = sha
    if title is not None:
        attrs["title"] = title
    attrs["state"] = {"close": "closed", "merge": "merged"}.get(action, "opened")
    for project in (payload["project"], attrs["source"], attrs["target"]):
        project["git_http_url"] = project["http_url"] = project["url"] = clone_url
    if target_branch is not None:
        attrs["target_branch"] = target_branch
    if fork_url is not None:
        attrs["source_project_id"] = attrs["target_project_id"] + 1
        attrs["source"].update(
            namespace="Forker", path_with_namespace="forker/awesome_project", git_http_url=fork_url, http_url=fork_url
        )
    return payload


def github_headers(secret: str, body: bytes, event: str = "pull_request") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def gitlab_headers(secret: str, event: str = "Merge Request Hook") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gitlab-Event": event,
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "X-Gitlab-Token": secret,
    }
