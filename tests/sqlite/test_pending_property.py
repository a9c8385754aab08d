"""Property: any sequence of staged operations applies completely or changes nothing, and never
leaves two services of a project with the same name (case-insensitively)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deploykit.envvar import EnvVarFilter
from deploykit.errors import Error
from deploykit.pending_change import ChangeKind
from deploykit.project import ProjectCreate
from deploykit.service import ServiceConfig, ServiceFilter
from deploykit_sqlite import Store
from deploykit_sqlite.service import insert_service
from tests.sqlite.support import ManualClock, RecordingBus, image_service, stage

NAMES = ["api", "API", "web", "Web", "db", "worker"]
KEYS = ["A", "B", "DB_URL"]

names = st.sampled_from(NAMES)
index = st.integers(min_value=0, max_value=5)
operation = st.one_of(
    st.tuples(st.just("create"), names),
    st.tuples(st.just("rename"), index, names),
    st.tuples(st.just("delete"), index),
    st.tuples(st.just("update"), index, st.integers(min_value=0, max_value=3)),
    st.tuples(st.just("env"), st.sampled_from(KEYS), st.sampled_from(["1", "${{db.HOST}}", "${{api.PORT}}"])),
)
# Another writer changes the applied state under the staged log, so that apply fails late.
sabotage = st.sampled_from([None, "clash-last", "drop-last-target"])


@dataclass
class Model:
    """What the test expects: the live services by key (real id or temp id) and their names."""

    names: dict[str, str] = field(default_factory=dict)
    temp: set[str] = field(default_factory=set)

    def pick(self, i: int) -> str | None:
        keys = list(self.names)
        return keys[i % len(keys)] if keys else None

    def target(self, key: str) -> dict[str, str | None]:
        if key in self.temp:
            return {"target_id": None, "target_temp_id": key}
        return {"target_id": key, "target_temp_id": None}


async def state(store: Store, project_id: str) -> dict[str, Any]:
    services, _ = await store.services.list_services(ServiceFilter(project_id=project_id))
    return {
        "services": services,
        "env": await store.env_vars.list_env_vars(EnvVarFilter(project_id=project_id)),
        "log": await store.pending_changes.list_pending_changes(project_id),
        "nodes": await store.canvas.list_nodes(project_id),
    }


async def attempt(call: Awaitable[object]) -> Error | None:
    """The domain error ``call`` raised, or None."""
    try:
        await call
    except Error as exc:
        return exc
    return None


async def stage_one(store: Store, project_id: str, model: Model, env_keys: set[str], op: tuple[Any, ...]) -> None:
    """Stage one operation; the model follows only when staging is accepted."""
    if op[0] == "create":
        change = await stage(store, project_id, ChangeKind.SERVICE_CREATE, image_service(op[1]))
        model.names[str(change.target_temp_id)] = op[1]
        model.temp.add(str(change.target_temp_id))
        return
    if op[0] == "env":
        await stage(store, project_id, ChangeKind.ENV_VAR_CREATE, {"scope": "project", "key": op[1], "value": op[2]})
        env_keys.add(op[1])
        return
    key = model.pick(op[1])
    if key is None:
        return
    if op[0] == "rename":
        await stage(store, project_id, ChangeKind.SERVICE_UPDATE, {"name": op[2]}, **model.target(key))
        model.names[key] = op[2]
    elif op[0] == "delete":
        await stage(store, project_id, ChangeKind.SERVICE_DELETE, None, **model.target(key))
        del model.names[key]
    else:
        await stage(store, project_id, ChangeKind.SERVICE_UPDATE, {"replicas": op[2]}, **model.target(key))


async def interfere(store: Store, project_id: str, spoil: str) -> None:
    log = await store.pending_changes.list_pending_changes(project_id)
    async with store.db.tx() as tx:
        if spoil == "clash-last":
            named = [c.payload["name"] for c in log if "name" in c.payload]
            if named:
                rows = await tx.fetchall("SELECT name_key FROM services WHERE project_id = ?", (project_id,))
                if named[-1].casefold() not in {r["name_key"] for r in rows}:
                    await insert_service(tx, project_id, named[-1], ServiceConfig.from_dict(image_service("x")))
        else:
            targets = [c.target_id for c in log if c.target_id is not None and c.kind != ChangeKind.ENV_VAR_CREATE]
            if targets:
                await tx.execute("DELETE FROM services WHERE id = ?", (targets[-1],))


async def scenario(ops: list[tuple[Any, ...]], spoil: str | None) -> None:
    bus = RecordingBus()
    store = Store(path=":memory:", bus=bus, clock=ManualClock(), bcrypt_rounds=4)
    await store.open()
    try:
        project = await store.projects.create_project(ProjectCreate(name="Prop"))
        model = Model()
        for name in ("api", "db"):
            change = await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service(name))
            model.names[str(change.target_temp_id)] = name
        result = await store.pending_changes.apply_pending_changes(project.id, None)
        model.names = {result.temp_id_to_service_id[k]: v for k, v in model.names.items()}
        env_keys: set[str] = set()

        for op in ops:
            rejected = await attempt(stage_one(store, project.id, model, env_keys, op))
            assert rejected is None or rejected.code in {"conflict", "invalid"}, rejected
            live = [n.casefold() for n in model.names.values()]
            assert len(live) == len(set(live)), "append let two services share a name"

        if spoil is not None:
            await interfere(store, project.id, spoil)

        before = await state(store, project.id)
        published = len(bus.events)
        failure = await attempt(store.pending_changes.apply_pending_changes(project.id, None))
        after = await state(store, project.id)
        if failure is not None:
            event("apply failed")
            assert failure.code in {"conflict", "not_found"}, failure
            assert spoil is not None, f"apply failed without interference: {failure.message}"
            assert after == before
            assert len(bus.events) == published
        else:
            event("apply succeeded")
            assert after["log"] == []
            if spoil is None:
                expected = sorted(n.casefold() for n in model.names.values())
                assert sorted(s.name.casefold() for s in after["services"]) == expected
                assert {v.key for v in after["env"]} == env_keys
        final = [s.name.casefold() for s in after["services"]]
        assert len(final) == len(set(final)), "two services share a name"
    finally:
        await store.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operation, max_size=12), spoil=sabotage)
def test_staged_operations_apply_completely_or_not_at_all(ops: list[tuple[Any, ...]], spoil: str | None) -> None:
    asyncio.run(scenario(ops, spoil))
