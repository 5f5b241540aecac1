"""The OpenAPI document: valid OpenAPI 3.1, generated from the routes, covering all of them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient
from schemathesis.specs.openapi.definitions import OPENAPI_31

from server.api.openapi import OPENAPI_DOCUMENT
from server.api.routes import PLURALS
from server.app import create_app
from server.config import load_settings
from server.services.specs import SPECS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ALLOWED_STATUSES = {"200", "201", "204", "400", "401", "403", "404", "409", "413", "415", "422"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> web.Application:
    """The app as built (not started: routes and the document exist before any database)."""
    data = tmp_path_factory.mktemp("openapi")
    return create_app(load_settings(env={}, overrides={"data_dir": str(data)}))


@pytest.fixture(scope="module")
def document(app: web.Application) -> dict[str, Any]:
    return app[OPENAPI_DOCUMENT]


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, ops in doc["paths"].items()
            for method, op in ops.items()}


async def test_document_is_served_publicly_as_json(app_client: TestClient,
                                                   document: dict[str, Any]) -> None:
    async with app_client.get("/api/v1/openapi.json") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        assert await resp.json() == document


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    errors = [f"{e.instance_path}: {e.message}"
              for e in jsonschema_rs.Draft202012Validator(OPENAPI_31).iter_errors(document)]
    assert errors == []


def test_every_schema_is_valid_json_schema(document: dict[str, Any]) -> None:
    """Each component schema compiles as JSON Schema 2020-12 with its references resolved."""
    components = document["components"]
    for name in components["schemas"]:
        wrapper = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                   "components": components, "$ref": f"#/components/schemas/{name}"}
        assert jsonschema_rs.meta.is_valid(wrapper), name
        jsonschema_rs.Draft202012Validator(wrapper)  # raises on unresolvable references
    refs = set(re.findall(r'"#/components/(\w+)/([\w.-]+)"', str(document).replace("'", '"')))
    for section, name in refs:
        assert name in components[section], f"dangling reference {section}/{name}"


def test_schemathesis_loads_every_operation(document: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_dict(document)
    loaded = [result.ok() for result in schema.get_all_operations()]  # .ok() raises on errors
    assert {(op.method.upper(), op.path) for op in loaded} == set(_operations(document))


def test_every_api_route_is_documented(app: web.Application, document: dict[str, Any]) -> None:
    registered = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/v1/")
    }
    assert registered == set(_operations(document))
    ids = [op["operationId"] for op in _operations(document).values()]
    assert len(ids) == len(set(ids))


def test_records_and_their_filters_are_described(document: dict[str, Any]) -> None:
    ops = _operations(document)
    for kind, spec in SPECS.items():
        base = f"/api/v1/{PLURALS[kind]}"
        assert {m for m, p in ops if p == base} == {"GET", "POST"}
        assert {m for m, p in ops if p == base + "/{id}"} == {"GET", "PATCH", "DELETE"}
        params = {p["name"]: p["schema"] for p in ops[("GET", base)]["parameters"]}
        assert set(params) == {"limit", "offset", *spec.filters}
        assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
        for name, flt in spec.filters.items():
            expected = {int: "integer", bool: "boolean"}.get(flt.type, "string")
            assert params[name]["type"] == expected, (kind, name)
        body = ops[("POST", base)]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{spec.create.__name__}"}
        patch = ops[("PATCH", base + "/{id}")]["requestBody"]["content"]["application/json"]
        assert patch["schema"] == {"$ref": f"#/components/schemas/{spec.patch.__name__}"}
        assert "201" in ops[("POST", base)]["responses"]
        assert set(ops[("DELETE", base + "/{id}")]["responses"]) >= {"204", "404", "409"}


def test_responses_and_security(document: dict[str, Any]) -> None:
    assert document["security"] == [{"bearer": []}, {"session": []}]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["session"]["in"] == "cookie"
    for (method, path), op in _operations(document).items():
        statuses = set(op["responses"])
        assert statuses <= ALLOWED_STATUSES, (method, path)
        if path == "/api/v1/openapi.json":
            assert op["security"] == [] and statuses == {"200"}
        else:
            assert "401" in statuses and "security" not in op, (method, path)
        if "requestBody" in op:
            assert {"400", "413", "415", "422"} <= statuses, (method, path)
    error_codes = document["components"]["schemas"]["ErrorCode"]["enum"]
    assert "csrf_failed" in error_codes and "invalid" in error_codes


def test_docs_mention_every_path(document: dict[str, Any]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [path for path in document["paths"] if path not in text]
    assert missing == []
    codes = document["components"]["schemas"]["ErrorCode"]["enum"]
    assert [code for code in codes if f"`{code}`" not in text] == []
