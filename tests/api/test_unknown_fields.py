"""A write naming a field its operation does not take is a 400 naming that field, on every
operation with a body (one mechanism: apps.core.api.validated), never a silent drop."""

from typing import Any

import pytest
from django.db import transaction

from .conftest import World, seeded_ids

pytestmark = pytest.mark.django_db

UNKNOWN = "surely_not_a_field"
# Authenticated by the deploy tool's signature, not a person's token: checked apart from this.
# GitHub's webhook is signed by the GitHub App, and GitHub's events carry far more than
# ReleaseDeck reads, which it ignores (tests/github/test_webhook.py). An incident source's
# hook is authenticated by that source's secret, and Alertmanager's and PagerDuty's events
# carry fields ReleaseDeck does not read either (tests/incidents).
NOT_BY_TOKEN = {
    "/api/v1/waves/{id}/report/",
    "/api/v1/github/webhook/",
    "/api/v1/incidents/hooks/{slug}/",
}


def _operations_with_a_body(api_schema: Any) -> list[Any]:
    found = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        definition = api_schema.raw_schema["paths"][operation.path][operation.method.lower()]
        if "application/json" in definition.get("requestBody", {}).get("content", {}):
            found.append(operation)
    return found


def test_every_write_refuses_an_unknown_field_by_name(api_schema: Any, world: World) -> None:
    operations = _operations_with_a_body(api_schema)
    failures = []
    for operation in operations:
        if operation.path in NOT_BY_TOKEN:
            continue
        path_parameters = seeded_ids(operation.path, world, "rm")
        answer = None
        # The first persona the role check lets through reaches the body's shape check.
        for persona in ("rm", "operator", "approver", "admin"):
            headers = {"Authorization": world.headers[persona]["HTTP_AUTHORIZATION"]}
            case = operation.Case(
                path_parameters=path_parameters,
                body={UNKNOWN: 1},
                media_type="application/json",
            )
            with transaction.atomic():
                answer = case.call(headers=headers)
                transaction.set_rollback(True)
            if answer.status_code != 403:
                break
        body = answer.json()
        if answer.status_code != 400 or UNKNOWN not in body.get("errors", {}):
            failures.append(f"{operation.method} {operation.path}: {answer.status_code} {body}")
        elif body["field"] != UNKNOWN and UNKNOWN not in body["detail"]:
            failures.append(f"{operation.method} {operation.path}: detail {body['detail']}")

    assert len(operations) > 30
    assert failures == []


def test_an_unknown_field_beside_valid_ones_changes_nothing(client, world: World) -> None:
    url = f"/api/v1/environments/{world.ids['environment']}/"
    before = client.get(url, **world.headers["rm"]).json()

    response = client.patch(
        url,
        data={"region": "eu-west", "regoin": "typo", "deploy_urll": "x"},
        content_type="application/json",
        **world.headers["rm"],
    )

    assert response.status_code == 400
    body = response.json()
    assert set(body["errors"]) == {"regoin", "deploy_urll"}
    assert "regoin" in body["detail"] and "deploy_url" in body["detail"]  # it lists what it takes
    assert client.get(url, **world.headers["rm"]).json() == before


def test_unknown_fields_inside_nested_objects_are_named_with_their_path(client, world) -> None:
    response = client.put(
        f"/api/v1/releases/{world.ids['testing']}/signoff-policy/",
        data={"requirements": [{"role": "qa", "count": 1}, {"role": "qa", "cuont": 2}]},
        content_type="application/json",
        **world.headers["rm"],
    )

    assert response.status_code == 400
    assert response.json()["field"] == "requirements.1.cuont"
