"""The permission matrix × scope: every endpoint that acts on a team's release, asked by each
persona the matrix allows, with that persona's roles held in the owning team (allowed, as in
the matrix), in another team (403 for a write; a read is still allowed while visibility is
organisation-wide) and in another team under team visibility (404: the release is hidden).

Endpoints about shared things (people, tokens, environments, freezes, stop the line, webhooks,
the audit trail) are listed in SHARED; the ones that need an organisation-wide role in ORG.
Together with the release-bound ones they must cover the whole matrix."""

from typing import Any

import pytest
from django.db import transaction

from apps.accounts.models import RoleGrant, Team
from apps.accounts.roles import ORG_ONLY
from apps.releases.models import Application

from .conftest import World
from .test_permission_matrix import MATRIX, V1, _url

pytestmark = pytest.mark.django_db

SHARED = {
    ("/api/schema/", "GET"),
    ("/api/docs/", "GET"),
    (V1 + "me/", "GET"),
    (V1 + "stakeholder-roles/", "GET"),
    # Lists that leave hidden rows out rather than refuse (tests/accounts/test_visibility.py)
    (V1 + "applications/", "GET"),
    (V1 + "releases/", "GET"),
    (V1 + "audit-events/", "GET"),
    (V1 + "audit-events/export/", "GET"),
    (V1 + "audit-events/<id:id>/", "GET"),
    # Signed by the GitHub App; which release it is about is in the body, not the route.
    (V1 + "github/webhook/", "POST"),
    # Signed by Slack, not a person: who acts is the chat identity's person, under the web's
    # rules (tests/notifications/test_slack.py)
    (V1 + "chat/slack/interactions/", "POST"),
}
SHARED_PREFIXES = (
    V1 + "tokens/",
    # People, teams and grants: read by anyone with a role, changed by administrators only.
    V1 + "users/",
    V1 + "teams/",
    V1 + "grants/",
    V1 + "environments/",
    V1 + "deployment-windows/",
    V1 + "freeze-windows/",
    V1 + "stop-the-line/",
    V1 + "incidents/",
    V1 + "incident-sources/",
    V1 + "notification-webhooks/",
)
# A hidden release is 404 on its routes; an application named in a body is a field error, the
# same as one that does not exist.
HIDDEN = {(V1 + "releases/", "POST"): 400}
# Writes that only an organisation-wide role may make, whatever team holds the role.
ORG = {(V1 + "applications/", "POST")}


def scope_of(endpoint: tuple[str, str]) -> str:
    if endpoint in ORG:
        return "org"
    if endpoint in SHARED or endpoint[0].startswith(SHARED_PREFIXES):
        return "shared"
    return "team"


TEAM_BOUND = sorted(e for e in MATRIX if scope_of(e) == "team")
SIGNED_IN = ("rm", "approver", "operator", "viewer")


def test_every_endpoint_has_a_scope():
    scopes = {e: scope_of(e) for e in MATRIX}
    assert set(scopes.values()) == {"team", "org", "shared"}
    assert len(TEAM_BOUND) > 60  # the release-bound endpoints are most of the API


def _ask(client, world: World, route: str, method: str, persona: str) -> int:
    row = MATRIX[(route, method)]
    url = _url(route, row.ids(world, persona))
    body = row.body(world, persona) if row.body else {}
    kwargs: dict[str, Any] = dict(world.headers[persona])
    if method != "GET":
        kwargs.update(data=body, content_type="application/json")
    response = getattr(client, method.lower())(url, **kwargs)
    if response.status_code >= 400:
        assert response.json()["detail"], (persona, url)
    return response.status_code


def _hold_in(world: World, persona: str, team: Team) -> None:
    """Move the persona's roles into `team`. Platform has no team (and reads every release), so
    it goes: what is left is purely the team's."""
    grants = RoleGrant.objects.filter(user=world.users[persona])
    grants.filter(role__in=ORG_ONLY).delete()
    grants.update(team=team)


@pytest.fixture
def teams(world: World):
    own = Team.objects.get(slug="crm-team")  # the world's applications belong to it
    other = Team.objects.create(name="ERP team", slug="erp-team")
    assert set(Application.objects.values_list("team", flat=True)) == {own.pk}
    return own, other


@pytest.mark.parametrize("endpoint", TEAM_BOUND, ids=lambda e: f"{e[1]} {e[0]}")
def test_a_role_acts_in_its_own_team_only(client, settings, world: World, teams, endpoint):
    own, other = teams
    route, method = endpoint
    expected = MATRIX[endpoint].expected
    allowed = [p for p in SIGNED_IN if expected[p] < 400]
    answers, designed = {}, {}
    for persona in allowed:
        for where, team, visibility in (
            ("own team", own, "organisation"),
            ("other team", other, "organisation"),
            ("other team, hidden", other, "team"),
        ):
            settings.RELEASEDECK_VISIBILITY = visibility
            with transaction.atomic():
                _hold_in(world, persona, team)
                answers[(persona, where)] = _ask(client, world, route, method, persona)
                transaction.set_rollback(True)
            if where == "own team":
                designed[(persona, where)] = expected[persona]
            elif visibility == "team":
                designed[(persona, where)] = HIDDEN.get(endpoint, 404)
            elif method == "GET" or expected["viewer"] < 400:  # a read, even by POST
                designed[(persona, where)] = expected[persona]
            else:
                designed[(persona, where)] = 403
    assert answers == designed


@pytest.mark.parametrize("endpoint", sorted(ORG), ids=lambda e: f"{e[1]} {e[0]}")
def test_an_organisation_wide_write_is_refused_to_a_team_role(
    client, world: World, teams, endpoint
):
    own, _ = teams
    route, method = endpoint
    allowed = [p for p in SIGNED_IN if MATRIX[endpoint].expected[p] < 400]
    assert allowed
    for persona in allowed:
        with transaction.atomic():
            _hold_in(world, persona, own)
            assert _ask(client, world, route, method, persona) == 403
            transaction.set_rollback(True)
