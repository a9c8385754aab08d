"""Pull/merge request deliveries over fakes: verified like pushes, each turned into one call of the
``PreviewService`` and recorded with what it did (created, updated, removed, skipped) and why; and
the routes that list previews and set the preview scope."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from deploykit.errors import CONFLICT, Error
from deploykit.preview import Preview, PreviewAction, PreviewOpen, PreviewOutcome
from deploykit.webhook import DeliveryStatus
from tests.http.conftest import client_for
from tests.http.fakes import World, fake
from tests.http.test_webhooks import HOOKS, SECRET, Git, github, make_git
from tests.payloads import github_pull_request, gitlab_merge_request

FakePreviews = fake(
    "FakePreviews", "list_previews", "open_preview", "close_preview", "get_preview_vars", "set_preview_vars"
)
HEAD = "c" * 40
PREVIEW = Preview(
    id="pv1",
    service_id="s1",
    preview_service_id="hidden",
    project_id="p1",
    number=2,
    title="Update the README with new information.",
    url="https://github.com/Codertocat/Hello-World/pull/2",
    head_ref="changes",
    head_sha=HEAD,
    author="Codertocat",
    hostname="pr-2-api-shop.localhost",
    status="building",
    deployment_id="dep-pv",
    created_at=datetime(2026, 1, 2, tzinfo=UTC),
    updated_at=datetime(2026, 1, 2, tzinfo=UTC),
)


@dataclasses.dataclass
class Calls:
    opened: list[PreviewOpen] = dataclasses.field(default_factory=list)
    closed: list[tuple[str, int]] = dataclasses.field(default_factory=list)


@pytest.fixture
def git(world: World) -> Git:
    g = make_git(world)
    hooks_on = {k: dataclasses.replace(h, previews=True, max_previews=2) for k, h in HOOKS.items()}
    g.webhooks.get_webhook_fn = lambda id: hooks_on[id]
    g.previews = FakePreviews()
    return g


@pytest.fixture
def calls(git: Git) -> Calls:
    c = Calls()

    def open_preview(req: PreviewOpen) -> PreviewOutcome:
        c.opened.append(req)
        return PreviewOutcome(PreviewAction.CREATED, "Creating the preview of #2.", PREVIEW, "dep-pv")

    def close_preview(service_id: str, number: int) -> PreviewOutcome:
        c.closed.append((service_id, number))
        return PreviewOutcome(PreviewAction.REMOVED, "Removing the preview of #2.", PREVIEW)

    git.previews.open_preview_fn = open_preview
    git.previews.close_preview_fn = close_preview
    return c


def gh(action: str, payload: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    payload = {"ref": "changes", "base_ref": "main", **(payload or {})}
    body = github_pull_request(action, number=2, sha=HEAD, clone_url="https://example.com/a.git", **payload)
    return github(body, event="pull_request", **kw)


def gl(action: str, token: str = SECRET, **payload: Any) -> dict[str, Any]:
    payload = {"target_branch": "main", **payload}
    body = gitlab_merge_request(
        action, iid=2, ref="changes", sha=HEAD, clone_url="https://example.com/a.git", **payload
    )
    headers = {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": token, "Idempotency-Key": f"gl-{action}"}
    return {"content": json.dumps(body).encode(), "headers": headers}


@pytest.mark.parametrize(
    ("send", "path", "opened", "closed"),
    [
        (lambda: gh("opened"), "github/gh", True, False),
        (lambda: gh("reopened"), "github/gh", True, False),
        (lambda: gh("synchronize"), "github/gh", True, False),
        (lambda: gh("closed"), "github/gh", False, True),
        (lambda: gl("open"), "gitlab/gl", True, False),
        (lambda: gl("update"), "gitlab/gl", True, False),
        (lambda: gl("reopen"), "gitlab/gl", True, False),
        (lambda: gl("close"), "gitlab/gl", False, True),
        (lambda: gl("merge"), "gitlab/gl", False, True),
    ],
)
async def test_request_actions_open_or_close_the_preview(
    git: Git, calls: Calls, send: Any, path: str, opened: bool, closed: bool
) -> None:
    async with client_for(git.app(), token=None) as c:
        r = await c.post(f"/webhooks/{path}", **send())
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["preview_number"], body["branch"], body["commit_sha"]) == (2, "changes", HEAD)
    assert body["status"] == "success"
    if opened:
        [req] = calls.opened
        assert (req.service_id, req.number, req.head_ref, req.head_sha, req.max_previews) == (
            "s1",
            2,
            "changes",
            HEAD,
            2,
        )
        assert (body["preview_action"], body["deployment_id"]) == ("created", "dep-pv")
    if closed:
        assert calls.closed == [("s1", 2)]
        assert body["preview_action"] == "removed"
    assert git.redeployed == []  # a request never deploys the service itself


async def test_a_skipped_outcome_is_recorded_as_skipped_with_its_reason(git: Git) -> None:
    reason = (
        "No preview for #2: the service already has 2 of at most 2 previews (#1, #3); close one or raise the limit."
    )
    git.previews.open_preview_fn = lambda req: PreviewOutcome(PreviewAction.SKIPPED, reason)
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/github/gh", **gh("opened"))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["preview_action"], r.json()["reason"]) == ("skipped", "skipped", reason)
    assert git.deliveries[-1].preview_action == "skipped"


@pytest.mark.parametrize(
    ("send", "hook_change", "reason"),
    [
        (lambda: gh("opened"), {"previews": False}, "Previews are off for this webhook."),
        (lambda: gh("edited"), {}, "The edited action of #2 does not change its preview."),
        (lambda: gh("opened"), {"enabled": False}, "The webhook is disabled."),
    ],
)
async def test_requests_that_change_nothing_say_why(
    git: Git, send: Any, hook_change: dict[str, Any], reason: str
) -> None:
    hook = dataclasses.replace(HOOKS["gh"], **{"previews": True, **hook_change})
    git.webhooks.get_webhook_fn = lambda id: hook
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/github/gh", **send())
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reason"]) == ("skipped", reason)


async def test_a_request_is_verified_like_a_push(git: Git, calls: Calls) -> None:
    async with client_for(git.app(), token=None) as c:
        bad_gh = await c.post("/webhooks/github/gh", **gh("opened", secret="wrong"))
        bad_gl = await c.post("/webhooks/gitlab/gl", **gl("open", token="wrong"))
    assert (bad_gh.status_code, bad_gl.status_code) == (401, 401)
    assert calls.opened == []
    assert [d.status for d in git.deliveries] == [DeliveryStatus.FAILED, DeliveryStatus.FAILED]


async def test_a_replayed_request_body_does_nothing(git: Git, calls: Calls) -> None:
    async with client_for(git.app(), token=None) as c:
        first = await c.post("/webhooks/github/gh", **gh("opened", delivery="k1"))
        again = await c.post("/webhooks/github/gh", **gh("opened", delivery="k2"))
    assert first.json()["status"] == "success"
    assert again.json()["status"] == "skipped"
    assert "replay" in again.json()["reason"]
    assert len(calls.opened) == 1


async def test_a_malformed_request_is_refused_with_what_is_missing(git: Git) -> None:
    body = github_pull_request("opened", number=2, ref="changes", sha=HEAD, clone_url="x")
    del body["pull_request"]["head"]["sha"]
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/github/gh", **github(body, event="pull_request"))
    assert r.status_code == 400, r.text
    reason = "The body is not a pull_request event's JSON: pull_request.head.sha is missing."
    assert r.json()["message"] == reason
    assert (git.deliveries[-1].status, git.deliveries[-1].reason) == (DeliveryStatus.FAILED, reason)


async def test_a_failing_preview_is_recorded_failed_and_answered(git: Git) -> None:
    def taken(req: PreviewOpen) -> PreviewOutcome:
        raise Error(CONFLICT, "The hostname 'pr-2-api-shop.localhost' is already in use.")

    git.previews.open_preview_fn = taken
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/github/gh", **gh("opened"))
    assert r.status_code == 409
    assert git.deliveries[-1].status == DeliveryStatus.FAILED
    assert git.deliveries[-1].reason == "The hostname 'pr-2-api-shop.localhost' is already in use."


async def test_previews_are_listed_and_their_scope_set(git: Git) -> None:
    stored: dict[str, str] = {}
    git.previews.list_previews_fn = lambda service_id: [PREVIEW]
    git.previews.get_preview_vars_fn = lambda service_id: dict(stored)

    def set_vars(service_id: str, values: dict[str, str]) -> dict[str, str]:
        stored.clear()
        stored.update(values)
        return dict(stored)

    git.previews.set_preview_vars_fn = set_vars
    async with client_for(git.app()) as c:
        listed = await c.get("/projects/p1/services/s1/previews")
        put = await c.put("/projects/p1/services/s1/previews/vars", json={"vars": {"MODE": "preview"}})
        got = await c.get("/projects/p1/services/s1/previews/vars")
        bad = await c.put("/projects/p1/services/s1/previews/vars", json={"vars": {"MODE": 3}})
        other = await c.get("/projects/p1/services/nope/previews")
    assert listed.status_code == 200, listed.text
    [p] = listed.json()["data"]
    assert (p["number"], p["title"], p["url"], p["hostname"], p["status"]) == (
        2,
        PREVIEW.title,
        PREVIEW.url,
        "pr-2-api-shop.localhost",
        "building",
    )
    assert put.json() == {"vars": {"MODE": "preview"}}
    assert got.json() == {"vars": {"MODE": "preview"}}
    assert bad.status_code == 422
    assert other.status_code == 404


async def test_without_previews_the_routes_answer_503(git: Git) -> None:
    async with client_for(git.app(without="previews")) as c:
        r = await c.get("/projects/p1/services/s1/previews")
    assert r.status_code == 503


@pytest.mark.parametrize(
    ("outcome", "status", "reason"),
    [
        (
            PreviewOutcome(PreviewAction.REMOVED, "Removing the preview of #2.", PREVIEW),
            "success",
            "Removing the preview of #2.",
        ),
        (PreviewOutcome(PreviewAction.SKIPPED, "#2 has no preview."), "skipped", "Previews are off for this webhook."),
    ],
)
async def test_a_close_removes_a_running_preview_even_with_previews_off(
    git: Git, outcome: PreviewOutcome, status: str, reason: str
) -> None:
    hook = dataclasses.replace(HOOKS["gh"], previews=False)
    git.webhooks.get_webhook_fn = lambda id: hook
    closed: list[int] = []

    def close(service_id: str, number: int) -> PreviewOutcome:
        closed.append(number)
        return outcome

    git.previews.close_preview_fn = close
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/github/gh", **gh("closed"))
    assert (r.json()["status"], r.json()["reason"]) == (status, reason)
    assert closed == [2]


FORK_URL = "https://forks.example.com/octocat/Hello-World.git"


@pytest.mark.parametrize(
    ("send", "forks", "opened_from", "reason"),
    [
        (lambda: gh("opened", {"base_ref": "develop"}), True, None, "#2 is a request into branch develop; the "
         "service deploys main, so no preview."),
        (lambda: gl("open", target_branch="develop"), True, None, "#2 is a request into branch develop; the "
         "service deploys main, so no preview."),
        (lambda: gh("opened", {"fork_url": FORK_URL}), False, None, "Request from a fork (octocat/Hello-World): "
         "previews of forks are off for this webhook (previews_from_forks), since a fork's code would run with "
         "the preview variables."),
        (lambda: gl("open", fork_url=FORK_URL), False, None, "Request from a fork (forker/awesome_project): "
         "previews of forks are off for this webhook (previews_from_forks), since a fork's code would run with "
         "the preview variables."),
        (lambda: gh("opened", {"fork_url": FORK_URL, "private_fork": True}), True, None, "Request from a fork "
         "(octocat/Hello-World) that is not public: the daemon cannot clone it (the service's deploy key and "
         "credentials are for its own repository only); no preview."),
        (lambda: gh("opened", {"fork_url": "file:///etc/secret-repo"}), True, None, "The fork's repository "
         "file:///etc/secret-repo is refused: it is a repository on the daemon's own host; the daemon refuses "
         "those unless started with --allow-local-repos; no preview."),
        (lambda: gh("opened", {"fork_url": "http://169.254.169.254/latest.git"}), True, None, "The fork's "
         "repository http://169.254.169.254/latest.git is refused: it is a repository on the daemon's own host; "
         "the daemon refuses those unless started with --allow-local-repos; no preview."),
        (lambda: gh("opened", {"fork_url": "ext::sh -c touch% /tmp/pwned"}), True, None, "The fork's repository "
         "ext::sh -c touch% /tmp/pwned is refused: it must be an https://, ssh://, git@host:path, file:// URL or "
         "an absolute path; no preview."),
        (lambda: gh("opened", {"fork_url": FORK_URL}), True, FORK_URL, None),
        (lambda: gh("opened", {"ref": "--upload-pack=touch /tmp/x"}), False, None, "The request's head branch "
         "'--upload-pack=touch /tmp/x' is not a valid branch name; no preview."),
        (lambda: gl("open", fork_url=FORK_URL), True, FORK_URL, None),
        (lambda: gh("opened"), False, None, None),  # the service's own repository: its URL, its key
    ],
)  # fmt: skip
async def test_requests_are_filtered_by_target_branch_and_fork(
    git: Git, calls: Calls, send: Any, forks: bool, opened_from: str | None, reason: str | None
) -> None:
    hooks = {k: dataclasses.replace(h, previews=True, previews_from_forks=forks) for k, h in HOOKS.items()}
    git.webhooks.get_webhook_fn = lambda id: hooks[id]
    # No preview runs: a request into another branch has none to remove.
    git.previews.close_preview_fn = lambda s, n: PreviewOutcome(PreviewAction.SKIPPED, f"#{n} has no preview.")
    request = send()
    path = "github/gh" if "X-GitHub-Event" in request["headers"] else "gitlab/gl"
    async with client_for(git.app(), token=None) as c:
        r = await c.post(f"/webhooks/{path}", **request)
    assert r.status_code == 200, r.text
    if reason is not None:
        assert (r.json()["status"], r.json()["preview_action"], r.json()["reason"]) == ("skipped", "skipped", reason)
        assert calls.opened == []
        return
    [req] = calls.opened
    assert (r.json()["status"], req.repo_url, req.head_ref) == ("success", opened_from, "changes")


async def test_a_close_from_a_fork_or_another_branch_still_removes_its_preview(git: Git, calls: Calls) -> None:
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/github/gh", **gh("closed", {"fork_url": FORK_URL, "base_ref": "develop"}))
    assert (r.json()["status"], r.json()["preview_action"]) == ("success", "removed")
    assert calls.closed == [("s1", 2)]


@pytest.mark.parametrize(
    ("send", "path"),
    [
        (lambda: gh("edited", {"base_ref": "develop", "retargeted_from": "main"}), "github/gh"),
        (lambda: gh("synchronize", {"base_ref": "develop"}), "github/gh"),
        (lambda: gh("reopened", {"base_ref": "develop"}), "github/gh"),
        (lambda: gl("update", target_branch="develop"), "gitlab/gl"),
    ],
)
@pytest.mark.parametrize("previews_on", [True, False])
async def test_a_request_retargeted_to_another_branch_loses_its_preview(
    git: Git, calls: Calls, send: Any, path: str, previews_on: bool
) -> None:
    hooks = {k: dataclasses.replace(h, previews=previews_on) for k, h in HOOKS.items()}
    git.webhooks.get_webhook_fn = lambda id: hooks[id]
    async with client_for(git.app(), token=None) as c:
        r = await c.post(f"/webhooks/{path}", **send())
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["preview_action"], r.json()["reason"]) == (
        "success",
        "removed",
        "#2 is a request into branch develop; the service deploys main, so no preview. Removing the preview of #2.",
    )
    assert (calls.closed, calls.opened) == ([("s1", 2)], [])


async def test_a_request_retargeted_into_the_services_branch_gets_a_preview(git: Git, calls: Calls) -> None:
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/github/gh", **gh("edited", {"retargeted_from": "develop"}))
    assert (r.json()["status"], r.json()["preview_action"]) == ("success", "created")
    assert ([req.head_ref for req in calls.opened], calls.closed) == (["changes"], [])


async def test_an_edit_that_keeps_the_base_does_not_touch_the_preview(git: Git, calls: Calls) -> None:
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/github/gh", **gh("edited"))
    assert (r.json()["status"], r.json()["preview_action"], r.json()["reason"]) == (
        "skipped",
        "skipped",
        "The edited action of #2 does not change its preview.",
    )
    assert (calls.opened, calls.closed) == ([], [])
