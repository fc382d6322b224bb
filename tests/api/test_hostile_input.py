"""Hostile strings in every parameter and body field of every operation: NUL bytes, lone
surrogates, very long text, numbers past bigint, wrong types. Every answer is a documented
status with a JSON body that matches the schema; none is a server error."""

from typing import Any

import pytest
from django.db import transaction
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import World, seeded_ids

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HOSTILE_TEXT = ["nul\x00byte", "\x00", "x" * 30000, "\u202e\ufeff' OR 1=1 --<script>"]
# Lone surrogates travel as JSON escapes; no HTTP query string can carry one.
HOSTILE_BODY_ONLY = ["\ud800", "a\udfffb"]
HOSTILE_NUMBERS: list[Any] = [2**64, -(2**63) - 1, 1.5, "12\x00"]
WRONG_TYPES: list[Any] = [["list"], {"an": "object"}, None, True]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].split("/")[-1]
        node = schema["components"]["schemas"][name]
    return node


def _body_schema(raw: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any] | None:
    content = definition.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return _resolve(raw, content["application/json"]["schema"])


def hostile_values(prop: dict[str, Any], *, in_body: bool) -> list[Any]:
    kind = prop.get("type")
    if kind == "integer" or kind == "number":
        return HOSTILE_NUMBERS
    values = list(HOSTILE_TEXT)
    if in_body:
        values += HOSTILE_BODY_ONLY + WRONG_TYPES
    return values


def variants(raw: dict[str, Any], definition: dict[str, Any]) -> list[tuple[dict, Any]]:
    """(query, body) pairs, each with one hostile value in one place."""
    found: list[tuple[dict, Any]] = []
    for param in definition.get("parameters", []):
        if param["in"] != "query":
            continue
        for value in hostile_values(param.get("schema", {}), in_body=False):
            found.append(({param["name"]: value}, None))
    body = _body_schema(raw, definition)
    if body is not None:
        found.append(({}, "\x00"))  # not even an object
        for name, prop in body.get("properties", {}).items():
            prop = _resolve(raw, prop)
            for value in hostile_values(prop, in_body=True):
                found.append(({}, {name: value}))
    return found


def test_hostile_values_never_break_the_api(api_schema: Any, world: World) -> None:
    raw = api_schema.raw_schema
    headers = {"Authorization": world.headers["rm"]["HTTP_AUTHORIZATION"]}
    failures = []
    sent = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        definition = raw["paths"][operation.path][operation.method.lower()]
        path_parameters = seeded_ids(operation.path, world, "rm")
        for query, body in variants(raw, definition):
            kwargs: dict[str, Any] = {"path_parameters": path_parameters, "query": query}
            if body is not None:
                kwargs.update(body=body, media_type="application/json")
            case = operation.Case(**kwargs)
            with transaction.atomic():
                response = case.call(headers=headers)
                sent += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                    if response.status_code >= 400:
                        assert response.json()["detail"]
                except (Exception, BaseExceptionGroup) as exc:
                    failures.append(
                        f"{operation.method} {operation.path} {query} {body!r:.80}: {exc}"
                    )
                transaction.set_rollback(True)
    assert sent > 500
    assert not failures, "\n\n".join(failures[:20])


@pytest.mark.parametrize(
    "raw_query",
    ["phase=%00", "owner_username=%ED%A0%80", "application_slug=%FF%FE", "%00=1", "page=%00"],
)
def test_undecodable_query_strings_are_refused_or_ignored(client, world: World, raw_query) -> None:
    response = client.get(f"/api/v1/releases/?{raw_query}", **world.headers["viewer"])

    assert response.status_code in (200, 400, 404)
    assert response["Content-Type"] == "application/json"
