"""Every page route of a release, asked by a person whose roles (release manager, approver,
operator) are all held in another team: reads are allowed while visibility is
organisation-wide, every forged POST is 403 and writes nothing; under team visibility every
route is 404. The same person in the owning team is let through. The routes come from the URL
configuration, so a new page of a release is covered without being listed here."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from apps.accounts.models import RoleGrant
from apps.releases import services as rs
from apps.releases.models import Application
from apps.rollouts.models import Wave
from apps.stakeholders.models import Stakeholder, StakeholderRole
from tests.builders import advance, planned_release
from tests.db_state import db_state
from tests.factories import TeamFactory, UserFactory, give

pytestmark = pytest.mark.django_db


def _routes(patterns, prefix: str = "/"):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


RELEASE_ROUTES = sorted(
    route
    for route in set(_routes(get_resolver().url_patterns))
    if "<int:release_id>" in route and not route.startswith("/api/")
)


def test_the_release_pages_are_all_found():
    assert len(RELEASE_ROUTES) >= 20, RELEASE_ROUTES


@pytest.fixture
def world(rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    release = advance(release, rita, qa=alice, business_owner=bob, to="testing")
    defect = rs.defect_open(release_id=release.pk, title="Typo", severity="minor", actor=rita)
    own, other = TeamFactory(slug="crm-team"), TeamFactory(slug="erp-team")
    Application.objects.update(team=own)
    tom = UserFactory(username="tom")
    give(tom, "release_manager", "approver", "operator", team=other)
    ids = {
        "release_id": release.pk,
        "item_id": release.checklist.get().pk,
        "case_id": release.test_cases.get().pk,
        "defect_id": defect.pk,
        "wave_id": Wave.objects.get(plan__release=release).pk,
        "action": "pause",
        "fingerprint": release.fingerprint,
    }
    return ids, tom, own


def _url(route: str, ids: dict[str, int]) -> str:
    url = re.sub(r"<\w+:(\w+)>", lambda m: str(ids[m.group(1)]), route)
    assert "<" not in url, route
    return url


# A forged POST carries what the form asks for, so the refusal is the permission's, not the
# form's.
BODIES = {
    "/releases/<int:release_id>/move/": {"to": "cancelled", "reason": "Dropped."},
    "/releases/<int:release_id>/signoff/": {"decision": "approve"},
    "/releases/<int:release_id>/sign/": {"decision": "approve"},
    "/releases/<int:release_id>/sign/waves/<int:wave_id>/": {
        "decision": "approve",
        "fingerprint": "",
    },
}
# Pages that only show a form for a write: reading them needs the write's right.
WRITE_FORMS = {
    "/releases/<int:release_id>/edit/",
    "/releases/<int:release_id>/console/waves/<int:wave_id>/<slug:action>/confirm/",
}
# Reads asked by POST (the scheduler's preview of a plan not saved yet).
READ_BY_POST = {"/releases/<int:release_id>/plan/preview/"}


def _answers(client, ids) -> dict[tuple[str, str], int]:
    answers = {}
    for route in RELEASE_ROUTES:
        url = _url(route, ids)
        answers[(route, "GET")] = client.get(url).status_code
        body = dict(BODIES.get(route, {}))
        if "fingerprint" in body:
            body["fingerprint"] = ids["fingerprint"]
        answers[(route, "POST")] = client.post(url, body).status_code
    return answers


def _designed(route: str, method: str) -> int:
    """What a person with these roles in another team gets, visibility organisation-wide."""
    if method == "GET":
        return 403 if route in WRITE_FORMS else 200
    return 200 if route in READ_BY_POST else 403


def test_another_teams_roles_read_but_every_forged_post_is_403_and_writes_nothing(client, world):
    ids, tom, _ = world
    client.force_login(tom)
    before = db_state()
    answers = _answers(client, ids)
    assert db_state() == before
    wrong = {
        key: code
        for key, code in answers.items()
        if code != 405  # a route that does not take this method says so first
        and code != _designed(*key)
    }
    assert wrong == {}


def test_under_team_visibility_every_route_is_404(client, settings, world):
    ids, tom, _ = world
    settings.RELEASEDECK_VISIBILITY = "team"
    client.force_login(tom)
    before = db_state()
    answers = _answers(client, ids)
    assert db_state() == before
    assert {k: c for k, c in answers.items() if c not in (404, 405)} == {}


def test_the_same_roles_in_the_owning_team_are_let_through(client, settings, world):
    ids, tom, own = world
    RoleGrant.objects.filter(user=tom).update(team=own)
    # Named on the release as an approver may sign only in a role its policy asks for.
    Stakeholder.objects.create(
        release_id=ids["release_id"], user=tom, role=StakeholderRole.objects.get(slug="qa")
    )
    settings.RELEASEDECK_VISIBILITY = "team"
    client.force_login(tom)
    answers = _answers(client, ids)
    assert {k: c for k, c in answers.items() if c in (403, 404)} == {}
