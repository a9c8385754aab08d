"""The frontend's API types are generated from the OpenAPI document (``make api-types``): the
checked-in ``frontend/src/api/schema.d.ts`` must be what a fresh generation writes."""

from __future__ import annotations

import difflib
import json
import subprocess
from pathlib import Path

import pytest

from deploykit_http.app import openapi_document

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "frontend" / "node_modules" / ".bin" / "openapi-typescript"
CHECKED_IN = ROOT / "frontend" / "src" / "api" / "schema.d.ts"


def test_the_checked_in_api_types_are_a_fresh_generation(tmp_path: Path) -> None:
    if not GENERATOR.exists():
        pytest.skip("frontend/node_modules is not installed (make frontend)")
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(openapi_document()))
    fresh = tmp_path / "schema.d.ts"
    # The flags of scripts/build-frontend.sh api-types.
    command = [str(GENERATOR), str(spec), "--default-non-nullable", "false", "-o", str(fresh)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    diff = list(
        difflib.unified_diff(
            CHECKED_IN.read_text().splitlines(),
            fresh.read_text().splitlines(),
            "checked in",
            "fresh",
            lineterm="",
            n=1,
        )
    )
    assert diff == [], "frontend/src/api/schema.d.ts is stale: run `make api-types`\n" + "\n".join(diff[:60])


def test_the_canvas_socket_messages_are_in_the_document() -> None:
    schemas = openapi_document()["components"]["schemas"]
    server = schemas["CanvasServerMessage"]
    assert server["discriminator"]["propertyName"] == "type"
    assert server["discriminator"]["mapping"]["node:upserted"] == "#/components/schemas/NodeUpsertedMessage"
    assert "service:create" in schemas["CanvasClientMessage"]["discriminator"]["mapping"]
