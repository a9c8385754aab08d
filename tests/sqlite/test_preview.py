"""PreviewStore: a preview is a hidden service with a deployment of the request's head, its own
generated domain and env (the service's, overlaid by the preview scope), at most N per service."""

from __future__ import annotations

import dataclasses

import pytest

from deploykit.bus import EventType
from deploykit.deployment import DeploymentFilter, DeploymentStatus, DeploymentTrigger
from deploykit.errors import Error, ValidationError
from deploykit.pending_change import ChangeKind
from deploykit.preview import PreviewAction, PreviewOpen
from deploykit.project import Project
from deploykit.service import GitSource, Service, ServiceFilter
from deploykit.webhook import Provider
from deploykit_sqlite import Store
from tests.sqlite.support import RecordingBus, deploy_services, image_service, stage

GIT = {"type": "git", "repo_url": "https://example.com/acme/app.git", "branch": "main"}
SHA1, SHA2 = "a" * 40, "b" * 40


@pytest.fixture
async def app(store: Store, project: Project) -> Service:
    [svc], _ = await deploy_services(store, project.id, {"name": "app", "source": GIT, "port": 8080})
    await stage(
        store,
        project.id,
        ChangeKind.ENV_VAR_CREATE,
        {"scope": "service", "scope_id": svc.id, "key": "MODE", "value": "prod"},
    )
    await stage(
        store,
        project.id,
        ChangeKind.ENV_VAR_CREATE,
        {"scope": "service", "scope_id": svc.id, "key": "KEEP", "value": "1"},
    )
    await store.pending_changes.apply_pending_changes(project.id, None)
    return svc


def opening(svc: Service, number: int, sha: str = SHA1, max_previews: int = 3) -> PreviewOpen:
    return PreviewOpen(
        service_id=svc.id,
        number=number,
        title=f"Change {number}",
        url=f"https://github.com/acme/app/pull/{number}",
        head_ref=f"feature-{number}",
        head_sha=sha,
        author="ada",
        max_previews=max_previews,
    )


async def test_open_creates_a_hidden_service_with_its_domain_env_and_deployment(
    store: Store, project: Project, app: Service, bus: RecordingBus
) -> None:
    await store.previews.set_preview_vars(app.id, {"MODE": "preview", "DEBUG": "1"})
    bus.clear()
    outcome = await store.previews.open_preview(opening(app, 7))
    assert outcome.action == PreviewAction.CREATED
    preview = outcome.preview
    assert preview is not None
    assert preview.hostname == f"pr-7-app-{project.slug}.example.test"
    assert (preview.number, preview.title, preview.head_sha, preview.status) == (7, "Change 7", SHA1, "pending")
    hidden = await store.services.get_service(preview.preview_service_id)
    assert (hidden.name, hidden.slug) == ("app#pr-7", "pr-7--app")
    assert isinstance(hidden.config.source, GitSource)
    assert hidden.config.source.branch == "feature-7"
    deployment = await store.deployments.get_deployment(str(outcome.deployment_id))
    assert deployment.service_id == hidden.id
    assert deployment.commit_sha == SHA1
    assert deployment.env_vars == {"MODE": "preview", "KEEP": "1", "DEBUG": "1"}
    assert deployment.trigger == DeploymentTrigger.WEBHOOK
    assert [d.hostname for d in await store.domains.list_domains(hidden.id)] == [preview.hostname]
    # Hidden from service lists (the canvas, the API), seen by the reconciler.
    listed, total = await store.services.list_services(ServiceFilter(project_id=project.id))
    assert [s.id for s in listed] == [app.id]
    assert total == 1
    everything, _ = await store.services.list_services(ServiceFilter(project_id=project.id, include_previews=True))
    assert {s.id for s in everything} == {app.id, hidden.id}
    assert EventType.PREVIEW_CREATED in bus.types()
    assert EventType.DEPLOYMENT_CREATED in bus.types()
    assert outcome.reason == f"Creating the preview of #7 from {SHA1[:12]} at {preview.hostname}."


async def test_a_new_head_replaces_the_deployment_and_the_same_head_does_nothing(store: Store, app: Service) -> None:
    first = await store.previews.open_preview(opening(app, 7))
    same = await store.previews.open_preview(opening(app, 7))
    assert same.action == PreviewAction.SKIPPED
    assert same.deployment_id == first.deployment_id
    assert same.reason == f"The preview of #7 already runs {SHA1[:12]}; nothing deployed."
    second = await store.previews.open_preview(opening(app, 7, SHA2))
    assert second.action == PreviewAction.UPDATED
    assert second.preview is not None
    assert second.preview.head_sha == SHA2
    assert first.preview is not None
    assert second.preview.id == first.preview.id
    older = await store.deployments.get_deployment(str(first.deployment_id))
    assert older.status == DeploymentStatus.CANCELLED  # the newest in-flight one wins
    [listed] = await store.previews.list_previews(app.id)
    assert (listed.deployment_id, listed.head_sha) == (second.deployment_id, SHA2)


async def test_a_request_beyond_the_limit_is_skipped_with_the_reason(store: Store, app: Service) -> None:
    for n in (1, 2):
        assert (await store.previews.open_preview(opening(app, n, max_previews=2))).action == PreviewAction.CREATED
    over = await store.previews.open_preview(opening(app, 3, max_previews=2))
    assert over.action == PreviewAction.SKIPPED
    assert over.preview is None
    assert over.reason.startswith("No preview for #3: the service already has 2 of at most 2 previews (#1, #2)")
    assert [p.number for p in await store.previews.list_previews(app.id)] == [1, 2]
    # An existing one still updates at the limit; a closed one frees a place.
    assert (await store.previews.open_preview(opening(app, 2, SHA2, max_previews=2))).action == PreviewAction.UPDATED
    assert (await store.previews.close_preview(app.id, 1)).action == PreviewAction.REMOVED
    assert (await store.previews.open_preview(opening(app, 3, max_previews=2))).action == PreviewAction.CREATED


async def test_close_deletes_the_hidden_service_and_says_so(store: Store, app: Service, bus: RecordingBus) -> None:
    opened = await store.previews.open_preview(opening(app, 4))
    assert opened.preview is not None
    bus.clear()
    closed = await store.previews.close_preview(app.id, 4)
    assert closed.action == PreviewAction.REMOVED
    with pytest.raises(Error) as info:
        await store.services.get_service(opened.preview.preview_service_id)
    assert info.value.code == "not_found"
    deleted = bus.of(EventType.SERVICE_DELETED)
    assert [e.service_id for e in deleted] == [opened.preview.preview_service_id]
    assert bus.of(EventType.PREVIEW_REMOVED)[0].payload["number"] == 4
    assert await store.previews.list_previews(app.id) == []
    again = await store.previews.close_preview(app.id, 4)
    assert (again.action, again.reason) == (PreviewAction.SKIPPED, "#4 has no preview; nothing to remove.")


async def test_deleting_the_service_takes_its_previews_and_tells_the_reconciler(
    store: Store, project: Project, app: Service, bus: RecordingBus
) -> None:
    opened = await store.previews.open_preview(opening(app, 5))
    assert opened.preview is not None
    bus.clear()
    await stage(store, project.id, ChangeKind.SERVICE_DELETE, target_id=app.id)
    await store.pending_changes.apply_pending_changes(project.id, None)
    assert {e.service_id for e in bus.of(EventType.SERVICE_DELETED)} == {app.id, opened.preview.preview_service_id}
    all_services, _ = await store.services.list_services(ServiceFilter(include_previews=True))
    assert all_services == []


async def test_an_image_service_has_no_previews(store: Store, project: Project) -> None:
    [web], _ = await deploy_services(store, project.id, image_service("web"))
    with pytest.raises(Error) as info:
        await store.previews.open_preview(opening(web, 1))
    assert (info.value.code, info.value.message) == ("invalid", "Only a service built from git can have previews.")


async def test_a_taken_hostname_fails_and_stores_nothing(store: Store, project: Project, app: Service) -> None:
    # A user's service named "pr-9-app" holds the generated domain the preview of #9 would get.
    await deploy_services(store, project.id, image_service("pr-9-app"))
    with pytest.raises(Error) as info:
        await store.previews.open_preview(opening(app, 9))
    assert info.value.code == "conflict"
    assert await store.previews.list_previews(app.id) == []
    listed, _ = await store.services.list_services(ServiceFilter(include_previews=True, project_id=project.id))
    assert sorted(s.name for s in listed) == ["app", "pr-9-app"]


async def test_preview_vars_are_validated_and_replaced(store: Store, app: Service) -> None:
    assert await store.previews.set_preview_vars(app.id, {"A": "1", "B": "2"}) == {"A": "1", "B": "2"}
    assert await store.previews.set_preview_vars(app.id, {"B": "3"}) == {"B": "3"}
    with pytest.raises(ValidationError) as info:
        await store.previews.set_preview_vars(app.id, {"1BAD": "x"})
    assert list(info.value.fields) == ["vars.1BAD"]
    assert await store.previews.get_preview_vars(app.id) == {"B": "3"}


async def test_webhook_preview_settings(store: Store, app: Service) -> None:
    hook = await store.webhooks.create_webhook(app.id, Provider.GITHUB)
    assert (hook.previews, hook.max_previews) == (False, 3)
    hook = await store.webhooks.update_webhook(app.id, previews=True, max_previews=5)
    assert (hook.enabled, hook.previews, hook.max_previews) == (True, True, 5)
    hook = await store.webhooks.update_webhook(app.id, enabled=False)
    assert (hook.enabled, hook.previews, hook.max_previews) == (False, True, 5)
    assert hook.previews_from_forks is False  # forks are off unless turned on
    hook = await store.webhooks.update_webhook(app.id, previews_from_forks=True)
    assert (hook.enabled, hook.previews, hook.max_previews, hook.previews_from_forks) == (False, True, 5, True)
    renewed = await store.webhooks.create_webhook(app.id, Provider.GITLAB)  # a new secret keeps them
    assert (renewed.previews, renewed.max_previews, renewed.previews_from_forks) == (True, 5, True)
    with pytest.raises(ValidationError) as info:
        await store.webhooks.update_webhook(app.id, max_previews=21)
    assert info.value.fields == {"max_previews": ["must be between 0 and 20"]}


async def test_env_of_a_preview_resolves_references(store: Store, project: Project, app: Service) -> None:
    await deploy_services(store, project.id, image_service("db", port=5432))
    await store.previews.set_preview_vars(app.id, {"DB": "${{db.HOST}}:${{db.PORT}}"})
    outcome = await store.previews.open_preview(opening(app, 2))
    deployment = await store.deployments.get_deployment(str(outcome.deployment_id))
    assert deployment.env_vars["DB"] == "db:5432"
    # The service's own deployments are untouched by its preview's.
    deployments, _ = await store.deployments.list_deployments(DeploymentFilter(service_id=app.id))
    assert outcome.deployment_id not in {d.id for d in deployments}


async def test_a_preview_cannot_be_staged_like_a_service(store: Store, project: Project, app: Service) -> None:
    opened = await store.previews.open_preview(opening(app, 6))
    assert opened.preview is not None
    hidden = opened.preview.preview_service_id
    for kind, payload in ((ChangeKind.SERVICE_UPDATE, {"replicas": 2}), (ChangeKind.SERVICE_DELETE, {})):
        with pytest.raises(Error) as info:
            await stage(store, project.id, kind, payload, target_id=hidden)
        assert info.value.code == "not_found"
    with pytest.raises(Error) as info:
        await store.previews.open_preview(dataclasses.replace(opening(app, 1), service_id=hidden))
    assert info.value.code == "not_found"  # no preview of a preview


async def test_deleting_the_webhook_removes_the_previews(store: Store, app: Service, bus: RecordingBus) -> None:
    await store.webhooks.create_webhook(app.id, Provider.GITHUB)
    opened = [await store.previews.open_preview(opening(app, n)) for n in (1, 2)]
    bus.clear()
    await store.webhooks.delete_webhook(app.id)
    assert await store.previews.list_previews(app.id) == []
    hidden = {o.preview.preview_service_id for o in opened if o.preview is not None}
    assert {e.service_id for e in bus.of(EventType.SERVICE_DELETED)} == hidden
    assert sorted(e.payload["number"] for e in bus.of(EventType.PREVIEW_REMOVED)) == [1, 2]


async def test_a_fork_preview_is_built_from_the_fork_and_the_service_keeps_its_repository(
    store: Store, app: Service
) -> None:
    fork = "https://forks.example.com/ada/app.git"
    outcome = await store.previews.open_preview(dataclasses.replace(opening(app, 4), repo_url=fork))
    assert outcome.preview is not None
    hidden = await store.services.get_service(outcome.preview.preview_service_id)
    deployment = await store.deployments.get_deployment(str(outcome.deployment_id))
    for source in (hidden.config.source, deployment.config.source):
        assert isinstance(source, GitSource)
        assert (source.repo_url, source.branch) == (fork, "feature-4")
    assert (await store.services.get_service(app.id)).config.source == app.config.source
