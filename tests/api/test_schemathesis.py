"""Schemathesis drives every operation of the OpenAPI schema, as every persona, against the live
WSGI application: no server error, no answer outside the schema, no undocumented status code
or content type. Every path is also asked with every method the schema does not list (OPTIONS,
HEAD, TRACE and the unsafe ones), as every persona. Examples are bounded so the whole run stays
within about two and a half minutes on two cores."""

import os
from typing import Any

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
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
# Examples per operation and generation mode. Anonymous and read-only requests stop at
# authentication or the read-only rule, so fewer examples cover them. A deeper, randomised run:
# RELEASEDECK_FUZZ_SCALE=10 (the suite's own run is bounded and repeatable).
FUZZ_SCALE = int(os.environ.get("RELEASEDECK_FUZZ_SCALE", "1"))
EXAMPLES = {
    persona: count * FUZZ_SCALE
    for persona, count in {
        "rm": 6,
        "approver": 3,
        "operator": 3,
        "viewer": 2,
        "readonly": 2,
        "anonymous": 1,
        # Roles only in a team that owns none of the seeded releases, under team visibility.
        "team": 3,
    }.items()
}


PEOPLE_PATHS = ("/api/v1/users/", "/api/v1/teams/", "/api/v1/grants/")
EXAMPLES["admin"] = 4 * FUZZ_SCALE


def run_operation(operation: Any, world: World, persona: str, mode: Any) -> None:
    headers = {k.removeprefix("HTTP_").title(): v for k, v in world.headers[persona].items()}
    fixed = seeded_ids(operation.path, world, persona) if mode.name == "POSITIVE" else None

    @settings(
        max_examples=EXAMPLES[persona],
        deadline=None,
        database=None,
        derandomize=FUZZ_SCALE == 1,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    def check(case: Any) -> None:
        # Each request in a savepoint: generated writes never pile up across examples.
        with transaction.atomic():
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)
            transaction.set_rollback(True)

    check()


@pytest.mark.parametrize("persona", [p for p in EXAMPLES if p != "admin"])
def test_every_operation_conforms_to_the_schema(
    api_schema: Any, world: World, in_test_transaction: None, persona: str, settings: Any
) -> None:
    if persona == "team":
        settings.RELEASEDECK_VISIBILITY = "team"
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                run_operation(operation, world, persona, mode)
            except Unsatisfiable:
                continue  # nothing in this operation can be made invalid (no input at all)
            except (Exception, BaseExceptionGroup) as exc:  # collect all, report together
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.name}]: {exc}")
    assert not failures, "\n\n".join(failures)


def test_people_operations_conform_as_an_administrator(
    api_schema: Any, world: World, in_test_transaction: None
) -> None:
    """The people, team and grant endpoints as the one persona they let through."""
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(PEOPLE_PATHS):
            continue
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                run_operation(operation, world, "admin", mode)
            except Unsatisfiable:
                continue
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.name}]: {exc}")
    assert not failures, "\n\n".join(failures)


# Every method on every path, documented or not: OPTIONS describes the endpoint, HEAD answers
# as GET does, any other undocumented method is 405 with an Allow header (or the authentication
# refusal that comes first), and nothing is a server error or a non-JSON answer.
EVERY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def _paths(api_schema: Any) -> dict[str, tuple[Any, set[str]]]:
    found: dict[str, tuple[Any, set[str]]] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        first, methods = found.get(operation.path, (operation, set()))
        methods.add(operation.method.upper())
        found[operation.path] = (first, methods)
    return found


def _header(response: Any, name: str) -> str:
    values = response.headers.get(name.lower()) or [""]
    return values[0] if isinstance(values, list) else values


def _method_problem(method: str, documented: set[str], persona: str, response: Any) -> str:
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if method != "HEAD" and _header(response, "Content-Type") != "application/json":
        return f"{status} is not JSON"
    if status in (401, 403):
        return ""  # authentication and the role check come before method dispatch
    if method == "OPTIONS":
        return "" if status == 200 else f"OPTIONS answered {status}"
    if method == "HEAD" and "GET" in documented:
        return "" if status in (200, 304) else f"HEAD answered {status}"
    if method not in documented and method != "HEAD":
        if status == 405:
            return "" if _header(response, "Allow") else "405 without Allow"
        return f"undocumented {method} answered {status}, not 405"
    return ""


@pytest.mark.parametrize("persona", [p for p in EXAMPLES if p != "admin"])
def test_every_path_answers_every_method(
    api_schema: Any, world: World, in_test_transaction: None, persona: str
) -> None:
    headers = {k.removeprefix("HTTP_").title(): v for k, v in world.headers[persona].items()}
    failures = []
    for path, (operation, documented) in _paths(api_schema).items():
        for method in EVERY_METHOD:
            if method in documented:
                continue  # generated cases cover these
            case = operation.Case(method=method, path_parameters=seeded_ids(path, world, persona))
            with transaction.atomic():
                response = case.call(headers=headers)
                transaction.set_rollback(True)
            problem = _method_problem(method, documented, persona, response)
            if problem:
                failures.append(f"{method} {path} as {persona}: {problem}")
    assert not failures, "\n".join(failures)
