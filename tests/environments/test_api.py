"""The environments API refuses malformed input before any service runs: a 400 naming the field,
and nothing written."""

import json
from datetime import time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.environments import services as es
from apps.environments.models import DeploymentWindow, Environment, FreezeWindow, StopTheLine
from tests.factories import EnvironmentFactory

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def send(client, method: str, url: str, body: Any, user) -> Any:
    _, key = api_token_create(actor=user, name="test")
    return getattr(client, method)(
        url,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {key}",
    )


def written() -> tuple[int, int, int, int]:
    """What a refused request must leave as it was: every audit event, window and freeze."""
    return (
        AuditEvent.objects.exclude(verb__startswith="api_token.").count(),
        DeploymentWindow.objects.count(),
        FreezeWindow.objects.count(),
        StopTheLine.objects.filter(active=True).count(),
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"tier": "qa"}, "tier"),
        ({"name": "prod eu"}, "name"),
        ({"health_url": "ftp://example.test/"}, "health_url"),
        ({"deploy_secret": "x"}, "deploy_secret"),
    ],
)
def test_environment_update_refuses_bad_values_and_writes_nothing(
    client, rita, changes, field
) -> None:
    env = EnvironmentFactory(name="prod-eu")
    before = written()

    answer = send(client, "patch", f"{V1}/environments/{env.pk}/", changes, rita)

    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert written() == before
    assert Environment.objects.get(pk=env.pk).name == "prod-eu"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "'Mars/Olympus' is not an IANA time zone."),
        ({"time_zone": "  "}, "time_zone", "may not be blank"),
        ({"region": "x" * 65}, "region", "no more than 64 characters"),
        ({"health_url": "ftp://x"}, "health_url", "must be an http(s) URL"),
        ({"deploy_url": "javascript:alert(1)"}, "deploy_url", "must be an http(s) URL"),
        ({"deploy_secret": "short"}, "deploy_secret", "16 to 128"),
        ({"deploy_secret": " padded-secret-0123456 "}, "deploy_secret", "start or end"),
    ],
)
def test_environment_create_refuses_bad_values_with_the_message(
    client, rita, body, field, message
) -> None:
    valid = {"name": "prod-ap", "tier": "production", "time_zone": "Asia/Singapore"}

    answer = send(client, "post", f"{V1}/environments/", {**valid, **body}, rita)

    assert answer.status_code == 400
    assert answer.json()["field"] == field and message in answer.json()["detail"]
    assert not Environment.objects.exists()
    assert written() == (0, 0, 0, 0)


def test_environment_text_is_trimmed_as_the_page_trims_it(client, rita) -> None:
    body = {
        "name": " prod-ap ",
        "tier": "production",
        "time_zone": " Asia/Tokyo ",
        "region": " ap ",
    }

    answer = send(client, "post", f"{V1}/environments/", body, rita)

    assert answer.status_code == 201
    env = Environment.objects.get()
    assert (env.name, env.time_zone, env.region) == ("prod-ap", "Asia/Tokyo", "ap")


@pytest.mark.parametrize("weekdays", [[], [7], [True], "0,1", None])
def test_deployment_window_weekdays_must_be_0_to_6(client, rita, weekdays) -> None:
    env = EnvironmentFactory()
    body = {"weekdays": weekdays, "start_time": "09:00", "end_time": "17:00"}

    answer = send(client, "post", f"{V1}/environments/{env.pk}/deployment-windows/", body, rita)

    assert answer.status_code == 400
    assert answer.json()["field"].split(".")[0] == "weekdays"
    assert written() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "0001-01-01T00:00:00+01:00"}, "start"),
        ({"end": "9999-12-31T23:00:00Z"}, "end"),
        ({"start": "1969-12-31T23:59:00Z"}, "start"),
        ({"start": "2031-01-10T09:00:00Z", "end": "tomorrow"}, "end"),
        ({"scope": "moon"}, "scope"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 301}, "reason"),
        ({"region": "x" * 65, "scope": "region"}, "region"),
        ({"scope": "environment", "environment": "prod"}, "environment"),
        ({"scope": "environment", "environment": 0}, "environment"),
    ],
)
def test_freeze_with_a_malformed_value_is_refused_and_nothing_written(
    client, rita, body, field
) -> None:
    valid = {
        "scope": "global",
        "start": "2031-01-10T09:00:00Z",
        "end": "2031-01-10T18:00:00Z",
        "reason": "Board meeting",
    }

    answer = send(client, "post", f"{V1}/freeze-windows/", {**valid, **body}, rita)

    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert written() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"end": "9999-12-31T23:00:00Z"}, "end"),
        ({"reason": ""}, "reason"),
        ({"change_reason": "x" * 2001}, "change_reason"),
    ],
)
def test_freeze_update_with_a_malformed_value_changes_nothing(client, rita, body, field) -> None:
    now = timezone.now()
    freeze = es.freeze_create(
        scope="global", start=now, end=now + timedelta(hours=2), reason="Close", actor=rita
    )
    before = written()

    answer = send(client, "patch", f"{V1}/freeze-windows/{freeze.pk}/", body, rita)

    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert written() == before
    freeze.refresh_from_db()
    assert (freeze.end, freeze.reason) == (now + timedelta(hours=2), "Close")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"active": "maybe", "reason": "Incident"}, "active"),
        ({"active": True, "reason": "x" * 301}, "reason"),
        ({"active": True, "reason": "   "}, "reason"),
        ({"active": True, "reason": ["Incident"]}, "reason"),
    ],
)
def test_stop_the_line_with_a_malformed_value_is_refused(client, oscar, body, field) -> None:
    answer = send(client, "put", f"{V1}/stop-the-line/", body, oscar)

    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert written() == (0, 0, 0, 0)


def test_a_window_stored_to_the_second(client, rita) -> None:
    env = EnvironmentFactory()
    body = {"weekdays": [4, 0, 0], "start_time": "09:00:00.5", "end_time": "17:00"}

    answer = send(client, "post", f"{V1}/environments/{env.pk}/deployment-windows/", body, rita)

    assert answer.status_code == 201
    window = DeploymentWindow.objects.get()
    assert (window.weekdays, window.start_time) == ([0, 4], time(9))
