from __future__ import annotations

import pytest

from deploykit.envvar import ServiceAddress, resolve_env
from deploykit.errors import NOT_FOUND, Error, FieldErrors
from deploykit.preset import PRESETS, Preset, get_preset


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.id)
def test_every_preset_renders_a_valid_config_with_a_fresh_secret(preset: Preset) -> None:
    first, second = preset.render("db"), preset.render("db")
    config = first.config
    errors = FieldErrors()
    config.validate(errors)
    assert errors.fields == {}
    assert config.volumes
    assert config.rolls_stop_first
    assert first.env_vars != second.env_vars
    assert "{secret}" not in str(first)


def test_connection_url_resolves_against_the_service_alias() -> None:
    rendered = get_preset("postgres").render("db")
    env = resolve_env({}, {}, {"DATABASE_URL": rendered.connection_url}, {"db": ServiceAddress("db", 5432)})
    password = rendered.env_vars["POSTGRES_PASSWORD"]
    assert env.values["DATABASE_URL"] == f"postgres://app:{password}@db:5432/app"


def test_unknown_preset_is_not_found() -> None:
    with pytest.raises(Error) as info:
        get_preset("oracle")
    assert (info.value.code, info.value.message) == (NOT_FOUND, "Preset not found.")


@pytest.mark.parametrize(
    ("preset_id", "var"),
    [("postgres", "DATABASE_URL"), ("mysql", "DATABASE_URL"), ("redis", "REDIS_URL"), ("mongodb", "MONGODB_URL")],
)
def test_a_preset_exposes_its_connection_string_for_other_services(preset_id: str, var: str) -> None:
    rendered = get_preset(preset_id).render("db")
    assert rendered.env_vars[var] == rendered.connection_url
    address = {"db": ServiceAddress("db", rendered.config.port)}
    api = resolve_env({}, {}, {"URL": "${{db." + var + "}}"}, address, {"db": rendered.env_vars})
    assert api.values["URL"].startswith(rendered.connection_url.split("@")[0])
    assert "@db:" in api.values["URL"]
    assert api.problems == {}
