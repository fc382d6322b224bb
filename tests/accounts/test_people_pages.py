"""The people and team pages: administrators only (403 for anyone else, login for nobody),
POST only for changes, and each form calls its service and shows its refusal."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from apps.accounts import people
from apps.accounts.models import RoleGrant, Team
from apps.audit.models import AuditEvent
from apps.releases.models import Application
from tests.conftest import _persona
from tests.factories import ApplicationFactory, TeamFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ada(roles_seeded):
    return _persona("ada", "administrator")


@pytest.fixture
def crm():
    return TeamFactory(name="CRM team", slug="crm")


def every_url(vera, crm) -> list[tuple[str, str]]:
    grant = RoleGrant.objects.filter(user=vera).first()
    app = ApplicationFactory(slug="crm-app", team=crm)
    return [
        ("get", reverse("people:people")),
        ("post", reverse("people:people")),
        ("post", reverse("people:deactivate", args=[vera.pk])),
        ("post", reverse("people:reactivate", args=[vera.pk])),
        ("post", reverse("people:link", args=[vera.pk])),
        ("post", reverse("people:grant")),
        ("post", reverse("people:revoke", args=[grant.pk])),
        ("get", reverse("people:teams")),
        ("post", reverse("people:teams")),
        ("get", reverse("people:team", args=[crm.pk])),
        ("post", reverse("people:team_rename", args=[crm.pk])),
        ("post", reverse("people:team_grant", args=[crm.pk])),
        ("post", reverse("people:team_revoke", args=[crm.pk, grant.pk])),
        ("post", reverse("people:team_assign", args=[crm.pk])),
        ("post", reverse("people:team_release", args=[crm.pk, app.pk])),
    ]


def test_everyone_but_an_administrator_is_refused(client, rita, vera, crm):
    client.force_login(rita)
    events = AuditEvent.objects.count()
    for method, url in every_url(vera, crm):
        response = getattr(client, method)(url)
        assert response.status_code == 403, url
    assert AuditEvent.objects.count() == events
    assert vera.is_active and RoleGrant.objects.filter(user=vera).exists()


def test_anonymous_people_go_to_the_login_form(client, vera, crm):
    for method, url in every_url(vera, crm):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and reverse("login") in response["Location"], url


def test_changes_take_post_only(client, ada, vera, crm):
    client.force_login(ada)
    for method, url in every_url(vera, crm):
        if method == "post" and url not in (reverse("people:people"), reverse("people:teams")):
            assert client.get(url).status_code == 405, url


def test_the_people_link_shows_in_the_navigation_for_administrators_only(client, ada, rita):
    client.force_login(rita)
    assert b'href="/people/"' not in client.get("/releases/").content
    client.force_login(ada)
    page = client.get("/people/")
    assert page.status_code == 200
    assert b'href="/people/"' in page.content


def test_adding_a_person_mails_their_link(client, ada, django_capture_on_commit_callbacks):
    client.force_login(ada)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/people/",
            {"username": "nina", "email": "nina@example.test", "send_link": "on"},
            **HTMX,
        )
    assert response.status_code == 201
    assert "nina added." in response.content.decode()
    assert [m.to for m in mail.outbox] == [["nina@example.test"]]


def test_without_password_sign_in_nobody_is_offered_a_password_link(
    client, ada, vera, settings, django_capture_on_commit_callbacks
):
    settings.RELEASEDECK_PASSWORD_LOGIN = False
    client.force_login(ada)
    page = client.get("/people/").content.decode()
    assert "Send password link" not in page and 'name="send_link"' not in page
    assert "They sign in through single sign-on" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/people/", {"username": "nina", "email": "nina@example.test", "send_link": "on"}
        )
    assert response.status_code == 302
    assert mail.outbox == []


def test_a_refusal_shows_on_the_form(client, ada, rita):
    client.force_login(ada)
    response = client.post("/people/", {"username": "RITA", "email": "r@example.test"}, **HTMX)
    assert response.status_code == 400
    assert "Someone is already called" in response.content.decode()


def test_a_team_scoped_platform_grant_is_not_offered_and_refused(client, ada, vera, crm):
    client.force_login(ada)
    page = client.get(f"/people/teams/{crm.pk}/").content.decode()
    assert 'value="platform"' not in page
    response = client.post(
        f"/people/teams/{crm.pk}/grants/", {"user": vera.pk, "role": "platform"}, **HTMX
    )
    assert response.status_code == 400
    assert not RoleGrant.objects.filter(user=vera, team=crm).exists()


def test_an_administrator_builds_a_team(client, ada, vera):
    client.force_login(ada)
    response = client.post("/people/teams/", {"name": "ERP team", "slug": "erp"})
    team = Team.objects.get(slug="erp")
    assert response.status_code == 302 and response["Location"] == f"/people/teams/{team.pk}/"

    app = ApplicationFactory(slug="erp-app")
    response = client.post(
        f"/people/teams/{team.pk}/applications/", {"application": app.pk}, **HTMX
    )
    assert response.status_code == 200
    assert Application.objects.get(pk=app.pk).team_id == team.pk

    response = client.post(
        f"/people/teams/{team.pk}/grants/",
        {"user": vera.pk, "role": "operator", "tiers": ["staging"]},
        **HTMX,
    )
    assert response.status_code == 200
    grant = RoleGrant.objects.get(user=vera, team=team)
    assert (grant.role, grant.tiers) == ("operator", ["staging"])

    response = client.post(f"/people/teams/{team.pk}/grants/{grant.pk}/revoke/", **HTMX)
    assert response.status_code == 200
    assert not RoleGrant.objects.filter(pk=grant.pk).exists()


def test_an_administrator_cannot_deactivate_themselves_on_the_page(client, ada):
    client.force_login(ada)
    response = client.post(f"/people/{ada.pk}/deactivate/", **HTMX)
    assert response.status_code == 400
    assert "lock yourself out" in response.content.decode()


# Live parts


def poll_url(html: str, poller: str) -> str:
    match = re.search(rf'id="{poller}"[^>]*hx-get="([^"]+)"', html, re.S)
    assert match
    return match.group(1).replace("&amp;", "&")


def test_the_people_list_polls_for_one_query_and_shows_a_change_made_elsewhere(
    client, ada, vera, poll_costs_one_query
):
    client.force_login(ada)
    url = poll_url(client.get("/people/").content.decode(), "people-poll")
    poll_costs_one_query(client, url)
    people.user_deactivate(user_id=vera.pk, actor=ada)  # through the API, say
    response = client.get(url, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card card-flush" id="people-list"')
    assert re.search(r'data-person="vera" class="person-inactive"', html)
    assert client.get(poll_url(html, "people-poll"), **HTMX).status_code == 204


def test_a_team_page_polls_for_one_query_and_shows_a_new_member(
    client, ada, vera, crm, poll_costs_one_query
):
    client.force_login(ada)
    url = poll_url(client.get(f"/people/teams/{crm.pk}/").content.decode(), "team-poll")
    poll_costs_one_query(client, url)
    people.grant_role(user_id=vera.pk, role="approver", team_id=crm.pk, actor=ada)
    html = client.get(url, **HTMX).content.decode()
    assert html.lstrip().startswith('<div class="stack" id="team-live"')
    assert 'data-person="vera"' in html
    other = TeamFactory(name="ERP team", slug="erp")
    # A pass is for one team's page: another team's poll runs the view, never a bare 204.
    elsewhere = url.replace(f"/teams/{crm.pk}/", f"/teams/{other.pk}/")
    assert client.get(elsewhere, **HTMX).status_code == 200


def test_a_poll_is_refused_once_the_administrator_role_is_gone(client, ada, vera, crm):
    client.force_login(ada)
    url = poll_url(client.get("/people/").content.decode(), "people-poll")
    team_url = poll_url(client.get(f"/people/teams/{crm.pk}/").content.decode(), "team-poll")
    client.force_login(vera)  # holds a role, but not the administrator's
    assert client.get(url, **HTMX).status_code == 403
    assert client.get(team_url, **HTMX).status_code == 403
