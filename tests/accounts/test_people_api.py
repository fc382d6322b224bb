"""People, teams and grants through the API: administrators change them, everyone else is
refused with the service's message; bad input is a 400 naming the field and writes nothing;
deactivation stops the person's token, session and live pages at once."""

import json
import re

import pytest
from django.core import mail

from apps.accounts.models import RoleGrant
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.audit.selectors import latest_event_id
from tests.conftest import _persona
from tests.db_state import db_state
from tests.factories import ApplicationFactory, TeamFactory

pytestmark = pytest.mark.django_db

V1 = "/api/v1/"


@pytest.fixture
def ada(roles_seeded):
    return _persona("ada", "administrator")


def auth(user) -> dict[str, str]:
    _, key = api_token_create(actor=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def writes() -> dict[str, tuple]:
    """The database's state, less when tokens were last used (reading sets it)."""
    state = db_state()
    state.pop("accounts_apitoken")
    return state


def call(client, method: str, url: str, headers: dict[str, str], body: object = None):
    kwargs = dict(headers)
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(url, **kwargs)


def test_an_administrator_adds_a_person_and_makes_them_release_manager_of_a_team(client, ada):
    headers = auth(ada)
    team = call(client, "post", V1 + "teams/", headers, {"name": "CRM", "slug": "crm"})
    assert team.status_code == 201, team.json()
    person = call(
        client,
        "post",
        V1 + "users/",
        headers,
        {"username": "nina", "email": "nina@example.test", "first_name": "Nina"},
    )
    assert person.status_code == 201, person.json()
    assert person.json()["is_active"] is True

    url = f"{V1}teams/{team.json()['id']}/members/"
    body = {"user": person.json()["id"], "role": "release_manager"}
    granted = call(client, "post", url, headers, body)
    assert granted.status_code == 201, granted.json()
    assert granted.json()["team"]["slug"] == "crm"
    assert granted.json()["source"] == "manual"
    assert call(client, "post", url, headers, body).status_code == 200  # held already

    members = call(client, "get", url, headers).json()["results"]
    assert [(m["user"]["username"], m["role"]) for m in members] == [("nina", "release_manager")]
    detail = call(client, "get", f"{V1}users/{person.json()['id']}/", headers).json()
    assert [(g["role"], g["team"]["slug"]) for g in detail["grants"]] == [
        ("release_manager", "crm")
    ]

    revoke = call(client, "delete", f"{url}{granted.json()['id']}/", headers)
    assert revoke.status_code == 204
    assert not RoleGrant.objects.filter(user_id=person.json()["id"]).exists()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "users/", {"username": "nina", "email": "n@example.test"}),
        ("patch", "users/{vera}/", {"first_name": "V"}),
        ("post", "users/{vera}/deactivate/", None),
        ("post", "users/{vera}/reactivate/", None),
        ("post", "users/{vera}/set-password-link/", None),
        ("post", "teams/", {"name": "ERP", "slug": "erp"}),
        ("patch", "teams/{team}/", {"name": "Sales"}),
        ("post", "teams/{team}/members/", {"user": "{vera}", "role": "viewer"}),
        ("delete", "teams/{team}/members/{team_grant}/", None),
        ("post", "grants/", {"user": "{vera}", "role": "approver"}),
        ("delete", "grants/{org_grant}/", None),
    ],
)
def test_a_release_manager_is_refused_every_change_and_nothing_is_written(
    client, rita, vera, method, path, body
):
    team = TeamFactory(slug="crm")
    ids = {
        "vera": vera.pk,
        "team": team.pk,
        "team_grant": RoleGrant.objects.create(user=vera, role="approver", team=team).pk,
        "org_grant": RoleGrant.objects.get(user=vera, role="viewer").pk,
    }
    headers = auth(rita)
    if body is not None:
        body = {k: int(v.format(**ids)) if k == "user" else v for k, v in body.items()}
    before = writes()

    answer = call(client, method, V1 + path.format(**ids), headers, body)

    assert answer.status_code == 403
    assert answer.json()["detail"] == "Only an administrator may manage people."
    assert writes() == before


def test_reading_people_and_teams_needs_only_a_role(client, vera, charlie):
    team = TeamFactory(slug="crm")
    for path in ("users/", f"users/{vera.pk}/", "teams/", f"teams/{team.pk}/", "grants/"):
        assert call(client, "get", V1 + path, auth(vera)).status_code == 200, path
        assert call(client, "get", V1 + path, auth(charlie)).status_code == 403, path


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"role": "platform"}, "role", "organisation-wide only"),
        ({"role": "administrator"}, "role", "organisation-wide only"),
        ({"role": "operator", "tiers": ["prod"]}, "tiers", ""),
        ({"role": "approver", "tiers": ["staging"]}, "tiers", "Only an operator role"),
        ({"role": "owner"}, "role", ""),
        ({"role": "viewer", "user": 0}, "user", ""),
        ({"role": "viewer", "team": 1}, "team", "Unknown field"),
    ],
)
def test_a_bad_team_grant_is_a_400_naming_the_field(client, ada, charlie, body, field, message):
    team = TeamFactory(slug="crm")
    headers = auth(ada)
    before = writes()

    answer = call(
        client, "post", f"{V1}teams/{team.pk}/members/", headers, {"user": charlie.pk, **body}
    )

    assert answer.status_code == 400, answer.json()
    assert answer.json()["field"].split(".")[0] == field
    assert message in answer.json()["detail"]
    assert writes() == before


def test_an_organisation_wide_grant_of_platform(client, ada, charlie):
    answer = call(
        client, "post", V1 + "grants/", auth(ada), {"user": charlie.pk, "role": "platform"}
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["team"] is None
    event = AuditEvent.objects.filter(verb="role.granted").latest("id")
    assert event.after == {
        "user": "charlie",
        "role": "platform",
        "team": None,
        "tiers": [],
        "source": "manual",
    }
    listed = call(client, "get", f"{V1}grants/?user={charlie.pk}", auth(ada)).json()["results"]
    assert [g["role"] for g in listed] == ["platform"]


def test_an_administrator_keeps_their_own_administrator_role(client, ada):
    grant = RoleGrant.objects.get(user=ada, role="administrator")
    answer = call(client, "delete", f"{V1}grants/{grant.pk}/", auth(ada))
    assert answer.status_code == 400
    assert "lock yourself out" in answer.json()["detail"]
    assert RoleGrant.objects.filter(pk=grant.pk).exists()


def test_an_administrator_cannot_deactivate_themselves(client, ada):
    answer = call(client, "post", f"{V1}users/{ada.pk}/deactivate/", auth(ada))
    assert answer.status_code == 400
    assert "lock yourself out" in answer.json()["detail"]


def test_deactivated_people_are_listed_for_administrators_only(client, ada, vera, rita):
    call(client, "post", f"{V1}users/{vera.pk}/deactivate/", auth(ada))
    names = lambda user, query: [  # noqa: E731
        u["username"]
        for u in call(client, "get", V1 + "users/" + query, auth(user)).json()["results"]
    ]
    assert "vera" not in names(ada, "")
    assert names(ada, "?is_active=false") == ["vera"]
    assert names(rita, "?is_active=false") == []
    assert call(client, "get", f"{V1}users/{vera.pk}/", auth(rita)).status_code == 404
    assert call(client, "get", f"{V1}users/{vera.pk}/", auth(ada)).json()["is_active"] is False


def test_patch_changes_a_name_and_sets_a_password_or_neither(client, ada, vera):
    url = f"{V1}users/{vera.pk}/"
    bad = call(client, "patch", url, auth(ada), {"first_name": "Vera", "password": "1"})
    assert bad.status_code == 400
    assert bad.json()["field"] == "password"
    vera.refresh_from_db()
    assert vera.first_name == ""

    good = call(
        client, "patch", url, auth(ada), {"first_name": "Vera", "password": "plum-harbour-42"}
    )
    assert good.status_code == 200
    vera.refresh_from_db()
    assert (vera.first_name, vera.check_password("plum-harbour-42")) == ("Vera", True)


def test_the_set_password_link_is_mailed(client, ada, vera, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = call(client, "post", f"{V1}users/{vera.pk}/set-password-link/", auth(ada))
    assert answer.status_code == 204
    (message,) = mail.outbox
    assert message.to == ["vera@example.test"]
    assert "/accounts/reset/" in message.body


# Deactivation stops access on the next request


def test_a_deactivated_persons_api_token_is_refused(client, ada, vera):
    theirs = auth(vera)
    assert call(client, "get", V1 + "me/", theirs).status_code == 200
    call(client, "post", f"{V1}users/{vera.pk}/deactivate/", auth(ada))
    answer = call(client, "get", V1 + "me/", theirs)
    assert answer.status_code == 401
    assert answer.json()["detail"] == "Invalid token."


def test_a_deactivated_persons_session_ends(client, ada, vera, django_capture_on_commit_callbacks):
    client.force_login(vera)
    assert client.get("/environments/").status_code == 200
    admin = client.__class__()
    with django_capture_on_commit_callbacks(execute=True):
        call(admin, "post", f"{V1}users/{vera.pk}/deactivate/", auth(ada))
    answer = client.get("/environments/")
    assert answer.status_code == 302
    assert answer["Location"].startswith("/accounts/login/")


def test_a_deactivated_persons_live_pass_no_longer_answers(
    client, ada, vera, django_capture_on_commit_callbacks
):
    client.force_login(vera)
    html = client.get("/environments/").content.decode()
    match = re.search(r'id="live"[^>]*hx-get="([^"]+)"', html, re.S)
    assert match
    url = match.group(1).replace("&amp;", "&")
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 204

    with django_capture_on_commit_callbacks(execute=True):
        call(client.__class__(), "post", f"{V1}users/{vera.pk}/deactivate/", auth(ada))
    # The deactivation is itself an event: ask as a page that has seen it, so only the ended
    # session can refuse the poll.
    url = re.sub(r"since=\d+", f"since={latest_event_id()}", url)

    answer = client.get(url, HTTP_HX_REQUEST="true")
    assert answer.status_code == 403
    assert "HX-Redirect" in answer


def test_an_application_is_given_to_a_team(client, ada):
    from apps.releases.services import application_assign_team

    team = TeamFactory(slug="crm")
    app = ApplicationFactory(slug="crm-app")
    application_assign_team(application_id=app.pk, team_id=team.pk, actor=ada)
    answer = call(client, "get", f"{V1}teams/{team.pk}/", auth(ada))
    assert answer.json()["applications"] == [{"id": app.pk, "slug": "crm-app", "name": app.name}]
