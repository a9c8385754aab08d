"""Reading pull/merge request deliveries (the providers' published examples) and the preview limit."""

from __future__ import annotations

from typing import Any

import pytest

from deploykit.errors import FieldErrors, ValidationError
from deploykit.preview import (
    PullRequestEvent,
    RequestAction,
    limit_reached,
    limit_reason,
    parse_github_pull_request,
    parse_gitlab_merge_request,
    preview_hostname,
    preview_service_name,
    preview_service_slug,
    request_skip_reason,
    validate_max_previews,
)
from deploykit.service import SERVICE_NAME_RE
from deploykit.slug import service_slug
from tests.payloads import github_pull_request, gitlab_merge_request, load


def test_github_example_is_read() -> None:
    assert parse_github_pull_request(load("github_pull_request_opened.json")) == PullRequestEvent(
        number=2,
        provider_action="opened",
        action=RequestAction.OPEN,
        title="Update the README with new information.",
        url="https://github.com/Codertocat/Hello-World/pull/2",
        head_ref="changes",
        head_sha="ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        author="Codertocat",
        base_ref="master",
        head_repo_url="https://github.com/Codertocat/Hello-World.git",
        from_fork=False,
        head_private=False,
        head_repo_name="Codertocat/Hello-World",
    )


def test_gitlab_example_is_read() -> None:
    assert parse_gitlab_merge_request(load("gitlab_merge_request.json")) == PullRequestEvent(
        number=1,
        provider_action="open",
        action=RequestAction.OPEN,
        title="MS-Viewport",
        url="http://example.com/diaspora/merge_requests/1",
        head_ref="ms-viewport",
        head_sha="da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        author="root",
        base_ref="master",
        head_repo_url="http://example.com/awesome_space/awesome_project.git",
        from_fork=False,
        head_private=False,
        head_repo_name="awesome_space/awesome_project",
    )


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("opened", RequestAction.OPEN),
        ("reopened", RequestAction.OPEN),
        ("synchronize", RequestAction.UPDATE),
        ("closed", RequestAction.CLOSE),
        ("edited", None),
        ("labeled", None),
        ("", None),
    ],
)
def test_github_actions(action: str, expected: RequestAction | None) -> None:
    payload = load("github_pull_request_opened.json")
    payload["action"] = action
    assert parse_github_pull_request(payload).action == expected


@pytest.mark.parametrize(
    ("action", "retargeted_from", "expected"),
    [
        ("edited", "develop", RequestAction.RETARGET),
        ("edited", None, None),  # a new title or body: the preview stays as it is
        ("synchronize", "develop", RequestAction.UPDATE),  # only an edit can carry changes
    ],
)
def test_a_github_edit_of_the_base_branch_is_a_retarget(
    action: str, retargeted_from: str | None, expected: RequestAction | None
) -> None:
    payload = github_pull_request(
        action, number=4, ref="changes", sha="a" * 40, clone_url="file:///r", retargeted_from=retargeted_from
    )
    assert parse_github_pull_request(payload).action == expected


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("open", RequestAction.OPEN),
        ("reopen", RequestAction.OPEN),
        ("update", RequestAction.UPDATE),
        ("close", RequestAction.CLOSE),
        ("merge", RequestAction.CLOSE),
        ("approved", None),
        ("unapproved", None),
    ],
)
def test_gitlab_actions(action: str, expected: RequestAction | None) -> None:
    payload = load("gitlab_merge_request.json")
    payload["object_attributes"]["action"] = action
    assert parse_gitlab_merge_request(payload).action == expected


def _without(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    node = payload
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return payload


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("pull_request",), "pull_request is missing"),
        (("pull_request", "head", "sha"), "pull_request.head.sha is missing"),
        (("pull_request", "head", "ref"), "pull_request.head.ref is missing"),
        (("number",), "number is not a positive number"),
    ],
)
def test_github_payload_without_what_a_preview_needs(path: tuple[str, ...], message: str) -> None:
    payload = _without(load("github_pull_request_opened.json"), *path)
    if path == ("number",):
        del payload["pull_request"]["number"]
    with pytest.raises(ValueError, match=message):
        parse_github_pull_request(payload)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("object_attributes",), "object_attributes is missing"),
        (("object_attributes", "last_commit"), "object_attributes.last_commit.id is missing"),
        (("object_attributes", "source_branch"), "object_attributes.source_branch is missing"),
        (("object_attributes", "iid"), "object_attributes.iid is not a positive number"),
    ],
)
def test_gitlab_payload_without_what_a_preview_needs(path: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_gitlab_merge_request(_without(load("gitlab_merge_request.json"), *path))


@pytest.mark.parametrize(
    ("open_numbers", "number", "max_previews", "reached"),
    [
        (set(), 1, 3, False),
        ({1, 2}, 3, 3, False),
        ({1, 2, 3}, 4, 3, True),
        ({1, 2, 3}, 2, 3, False),  # an existing preview is always updated
        (set(), 1, 0, True),
        ({5}, 5, 0, False),  # the limit lowered below what runs: what runs still updates
    ],
)
def test_limit(open_numbers: set[int], number: int, max_previews: int, reached: bool) -> None:
    assert limit_reached(open_numbers, number, max_previews) is reached


def test_limit_reason_names_the_limit_and_what_runs() -> None:
    assert limit_reason(4, {3, 1}, 2) == (
        "No preview for #4: the service already has 2 of at most 2 previews (#1, #3); close one or raise the limit."
    )


@pytest.mark.parametrize(("value", "ok"), [(0, True), (3, True), (20, True), (21, False), (-1, False), (True, False)])
def test_max_previews_range(value: int, ok: bool) -> None:
    errors = FieldErrors()
    validate_max_previews(value, errors)
    if ok:
        errors.raise_if_any()
    else:
        with pytest.raises(ValidationError):
            errors.raise_if_any()


def test_preview_names_cannot_be_a_services() -> None:
    name = preview_service_name("api", 12)
    assert name == "api#pr-12"
    assert not SERVICE_NAME_RE.match(name)
    slug = preview_service_slug("api", 12)
    assert slug == "pr-12--api"
    assert all(service_slug(n) != slug for n in ("pr-12--api", "pr 12  api", "PR-12--API"))
    assert preview_hostname(12, "api", "shop-a1b2c3", "example.com") == "pr-12-api-shop-a1b2c3.example.com"


FORK = "https://example.com/octocat/Hello-World.git"


def test_a_github_request_from_a_fork_names_the_fork_and_its_clone_url() -> None:
    own = "https://github.com/Codertocat/Hello-World.git"
    payload = github_pull_request("opened", number=2, ref="changes", sha="a" * 40, clone_url=own, fork_url=FORK)
    pr = parse_github_pull_request(payload)
    assert (pr.from_fork, pr.head_repo_url, pr.head_repo_name, pr.head_private) == (
        True,
        FORK,
        "octocat/Hello-World",
        False,
    )
    payload["pull_request"]["head"]["repo"]["private"] = True
    assert parse_github_pull_request(payload).head_private
    # A deleted fork: GitHub sends "repo": null.
    payload["pull_request"]["head"]["repo"] = None
    gone = parse_github_pull_request(payload)
    assert (gone.from_fork, gone.head_repo_url) == (True, None)


def test_a_gitlab_request_from_a_fork_is_one_from_another_project() -> None:
    own = "https://gitlab.example.com/a/b.git"
    payload = gitlab_merge_request("open", iid=3, ref="changes", sha="a" * 40, clone_url=own, fork_url=FORK)
    pr = parse_gitlab_merge_request(payload)
    assert (pr.from_fork, pr.head_repo_url, pr.head_repo_name, pr.head_private) == (
        True,
        FORK,
        "forker/awesome_project",
        False,
    )
    for level in (0, 10):  # private and internal: neither can be cloned without credentials
        payload["object_attributes"]["source"]["visibility_level"] = level
        assert parse_gitlab_merge_request(payload).head_private
    del payload["object_attributes"]["source_project_id"]
    assert parse_gitlab_merge_request(load("gitlab_merge_request.json")).from_fork is False
    assert parse_gitlab_merge_request(payload).from_fork


def _request(**kw: Any) -> PullRequestEvent:
    base = parse_github_pull_request(load("github_pull_request_opened.json"))
    return PullRequestEvent(**{**base.__dict__, **kw})


@pytest.mark.parametrize(
    ("request_kw", "from_forks", "reason"),
    [
        ({}, False, None),
        (
            {"base_ref": "develop"},
            True,
            "#2 is a request into branch develop; the service deploys master, so no preview.",
        ),
        ({"base_ref": None}, True, "#2 is a request into no named branch; the service deploys master, so no preview."),
        (
            {"from_fork": True, "head_repo_name": "octocat/Hello-World"},
            False,
            "Request from a fork (octocat/Hello-World): previews of forks are off for this webhook "
            "(previews_from_forks), since a fork's code would run with the preview variables.",
        ),
        ({"from_fork": True, "head_repo_url": FORK}, True, None),
        (
            {"from_fork": True, "head_repo_url": None, "head_repo_name": None},
            True,
            "Request from a fork whose repository is gone or has no HTTP clone URL; no preview.",
        ),
        (
            {"from_fork": True, "head_private": True, "head_repo_name": "octocat/Secret"},
            True,
            "Request from a fork (octocat/Secret) that is not public: the daemon cannot clone it (the service's "
            "deploy key and credentials are for its own repository only); no preview.",
        ),
    ],
)
def test_only_requests_into_the_service_branch_and_allowed_forks_get_previews(
    request_kw: dict[str, Any], from_forks: bool, reason: str | None
) -> None:
    assert request_skip_reason(_request(**request_kw), "master", from_forks) == reason
