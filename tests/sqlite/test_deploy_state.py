"""What runs and what is configured stay honest: a config-only change of a git service reuses the
built image, a rollback leaves the service's config equal to what runs, and a config that differs
from the running deployment is reported (and can be reverted)."""

from __future__ import annotations

from typing import Any

import pytest

from deploykit.deployment import DeploymentFailure, DeploymentFilter, DeploymentStatus, DeploymentTrigger
from deploykit.drift import config_drift, service_drift
from deploykit.envvar import EnvVarFilter
from deploykit.errors import Error
from deploykit.pending_change import ChangeKind
from deploykit.project import Project
from deploykit.service import ImageSource, Service, ServiceFilter
from deploykit_sqlite import Store
from tests.sqlite.support import deploy_services, stage

K = ChangeKind
REPO = "https://example.com/acme/site.git"


def git_service(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "source": {"type": "git", "repo_url": REPO, "branch": "main"}, "port": 8080, **extra}


async def latest(store: Store, service: Service) -> Any:
    deployments, _ = await store.deployments.list_deployments(DeploymentFilter(service_id=service.id, limit=1))
    return deployments[0]


async def build_and_run(store: Store, id: str, image: str, sha: str) -> None:
    """What the reconciler records for a built git deployment that became healthy."""
    await store.deployments.mark_building(id)
    await store.deployments.mark_starting(id, image=image, commit_sha=sha, commit_message="a commit")
    await store.deployments.mark_healthy(id)


@pytest.fixture
async def site(store: Store, project: Project) -> Service:
    [svc], _ = await deploy_services(store, project.id, git_service("site"))
    await build_and_run(store, (await latest(store, svc)).id, "deploykit/p-site:aaa", "a" * 40)
    return svc


@pytest.mark.parametrize(
    "update",
    [
        {"replicas": 2},
        {"health_check": {"type": "tcp", "interval_s": 3}},
        {"resources": {"cpus": 0.5, "memory_mb": 128}},
    ],
)
async def test_a_config_only_change_of_a_git_service_reuses_the_running_image(
    store: Store, project: Project, site: Service, update: dict[str, Any]
) -> None:
    await stage(store, project.id, K.SERVICE_UPDATE, update, target_id=site.id)
    await store.pending_changes.apply_pending_changes(project.id, None)
    new = await latest(store, site)
    assert (new.status, new.image, new.commit_sha) == (DeploymentStatus.PENDING, "deploykit/p-site:aaa", "a" * 40)


async def test_an_env_change_of_a_git_service_reuses_the_running_image(
    store: Store, project: Project, site: Service
) -> None:
    await stage(
        store, project.id, K.ENV_VAR_CREATE, {"scope": "service", "scope_id": site.id, "key": "A", "value": "1"}
    )
    await store.pending_changes.apply_pending_changes(project.id, None)
    new = await latest(store, site)
    assert (new.image, new.commit_sha, new.env_vars) == ("deploykit/p-site:aaa", "a" * 40, {"A": "1"})


@pytest.mark.parametrize(
    "source",
    [
        {"type": "git", "repo_url": REPO, "branch": "release"},
        {"type": "git", "repo_url": REPO, "branch": "main", "dockerfile_path": "web.Dockerfile"},
        {"type": "git", "repo_url": REPO, "branch": "main", "context": "web"},
        {"type": "git", "repo_url": "https://example.com/acme/other.git", "branch": "main"},
    ],
)
async def test_a_change_of_the_source_or_build_settings_builds_again(
    store: Store, project: Project, site: Service, source: dict[str, Any]
) -> None:
    await stage(store, project.id, K.SERVICE_UPDATE, {"source": source}, target_id=site.id)
    await store.pending_changes.apply_pending_changes(project.id, None)
    new = await latest(store, site)
    assert (new.image, new.commit_sha) == (None, None)


# --- rollback, drift, revert, retry ------------------------------------------------------------


async def run_image(store: Store, project: Project, service: Service, image: str) -> str:
    """Stage an image change, apply, and make its deployment healthy; the deployment's id."""
    await stage(
        store, project.id, K.SERVICE_UPDATE, {"source": {"type": "image", "image": image}}, target_id=service.id
    )
    result = await store.pending_changes.apply_pending_changes(project.id, "user-1")
    [dep] = result.created_deployments
    await store.deployments.mark_starting(dep)
    await store.deployments.mark_healthy(dep)
    return dep


async def image_of(store: Store, service: Service) -> str:
    source = (await store.services.get_service(service.id)).config.source
    assert isinstance(source, ImageSource)
    return source.image


@pytest.fixture
async def web(store: Store, project: Project) -> Service:
    [svc], result = await deploy_services(
        store, project.id, {"name": "web", "source": {"type": "image", "image": "web:1"}, "port": 80}
    )
    await store.deployments.mark_starting(result.created_deployments[0])
    await store.deployments.mark_healthy(result.created_deployments[0])
    return svc


async def test_a_rollback_makes_the_config_what_runs_and_an_unrelated_deploy_keeps_it(
    store: Store, project: Project, web: Service
) -> None:
    first = (await latest(store, web)).id
    await run_image(store, project, web, "web:2")
    rollback = await store.deployments.rollback(web.id, first, "user-1")
    assert rollback.trigger.value == "rollback"
    assert rollback.changes == ("source.image: web:2 → web:1",)
    assert await image_of(store, web) == "web:1"
    service = await store.services.get_service(web.id)
    assert service.deployed_config == service.config
    await store.deployments.mark_starting(rollback.id)
    await store.deployments.mark_healthy(rollback.id)

    await stage(store, project.id, K.ENV_VAR_CREATE, {"scope": "project", "key": "P", "value": "1"})
    result = await store.pending_changes.apply_pending_changes(project.id, "user-1")
    [dep] = [await store.deployments.get_deployment(d) for d in result.created_deployments]
    assert (dep.image, dep.trigger.value, dep.changes) == ("web:1", "deploy", ("env: +P",))


async def test_after_a_failed_deploy_the_config_keeps_what_was_asked_and_differs_from_what_runs(
    store: Store, project: Project, web: Service
) -> None:
    await stage(
        store, project.id, K.SERVICE_UPDATE, {"source": {"type": "image", "image": "web:broken"}}, target_id=web.id
    )
    [failed] = (await store.pending_changes.apply_pending_changes(project.id, None)).created_deployments
    before_failure = await store.services.get_service(web.id)
    assert before_failure.deployed_config == before_failure.config  # rolling out: no difference
    await store.deployments.mark_failed(failed, DeploymentFailure(reason="image not found"))

    service = await store.services.get_service(web.id)
    assert service.last_deployment_status == "failed"
    assert [(d.field, d.before, d.after) for d in config_drift(service.config, service.deployed_config)] == [
        ("source.image", "web:1", "web:broken")
    ]
    [diff] = await store.pending_changes.diff_pending_changes(project.id)
    assert (diff.id, diff.change_ids, [(d.field, d.before, d.after) for d in diff.running]) == (
        web.id,
        (),
        [("source.image", "web:1", "web:broken")],
    )

    # An unrelated deploy deploys what the config asks, as the diff says before Deploy.
    await stage(store, project.id, K.ENV_VAR_CREATE, {"scope": "project", "key": "P", "value": "1"})
    diffs = {d.id: d for d in await store.pending_changes.diff_pending_changes(project.id)}
    assert [(d.field, d.before, d.after) for d in diffs[web.id].running] == [("source.image", "web:1", "web:broken")]
    [dep] = (await store.pending_changes.apply_pending_changes(project.id, None)).created_deployments
    assert (await store.deployments.get_deployment(dep)).image == "web:broken"


async def test_revert_config_drops_a_config_that_failed_to_deploy(store: Store, project: Project, web: Service) -> None:
    await stage(store, project.id, K.SERVICE_UPDATE, {"replicas": 3}, target_id=web.id)
    [failed] = (await store.pending_changes.apply_pending_changes(project.id, None)).created_deployments
    await store.deployments.mark_failed(failed, DeploymentFailure(reason="unhealthy"))
    reverted = await store.deployments.revert_config(web.id)
    assert (reverted.config.replicas, config_drift(reverted.config, reverted.deployed_config)) == (1, [])
    await stage(store, project.id, K.ENV_VAR_CREATE, {"scope": "project", "key": "P", "value": "1"})
    [dep] = (await store.pending_changes.apply_pending_changes(project.id, None)).created_deployments
    assert (await store.deployments.get_deployment(dep)).config.replicas == 1


async def test_revert_config_of_a_service_that_never_ran_is_a_conflict(store: Store, project: Project) -> None:
    [svc], _ = await deploy_services(store, project.id, {"name": "x", "source": {"type": "image", "image": "x:1"}})
    [dep], _ = await store.deployments.list_deployments(DeploymentFilter(service_id=svc.id))
    await store.deployments.mark_failed(dep.id, DeploymentFailure(reason="nope"))
    with pytest.raises(Error) as err:
        await store.deployments.revert_config(svc.id)
    assert (err.value.code, err.value.message) == (
        "conflict",
        "Nothing runs for this service yet; there is no config to go back to.",
    )


async def test_retry_copies_a_failed_deployment_and_refuses_a_healthy_one(
    store: Store, project: Project, web: Service
) -> None:
    healthy = (await latest(store, web)).id
    await stage(store, project.id, K.SERVICE_UPDATE, {"replicas": 2}, target_id=web.id)
    [failed] = (await store.pending_changes.apply_pending_changes(project.id, None)).created_deployments
    await store.deployments.mark_failed(failed, DeploymentFailure(reason="unhealthy"))
    retry = await store.deployments.retry(web.id, failed, "user-1")
    assert (retry.trigger.value, retry.config.replicas, retry.status.value, retry.created_by) == (
        "retry",
        2,
        "pending",
        "user-1",
    )
    with pytest.raises(Error) as err:
        await store.deployments.retry(web.id, healthy, None)
    assert (err.value.code, err.value.message) == ("invalid", "Only a failed or cancelled deployment can be retried.")


async def test_redeploy_records_its_trigger_and_a_first_deployment_has_no_changes(
    store: Store, project: Project, web: Service
) -> None:
    first = await latest(store, web)
    assert (first.trigger.value, first.changes) == ("deploy", ())
    webhook = await store.deployments.redeploy(web.id, None, trigger=DeploymentTrigger.WEBHOOK)
    assert (webhook.trigger.value, webhook.changes) == ("webhook", ())
    plain = await store.deployments.redeploy(web.id, "user-1")
    assert plain.trigger.value == "redeploy"


# --- variables: a value that differs from what runs, revert and rollback put them back ----------


async def set_service_var(store: Store, project: Project, service: Service, key: str, value: str) -> str:
    """Stage ``key=value`` on the service (create or update), apply; the deployment's id."""
    applied = await store.env_vars.list_env_vars(EnvVarFilter(project_id=project.id, scope_id=service.id))
    existing = [v for v in applied if v.key == key]
    if existing:
        await stage(store, project.id, K.ENV_VAR_UPDATE, {"value": value}, target_id=existing[0].id)
    else:
        payload = {"scope": "service", "scope_id": service.id, "key": key, "value": value}
        await stage(store, project.id, K.ENV_VAR_CREATE, payload)
    [dep] = (await store.pending_changes.apply_pending_changes(project.id, "user-1", "Ada")).created_deployments
    return dep


async def service_vars(store: Store, project: Project, service: Service) -> dict[str, str]:
    applied = await store.env_vars.list_env_vars(EnvVarFilter(project_id=project.id, scope_id=service.id))
    return {v.key: v.value for v in applied}


async def test_a_staged_setting_of_a_running_service_is_listed_once_and_a_failed_one_twice(
    store: Store, project: Project, web: Service
) -> None:
    await stage(store, project.id, K.SERVICE_UPDATE, {"replicas": 2}, target_id=web.id)
    [diff] = await store.pending_changes.diff_pending_changes(project.id)
    assert [(d.field, d.before, d.after) for d in diff.fields] == [("replicas", 1, 2)]
    assert diff.running == ()  # what runs is the value before: nothing more to say

    await store.pending_changes.discard_pending_changes(project.id)
    await stage(
        store, project.id, K.SERVICE_UPDATE, {"source": {"type": "image", "image": "web:bad"}}, target_id=web.id
    )
    [failed] = (await store.pending_changes.apply_pending_changes(project.id, None)).created_deployments
    await store.deployments.mark_failed(failed, DeploymentFailure(reason="image not found"))
    await stage(store, project.id, K.SERVICE_UPDATE, {"source": {"type": "image", "image": "web:2"}}, target_id=web.id)
    [diff] = await store.pending_changes.diff_pending_changes(project.id)
    assert [(d.field, d.before, d.after) for d in diff.fields] == [("source.image", "web:bad", "web:2")]
    assert [(d.field, d.before, d.after) for d in diff.running] == [("source.image", "web:1", "web:2")]


async def test_a_variable_whose_value_failed_to_deploy_differs_from_what_runs_and_revert_restores_it(
    store: Store, project: Project, web: Service
) -> None:
    ok = await set_service_var(store, project, web, "TOKEN", "old")
    await store.deployments.mark_starting(ok)
    await store.deployments.mark_healthy(ok)
    failed = await set_service_var(store, project, web, "TOKEN", "new")
    await store.deployments.mark_failed(failed, DeploymentFailure(reason="unhealthy"))

    service = await store.services.get_service(web.id)
    drift = service_drift(service.config, service.deployed_config, service.env, service.deployed_env)
    assert [(d.field, d.before, d.after) for d in drift] == [("env.TOKEN", "old", "new")]
    [diff] = await store.pending_changes.diff_pending_changes(project.id)
    assert [(d.field, d.before, d.after) for d in diff.running] == [("env.TOKEN", "old", "new")]

    reverted = await store.deployments.revert_config(web.id)
    assert service_drift(reverted.config, reverted.deployed_config, reverted.env, reverted.deployed_env) == []
    assert await service_vars(store, project, web) == {"TOKEN": "old"}
    assert await store.pending_changes.diff_pending_changes(project.id) == []


async def test_an_unrelated_deploy_deploys_a_variable_that_differs_from_what_runs(
    store: Store, project: Project, web: Service
) -> None:
    failed = await set_service_var(store, project, web, "TOKEN", "new")
    await store.deployments.mark_failed(failed, DeploymentFailure(reason="unhealthy"))
    await stage(store, project.id, K.ENV_VAR_CREATE, {"scope": "project", "key": "P", "value": "1"})
    [dep] = (await store.pending_changes.apply_pending_changes(project.id, None)).created_deployments
    assert (await store.deployments.get_deployment(dep)).env_vars == {"P": "1", "TOKEN": "new"}


async def test_a_rollback_puts_the_services_own_variables_back(store: Store, project: Project, web: Service) -> None:
    first = await set_service_var(store, project, web, "TOKEN", "one")
    await store.deployments.mark_starting(first)
    await store.deployments.mark_healthy(first)
    second = await set_service_var(store, project, web, "TOKEN", "two")
    await stage(
        store, project.id, K.ENV_VAR_CREATE, {"scope": "service", "scope_id": web.id, "key": "ADDED", "value": "a"}
    )
    await store.pending_changes.apply_pending_changes(project.id, None)
    await store.deployments.mark_starting((await latest(store, web)).id)
    await store.deployments.mark_healthy((await latest(store, web)).id)
    assert second != first

    back = await store.deployments.rollback(web.id, first, "user-1", "Ada")
    assert (back.env_vars, back.actor, back.service_env) == ({"TOKEN": "one"}, "Ada", {"TOKEN": "one"})
    assert await service_vars(store, project, web) == {"TOKEN": "one"}
    service = await store.services.get_service(web.id)
    assert service_drift(service.config, service.deployed_config, service.env, service.deployed_env) == []

    # An unrelated deploy keeps the rolled-back value.
    await store.deployments.mark_starting(back.id)
    await store.deployments.mark_healthy(back.id)
    await stage(store, project.id, K.ENV_VAR_CREATE, {"scope": "project", "key": "P", "value": "1"})
    [dep] = (await store.pending_changes.apply_pending_changes(project.id, None)).created_deployments
    assert (await store.deployments.get_deployment(dep)).env_vars == {"P": "1", "TOKEN": "one"}


async def test_each_deployment_records_who_asked_for_it(store: Store, project: Project, web: Service) -> None:
    deployed = await store.deployments.get_deployment(await set_service_var(store, project, web, "A", "1"))
    redeployed = await store.deployments.redeploy(web.id, "user-1", actor="API key ci")
    webhook = await store.deployments.redeploy(web.id, None, trigger=DeploymentTrigger.WEBHOOK, actor="GitHub webhook")
    retried = await store.deployments.retry(web.id, redeployed.id, "user-1", "Ada")
    assert [d.actor for d in (deployed, redeployed, webhook, retried)] == ["Ada", "API key ci", "GitHub webhook", "Ada"]
    assert (await store.deployments.get_deployment(redeployed.id)).actor == "API key ci"


async def test_a_service_read_resolves_its_variables_now_and_a_listing_only_when_asked(
    store: Store, project: Project, web: Service
) -> None:
    await stage(store, project.id, K.ENV_VAR_CREATE, {"scope": "project", "key": "P", "value": "1"})
    payload = {"scope": "service", "scope_id": web.id, "key": "SELF", "value": "${{web.HOST}}:${{web.PORT}}"}
    await stage(store, project.id, K.ENV_VAR_CREATE, payload)
    await store.pending_changes.apply_pending_changes(project.id, None)
    want = {"P": "1", "SELF": f"{web.slug}:80"}
    assert (await store.services.get_service(web.id)).env == want
    [listed], _ = await store.services.list_services(ServiceFilter(project_id=project.id, with_env=True))
    assert (listed.env, listed.deployed_env) == (want, want)
    [plain], _ = await store.services.list_services(ServiceFilter(project_id=project.id))
    assert (plain.env, plain.deployed_env) == (None, want)
