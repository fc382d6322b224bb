"""An administrator gives an application to a team; nobody else moves who may act on it."""

import pytest

from apps.audit.models import AuditEvent
from apps.releases.models import Application
from tests.db_state import db_state
from tests.factories import ApplicationFactory, TeamFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/applications/"


def test_an_administrator_gives_an_application_to_a_team(client, root):
    app, team = ApplicationFactory(slug="crm"), TeamFactory(slug="crm-team")
    client.force_login(root)
    answer = client.patch(f"{URL}{app.pk}/", {"team": team.pk}, content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["team"] == team.pk
    assert Application.objects.get(pk=app.pk).team_id == team.pk
    event = AuditEvent.objects.get(verb="application.team_changed")
    assert (event.before, event.after, event.actor_label) == (
        {"team": None},
        {"team": team.pk},
        "root",
    )


def test_a_release_manager_may_not_move_an_application_to_a_team(client, rita):
    app, team = ApplicationFactory(slug="crm"), TeamFactory(slug="crm-team")
    client.force_login(rita)
    before = db_state()
    answer = client.patch(
        f"{URL}{app.pk}/", {"team": team.pk, "description": "x"}, content_type="application/json"
    )
    assert answer.status_code == 403
    assert "administrator" in answer.json()["detail"]
    assert db_state() == before  # not even the description


def test_an_unknown_team_is_a_field_error_and_creates_nothing(client, root):
    client.force_login(root)
    before = db_state()
    answer = client.post(
        URL, {"name": "Payroll", "slug": "payroll", "team": 999999}, content_type="application/json"
    )
    assert answer.status_code == 400
    assert answer.json()["field"] == "team"
    assert db_state() == before


def test_an_application_is_created_for_a_team(client, root):
    team = TeamFactory(slug="hr-team")
    client.force_login(root)
    answer = client.post(
        URL,
        {"name": "Payroll", "slug": "payroll", "team": team.pk},
        content_type="application/json",
    )
    assert answer.status_code == 201
    assert Application.objects.get(slug="payroll").team_id == team.pk
