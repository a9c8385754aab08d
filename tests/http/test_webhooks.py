"""Push webhooks, their deliveries and deploy keys over fakes: what each delivery does and records."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from deploykit.build import DeployKeyPair
from deploykit.deployment import Deployment, DeploymentStatus, DeploymentTrigger
from deploykit.errors import CONFLICT, NOT_FOUND, Error
from deploykit.service import GitSource, Service, ServiceConfig
from deploykit.webhook import DeliveryStatus, Provider, Webhook, WebhookDelivery
from deploykit_http.app import build_app
from deploykit_http.context import HTTPSettings
from tests.http.conftest import client_for
from tests.http.fakes import FakeRestarter, FakeRuntime, World, fake

SECRET = "s3cret"
GIT_SERVICE = Service(
    id="s1",
    project_id="p1",
    name="api",
    slug="api",
    config=ServiceConfig(source=GitSource(repo_url="https://example.com/a.git", branch="main"), port=80),
)
HOOKS = {
    "gh": Webhook("gh", "s1", Provider.GITHUB, SECRET, created_at=datetime(2026, 1, 2, tzinfo=UTC)),
    "gl": Webhook("gl", "s1", Provider.GITLAB, SECRET, created_at=datetime(2026, 1, 2, tzinfo=UTC)),
}
SHA = "a" * 40

FakeWebhooks = fake(
    "FakeWebhooks",
    "get_webhook",
    "get_service_webhook",
    "create_webhook",
    "update_webhook",
    "delete_webhook",
    "get_delivery",
    "record_delivery",
    "find_delivery",
    "find_delivery_by_body",
    "list_deliveries",
)
FakeDeployKeys = fake(
    "FakeDeployKeys", "get_deploy_key", "set_deploy_key", "delete_deploy_key", "get_known_hosts", "set_known_hosts"
)


@dataclasses.dataclass
class Git:
    """The world of these tests: a git service, its webhooks, the deliveries and deployments made."""

    world: World
    webhooks: Any
    keys: Any
    deliveries: list[WebhookDelivery] = dataclasses.field(default_factory=list)
    redeployed: list[tuple[str, str | None, str | None]] = dataclasses.field(default_factory=list)
    generated: int = 0
    previews: Any = None
    """A ``PreviewService`` fake (``test_previews``); None answers 503."""

    def app(self, without: str | None = None) -> Any:
        c = dataclasses.replace(
            self.world.collaborators(),
            webhooks=self.webhooks,
            previews=self.previews,
            deploy_keys=self.keys,
            generate_deploy_key=self.generate,
        )
        if without is not None:
            gone: dict[str, Any] = {without: None}
            c = dataclasses.replace(c, **gone)
        return build_app(c, HTTPSettings(sse_ping_s=0.05))

    def generate(self, comment: str) -> DeployKeyPair:
        self.generated += 1
        return DeployKeyPair(f"ssh-ed25519 KEY{self.generated} {comment}", f"SHA256:{self.generated}", "PRIVATE")


@pytest.fixture
def git(world: World) -> Git:
    return make_git(world)


def make_git(world: World) -> Git:
    """The git service with fakes recording deliveries and deployments (``test_previews`` too)."""
    hooks, keys = FakeWebhooks(), FakeDeployKeys()
    g = Git(world, hooks, keys)
    world.services.get_service_fn = lambda id: GIT_SERVICE if id == "s1" else _raise(Error(NOT_FOUND, "nope"))
    hooks.get_webhook_fn = lambda id: HOOKS.get(id) or _raise(Error(NOT_FOUND, "Webhook not found."))
    hooks.get_service_webhook_fn = lambda service_id: HOOKS["gh"]
    hooks.get_delivery_fn = lambda webhook_id, id: (
        next((d for d in g.deliveries if d.webhook_id == webhook_id and d.id == id), None)
        or _raise(Error(NOT_FOUND, "Delivery not found."))
    )
    hooks.list_deliveries_fn = lambda webhook_id, limit=50: [d for d in reversed(g.deliveries)][:limit]
    hooks.find_delivery_fn = lambda webhook_id, key: next(
        (d for d in g.deliveries if d.webhook_id == webhook_id and d.delivery_key == key), None
    )

    hooks.find_delivery_by_body_fn = lambda webhook_id, digest: next(
        (
            d
            for d in g.deliveries
            if d.webhook_id == webhook_id and d.body_sha256 == digest and d.status != DeliveryStatus.FAILED
        ),
        None,
    )
    world.deployments.list_deployments_fn = lambda filt: ([], 0)

    def record(d: WebhookDelivery) -> WebhookDelivery:
        d = dataclasses.replace(d, id=f"d{len(g.deliveries) + 1}")
        g.deliveries.append(d)
        return d

    hooks.record_delivery_fn = record

    def redeploy(
        service_id: str,
        created_by: str | None,
        commit_sha: str | None = None,
        commit_message: str | None = None,
        trigger: DeploymentTrigger = DeploymentTrigger.REDEPLOY,
        actor: str | None = None,
    ) -> Deployment:
        assert trigger == DeploymentTrigger.WEBHOOK
        assert actor in ("GitHub webhook", "GitLab webhook")
        g.redeployed.append((service_id, commit_sha, commit_message))
        return Deployment("dep-new", service_id, "p1", DeploymentStatus.PENDING, GIT_SERVICE.config)

    world.deployments.redeploy_fn = redeploy
    world.runtime = FakeRuntime()
    world.restarter = FakeRestarter()  # any call fails the request: deployment.created wakes the reconciler
    return g


def _raise(exc: Exception) -> Any:
    raise exc


def github(body: dict[str, Any], *, event: str = "push", delivery: str = "k1", secret: str = SECRET) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig}
    return {"content": raw, "headers": headers}


def push(branch: str = "main", sha: str = SHA) -> dict[str, Any]:
    return {"ref": f"refs/heads/{branch}", "after": sha, "head_commit": {"message": "fix", "author": {"name": "Ada"}}}


async def test_creating_a_webhook_answers_its_url_under_the_request_base(git: Git) -> None:
    git.webhooks.create_webhook_fn = lambda service_id, provider: HOOKS["gh"]
    async with client_for(git.app()) as c:
        r = await c.post("/projects/p1/services/s1/webhook", json={"provider": "github"})
    assert r.status_code == 201, r.text
    assert r.json() == {
        "id": "gh",
        "provider": "github",
        "url": "http://test/api/webhooks/github/gh",
        "secret": SECRET,
        "enabled": True,
        "created_at": "2026-01-02T00:00:00Z",
        "previews": False,
        "max_previews": 3,
        "previews_from_forks": False,
    }


async def test_a_push_to_the_service_branch_deploys_the_pushed_commit(git: Git) -> None:
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/github/gh", **github(push()))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["deployment_id"], r.json()["author"]) == ("success", "dep-new", "Ada")
    assert git.redeployed == [("s1", SHA, "fix")]
    assert git.deliveries[0].delivery_key == "k1"


@pytest.mark.parametrize(
    ("case", "request_kw", "status", "recorded", "reason"),
    [
        (
            "bad signature",
            github(push(), secret="wrong"),
            401,
            DeliveryStatus.FAILED,
            "The signature does not match the webhook's secret.",
        ),
        (
            "another branch",
            github(push("dev")),
            200,
            DeliveryStatus.SKIPPED,
            "Push to branch dev; the service deploys main.",
        ),
        (
            "a tag",
            github({"ref": "refs/tags/v1", "after": SHA}),
            200,
            DeliveryStatus.SKIPPED,
            "Not a push to a branch.",
        ),
        (
            "a deleted branch",
            github(push(sha="0" * 40)),
            200,
            DeliveryStatus.SKIPPED,
            "The branch was deleted.",
        ),
        (
            "another event",
            github({}, event="issues"),
            200,
            DeliveryStatus.SKIPPED,
            "The issues event is not handled; only push and pull_request.",
        ),
        ("ping", github({"zen": "hi"}, event="ping"), 200, DeliveryStatus.SUCCESS, "Pong."),
    ],
)
async def test_a_delivery_that_does_not_deploy_records_why(
    git: Git, case: str, request_kw: dict[str, Any], status: int, recorded: DeliveryStatus, reason: str
) -> None:
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/github/gh", **request_kw)
    assert r.status_code == status, r.text
    assert [(d.status, d.reason) for d in git.deliveries] == [(recorded, reason)]
    assert git.redeployed == []
    if status == 401:
        assert r.json() == {"error": "unauthorized", "message": "The webhook signature does not match."}
        assert git.deliveries[0].delivery_key is None  # a forged request cannot use up a genuine id


async def test_a_repeated_delivery_id_does_nothing_again(git: Git) -> None:
    async with client_for(git.app(), token=None) as c:
        first = await c.post("/webhooks/github/gh", **github(push(), delivery="same"))
        again = await c.post("/webhooks/github/gh", **github(push(), delivery="same"))
    assert (first.json()["status"], again.json()["status"]) == ("success", "skipped")
    assert again.json()["reason"] == "Delivery same was already received; nothing done."
    assert git.redeployed == [("s1", SHA, "fix")]


async def test_a_push_to_a_never_deployed_service_is_recorded_failed(git: Git) -> None:
    git.world.deployments.redeploy_fn = lambda *a, **k: _raise(Error(CONFLICT, "The service has never been deployed."))
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/github/gh", **github(push()))
    assert r.status_code == 409
    assert [(d.status, d.reason) for d in git.deliveries] == [
        (DeliveryStatus.FAILED, "The service has never been deployed.")
    ]


@pytest.mark.parametrize(("token", "status"), [(SECRET, 200), ("wrong", 401), (None, 401)])
async def test_a_gitlab_push_is_verified_by_its_token(git: Git, token: str | None, status: int) -> None:
    headers = {"X-Gitlab-Event": "Push Hook", **({"X-Gitlab-Token": token} if token else {})}
    body = {"ref": "refs/heads/main", "checkout_sha": SHA, "commits": [{"id": SHA, "message": "m"}]}
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/gitlab/gl", json=body, headers=headers)
    assert r.status_code == status, r.text
    assert git.redeployed == ([("s1", SHA, "m")] if status == 200 else [])


async def test_a_webhook_of_the_other_provider_is_not_found(git: Git) -> None:
    async with client_for(git.app(), token=None) as c:
        r = await c.post("/webhooks/gitlab/gh", json={}, headers={"X-Gitlab-Token": SECRET})
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


async def test_the_deploy_key_is_made_on_first_use_and_rotated_by_post(git: Git) -> None:
    stored: dict[str, DeployKeyPair] = {}
    git.keys.get_deploy_key_fn = lambda sid: stored.get(sid) or _raise(Error(NOT_FOUND, "Deploy key not found."))

    def set_key(service_id: str, pair: DeployKeyPair) -> DeployKeyPair:
        stored[service_id] = pair
        return pair

    git.keys.set_deploy_key_fn = set_key
    async with client_for(git.app()) as c:
        first = (await c.get("/projects/p1/services/s1/deploy-key")).json()
        same = (await c.get("/projects/p1/services/s1/deploy-key")).json()
        rotated = await c.post("/projects/p1/services/s1/deploy-key")
    assert first == same == {"public_key": "ssh-ed25519 KEY1 deploykit-api", "fingerprint": "SHA256:1"}
    assert rotated.json() == {"public_key": "ssh-ed25519 KEY2 deploykit-api", "fingerprint": "SHA256:2"}
    assert "PRIVATE" not in rotated.text


@pytest.mark.parametrize(
    ("method", "path", "missing"),
    [
        ("GET", "/projects/p1/services/s1/webhook", "webhooks"),
        ("GET", "/projects/p1/services/s1/deploy-key", "deploy_keys"),
        ("POST", "/projects/p1/services/s1/deploy-key", "generate_deploy_key"),
    ],
)
async def test_without_the_collaborator_the_route_is_unavailable(
    git: Git, method: str, path: str, missing: str
) -> None:
    async with client_for(git.app(without=missing)) as c:
        r = await c.request(method, path)
    assert (r.status_code, r.json()["error"]) == (503, "unavailable")


async def test_a_delivery_body_over_the_limit_is_413(git: Git) -> None:
    app = build_app(
        dataclasses.replace(git.world.collaborators(), webhooks=git.webhooks), HTTPSettings(max_body_bytes=1024)
    )
    async with client_for(app, token=None) as c:
        r = await c.post("/webhooks/github/gh", content=b"x" * 2048, headers={"X-GitHub-Event": "push"})
    assert r.status_code == 413
    assert git.deliveries == []


async def test_disabling_the_webhook_answers_it_disabled(git: Git) -> None:
    seen: list[tuple[str, bool | None, bool | None, int | None, bool | None]] = []

    def update(
        service_id: str,
        *,
        enabled: bool | None = None,
        previews: bool | None = None,
        max_previews: int | None = None,
        previews_from_forks: bool | None = None,
    ) -> Webhook:
        seen.append((service_id, enabled, previews, max_previews, previews_from_forks))
        hook = HOOKS["gh"]
        return dataclasses.replace(
            hook,
            enabled=hook.enabled if enabled is None else enabled,
            previews=hook.previews if previews is None else previews,
            max_previews=hook.max_previews if max_previews is None else max_previews,
            previews_from_forks=hook.previews_from_forks if previews_from_forks is None else previews_from_forks,
        )

    git.webhooks.update_webhook_fn = update
    async with client_for(git.app()) as c:
        r = await c.patch("/projects/p1/services/s1/webhook", json={"enabled": False})
        bad = await c.patch("/projects/p1/services/s1/webhook", json={"enabled": "maybe"})
        previews = await c.patch("/projects/p1/services/s1/webhook", json={"previews": True, "max_previews": 5})
        too_many = await c.patch("/projects/p1/services/s1/webhook", json={"max_previews": 21})
        forks = await c.patch("/projects/p1/services/s1/webhook", json={"previews_from_forks": True})
        bad_forks = await c.patch("/projects/p1/services/s1/webhook", json={"previews_from_forks": "yes please"})
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False
    assert bad.status_code == 422
    assert "enabled" in bad.text
    assert previews.status_code == 200, previews.text
    assert (previews.json()["previews"], previews.json()["max_previews"]) == (True, 5)
    assert too_many.status_code == 422
    assert "max_previews" in too_many.text
    assert forks.json()["previews_from_forks"] is True
    assert bad_forks.status_code == 422
    assert "previews_from_forks" in bad_forks.text
    assert seen == [("s1", False, None, None, None), ("s1", None, True, 5, None), ("s1", None, None, None, True)]


async def test_redelivering_a_push_deploys_its_commit_again_as_a_new_delivery(git: Git) -> None:
    async with client_for(git.app(), token=None) as c:
        first = await c.post("/webhooks/github/gh", **github(push()))
    async with client_for(git.app()) as c:
        r = await c.post(f"/projects/p1/services/s1/webhook/deliveries/{first.json()['id']}/redeliver")
    assert r.status_code == 201, r.text
    again = r.json()
    assert (again["status"], again["branch"], again["commit_sha"], again["deployment_id"]) == (
        "success",
        "main",
        SHA,
        "dep-new",
    )
    assert again["id"] != first.json()["id"]
    assert git.redeployed == [("s1", SHA, "fix"), ("s1", SHA, "fix")]
    assert (git.deliveries[1].delivery_key or "").startswith("redeliver:d1:")


async def test_redelivering_a_push_whose_commit_is_active_does_nothing(git: Git) -> None:
    active = Deployment("dep-old", "s1", "p1", DeploymentStatus.HEALTHY, GIT_SERVICE.config, commit_sha=SHA)
    git.world.services.get_service_fn = lambda id: dataclasses.replace(GIT_SERVICE, active_deployment_id="dep-old")
    git.world.deployments.get_deployment_fn = lambda id: active
    git.deliveries.append(WebhookDelivery("d1", "gh", "push", DeliveryStatus.SUCCESS, branch="main", commit_sha=SHA))
    async with client_for(git.app()) as c:
        r = await c.post("/projects/p1/services/s1/webhook/deliveries/d1/redeliver")
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["deployment_id"]) == ("skipped", "dep-old")
    assert r.json()["reason"] == f"Commit {SHA[:12]} is already the service's active deployment; nothing done."
    assert git.redeployed == []


@pytest.mark.parametrize(
    ("delivery_id", "status", "message"),
    [
        ("d1", 400, "Only a push delivery to a branch can be redelivered; this one has no branch or commit."),
        ("nope", 404, "Delivery not found."),
    ],
)
async def test_a_delivery_that_is_not_a_recorded_push_cannot_be_redelivered(
    git: Git, delivery_id: str, status: int, message: str
) -> None:
    git.deliveries.append(WebhookDelivery("d1", "gh", "ping", DeliveryStatus.SUCCESS, reason="Pong."))
    async with client_for(git.app()) as c:
        r = await c.post(f"/projects/p1/services/s1/webhook/deliveries/{delivery_id}/redeliver")
    assert r.status_code == status, r.text
    assert r.json()["message"] == message
    assert git.redeployed == []
