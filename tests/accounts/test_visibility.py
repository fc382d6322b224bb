"""With RELEASEDECK_VISIBILITY=team a person sees only their teams' releases: lists, searches,
the dashboard, the calendar, the audit trail and its export leave the others out, and every
route to a hidden release answers 404, never 403 (which would confirm it exists)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.services import api_token_create
from apps.dashboard.calendar_events import calendar_events
from apps.releases import services as rs
from apps.releases.models import Defect
from tests.factories import (
    ApplicationFactory,
    EnvironmentFactory,
    ReleaseFactory,
    TeamFactory,
    UserFactory,
    give,
)

pytestmark = pytest.mark.django_db
V1 = "/api/v1"


@pytest.fixture
def two_teams(settings, rita):
    settings.RELEASEDECK_VISIBILITY = "team"
    crm_team, erp_team = TeamFactory(slug="crm-team"), TeamFactory(slug="erp-team")
    crm = ApplicationFactory(name="CRM", slug="crm", team=crm_team)
    erp = ApplicationFactory(name="ERP", slug="erp", team=erp_team)
    soon = timezone.now() + timedelta(days=2)
    mine = ReleaseFactory(application=crm, version="5.0", owner=rita, planned_start=soon)
    hidden = ReleaseFactory(application=erp, version="7.0", owner=rita, planned_start=soon)
    for release in (mine, hidden):  # an audit event about each
        rs.defect_open(release_id=release.pk, title="Typo", severity="minor", actor=rita)
    tom = UserFactory(username="tom")
    give(tom, "release_manager", team=crm_team)
    return mine, hidden, tom


def api(client, user):
    _, key = api_token_create(actor=user, name="t")
    return lambda method, url, **kw: getattr(client, method)(
        url, HTTP_AUTHORIZATION=f"Token {key}", content_type="application/json", **kw
    )


def test_api_lists_leave_out_other_teams_releases(client, two_teams):
    mine, hidden, tom = two_teams
    call = api(client, tom)
    listed = {r["id"] for r in call("get", f"{V1}/releases/").json()["results"]}
    assert listed == {mine.pk}
    apps = {a["slug"] for a in call("get", f"{V1}/applications/").json()["results"]}
    assert apps == {"crm"}


def test_every_api_route_to_a_hidden_release_is_404(client, two_teams):
    _, hidden, tom = two_teams
    call = api(client, tom)
    defect = Defect.objects.get(release=hidden)
    answers = {
        "detail": call("get", f"{V1}/releases/{hidden.pk}/"),
        "status": call("get", f"{V1}/releases/{hidden.pk}/status/"),
        "nested list": call("get", f"{V1}/releases/{hidden.pk}/defects/"),
        "row by id": call("get", f"{V1}/defects/{defect.pk}/"),
        "application": call("get", f"{V1}/applications/{hidden.application_id}/"),
        "edit": call("patch", f"{V1}/releases/{hidden.pk}/", data={"name": "Mine now"}),
        "close defect": call("post", f"{V1}/defects/{defect.pk}/close/", data={}),
        "move": call("post", f"{V1}/releases/{hidden.pk}/transition/", data={"to": "cancelled"}),
    }
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 404)
    hidden.refresh_from_db()
    assert hidden.name != "Mine now"
    assert Defect.objects.get(pk=defect.pk).status == "open"


def test_the_same_routes_to_ones_own_release_answer(client, two_teams):
    mine, _, tom = two_teams
    call = api(client, tom)
    assert call("get", f"{V1}/releases/{mine.pk}/").status_code == 200
    assert call("get", f"{V1}/releases/{mine.pk}/defects/").status_code == 200
    assert call("patch", f"{V1}/releases/{mine.pk}/", data={"name": "Spring"}).status_code == 200


def test_an_organisation_wide_viewer_sees_every_team(client, two_teams, vera):
    mine, hidden, _ = two_teams
    listed = {r["id"] for r in api(client, vera)("get", f"{V1}/releases/").json()["results"]}
    assert listed == {mine.pk, hidden.pk}


def test_audit_api_and_export_leave_out_hidden_releases_events(client, two_teams):
    mine, hidden, tom = two_teams
    call = api(client, tom)
    listed = {e["release_id"] for e in call("get", f"{V1}/audit-events/").json()["results"]}
    assert mine.pk in listed and hidden.pk not in listed
    exported = json.loads(b"".join(call("get", f"{V1}/audit-events/export/").streaming_content))
    assert {e["release_id"] for e in exported["events"]} >= {mine.pk}
    assert hidden.pk not in {e["release_id"] for e in exported["events"]}
    assert exported["complete"] is False  # the file says it is not the whole trail
    assert "visible_to" in exported["filters"]


def test_pages_leave_out_and_404_hidden_releases(client, two_teams):
    mine, hidden, tom = two_teams
    client.force_login(tom)
    listing = client.get("/").content.decode()
    assert f'href="/releases/{mine.pk}/"' in listing
    assert f'href="/releases/{hidden.pk}/"' not in listing
    assert "ERP" not in listing  # not even in the application filter
    assert client.get(f"/releases/{hidden.pk}/").status_code == 404
    assert client.get(f"/releases/{mine.pk}/").status_code == 200
    audit = client.get("/audit/").content.decode()
    assert hidden.name not in audit
    asked = client.get(f"/audit/?release={hidden.pk}")
    assert asked.status_code == 400 and hidden.name not in asked.content.decode()
    export = json.loads(b"".join(client.get("/audit/export/?as=json").streaming_content))
    assert hidden.pk not in {e["release_id"] for e in export["events"]}
    assert mine.pk in {e["release_id"] for e in export["events"]}


def test_the_calendar_shows_only_visible_releases(two_teams):
    mine, hidden, tom = two_teams
    now = timezone.now()
    events = calendar_events(tom, now, now + timedelta(days=10))
    shown = {e.release_id for e in events if e.kind == "release"}
    assert shown == {mine.pk}


def test_the_dashboard_shows_only_visible_applications(client, two_teams):
    _, hidden, tom = two_teams
    EnvironmentFactory(name="prod-eu")
    client.force_login(tom)
    html = client.get("/dashboard/").content.decode()
    assert "CRM" in html
    assert hidden.application.name not in html
