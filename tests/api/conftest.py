"""API test fixtures: token headers per persona, an isolated cache, and a seeded world.

`world` is built once per module inside a transaction that is rolled back at the end; each test
runs in a savepoint inside it (pytest-django's `db`), so tests see the world and never each
other's changes.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.utils import timezone

from apps.accounts.models import RoleGrant
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.environments import services as es
from apps.notifications import services as ns
from apps.releases import services as rs
from apps.releases.models import Application, Release
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.transitions import wave_transition
from apps.signoffs.models import SignOff
from apps.stakeholders.models import Stakeholder
from tests.builders import advance, planned_release
from tests.conftest import _persona
from tests.factories import EnvironmentFactory, TeamFactory, UserFactory, give

PERSONAS = ("rm", "approver", "operator", "viewer", "readonly", "anonymous")


@pytest.fixture(autouse=True)
def isolated_cache(settings: Any, request: pytest.FixtureRequest) -> None:
    """A fresh in-memory cache per test, so throttling counters never leak between tests."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"api-test-{request.node.nodeid}",
        }
    }


def token_header(user: Any, *, read_only: bool = False) -> dict[str, str]:
    _, key = api_token_create(actor=user, name="test", read_only=read_only)
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


@dataclass
class World:
    """Seeded objects, by name, and one token per persona."""

    users: dict[str, Any]
    headers: dict[str, dict[str, str]]
    token_ids: dict[str, int]
    ids: dict[str, int] = field(default_factory=dict)


def build_world() -> World:
    rita = _persona("rita", "release_manager", "platform")
    alice = _persona("alice", "approver")
    bob = _persona("bob", "approver")
    oscar = _persona("oscar", "operator")
    vera = _persona("vera", "viewer")
    users = {"rm": rita, "approver": alice, "operator": oscar, "viewer": vera, "bob": bob}
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    token_ids: dict[str, int] = {}
    for persona, user, read_only in (
        ("rm", rita, False),
        ("approver", alice, False),
        ("operator", oscar, False),
        ("viewer", vera, False),
        ("readonly", rita, True),
    ):
        token, key = api_token_create(actor=user, name=persona, read_only=read_only)
        headers[persona] = {"HTTP_AUTHORIZATION": f"Token {key}"}
        token_ids[persona] = token.pk

    # A release in testing: the sign-off, checklist and test endpoints act on it.
    testing = planned_release(rita, qa=alice, business_owner=bob, version="2.0.0")
    testing = advance(testing, rita, qa=alice, business_owner=bob, to="testing")
    # A release in support: the review is written then.
    support = planned_release(rita, qa=alice, business_owner=bob, version="1.0.0")
    support = advance(support, rita, qa=alice, business_owner=bob, to="support")
    rs.review_write(
        release_id=support.pk, went_well="Calm.", went_badly="Late.", actions="Docs.", actor=rita
    )
    # A release in planning with a phase move on its way.
    planning = planned_release(rita, qa=alice, business_owner=bob, version="3.0.0")
    move = rs.release_request_move(release_id=planning.pk, to="preparation", actor=rita)
    env = EnvironmentFactory(name="prod-eu")
    defect = rs.defect_open(release_id=testing.pk, title="Typo", severity="minor", actor=alice)
    announcement = ns.announcement_create(
        release_id=testing.pk, title="New invoices", body="From Monday.", actor=rita
    )
    webhook = ns.webhook_create(
        name="Chat bot", url="https://chat.example.test/hook", secret="s" * 16, actor=rita
    )
    now = timezone.now()
    freeze = es.freeze_create(
        scope="global",
        start=now + timedelta(days=30),
        end=now + timedelta(days=31),
        reason="Quarter end",
        actor=rita,
    )
    window = es.deployment_window_add(
        environment_id=env.pk,
        weekdays=[0, 1, 2],
        start_time=time(9),
        end_time=time(17),
        actor=rita,
    )
    # A release rolling out, its wave deploying: the operator endpoints act on it.
    rolling = planned_release(rita, qa=alice, business_owner=bob, version="4.0.0")
    rolling_wave = Wave.objects.get(plan__release=rolling)
    check = ro.check_add(wave_id=rolling_wave.pk, name="smoke", kind="manual", actor=rita)
    rolling = advance(rolling, rita, qa=alice, business_owner=bob, to="rollout")
    wave_transition(wave_id=rolling_wave.pk, to="deploying", actor=None)
    ids = {
        "testing": testing.pk,
        "rolling": rolling.pk,
        "rolling_wave": rolling_wave.pk,
        "check": check.pk,
        "support": support.pk,
        "planning": planning.pk,
        "application": testing.application_id,
        "environment": env.pk,
        "move": move.pk,
        "checklist_item": testing.checklist.get().pk,
        "test_case": testing.test_cases.get().pk,
        "defect": defect.pk,
        "announcement": announcement.pk,
        "webhook": webhook.pk,
        "freeze": freeze.pk,
        "window": window.pk,
        "wave": Wave.objects.filter(plan__release=testing).get().pk,
        "stakeholder": Stakeholder.objects.get(release=testing, user=alice).pk,
        "signoff": SignOff.objects.filter(release=support).first().pk,
        "audit_event": AuditEvent.objects.filter(release_id=testing.pk).first().pk,
        "bob": bob.pk,
        "vera": vera.pk,
    }
    assert Release.objects.get(pk=testing.pk).phase == "testing"
    # A person whose roles are all in another team than the one owning these releases: under
    # team visibility every release-bound route is 404 for them (tests/api/test_schemathesis.py).
    crm_team = TeamFactory(name="CRM team", slug="crm-team")
    Application.objects.update(team=crm_team)
    # A role held in that team, and an organisation-wide one: the grant endpoints act on them.
    ids["team"] = crm_team.pk
    ids["team_grant"] = RoleGrant.objects.create(user=bob, role="viewer", team=crm_team).pk
    ids["org_grant"] = RoleGrant.objects.get(user=vera, role="viewer", team=None).pk
    tess = UserFactory(username="tess")
    give(tess, "release_manager", "approver", "operator", team=TeamFactory(slug="elsewhere"))
    token, key = api_token_create(actor=tess, name="team")
    headers["team"] = {"HTTP_AUTHORIZATION": f"Token {key}"}
    token_ids["team"] = token.pk
    users["team"] = tess
    # An administrator, for the people endpoints only (the matrix shows everyone else refused).
    ada = _persona("ada", "administrator")
    token, key = api_token_create(actor=ada, name="admin")
    headers["admin"] = {"HTTP_AUTHORIZATION": f"Token {key}"}
    token_ids["admin"] = token.pk
    users["admin"] = ada
    return World(users=users, headers=headers, token_ids=token_ids, ids=ids)


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


# Which seeded object an `{id}` in each collection names.
ID_OF = {
    "applications": "application",
    "releases": "testing",
    "moves": "move",
    "checklist-items": "checklist_item",
    "test-cases": "test_case",
    "defects": "defect",
    "stakeholders": "stakeholder",
    "signoffs": "signoff",
    "waves": "wave",
    "checks": "check",
    "announcements": "announcement",
    "notification-webhooks": "webhook",
    "environments": "environment",
    "deployment-windows": "window",
    "freeze-windows": "freeze",
    "audit-events": "audit_event",
    "users": "vera",
    "teams": "team",
    "grants": "org_grant",
}


@pytest.fixture(scope="module")
def in_test_transaction() -> Iterator[None]:
    """Keep the WSGI handler from closing the test's connection, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def api_schema(in_test_transaction: None) -> Any:
    """The schema as the running application serves it at /api/schema/."""
    return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


def seeded_ids(path: str, world: World, persona: str) -> dict[str, int | str]:
    """Path parameters that name seeded objects, so requests reach real rows."""
    collection = path.removeprefix("/api/v1/").split("/")[0]
    found: dict[str, int | str] = {}
    if "{slug}" in path:  # an incident source's webhook: none is seeded, so it is refused
        found["slug"] = "no-such-source"
    if "{release_id}" in path:
        found["release_id"] = world.ids["support" if path.endswith("/review/") else "testing"]
    if "{environment_id}" in path:
        found["environment_id"] = world.ids["environment"]
    if "{grant_id}" in path:
        found["grant_id"] = world.ids["team_grant"]
    if "{id}" in path:
        if collection == "tokens":
            found["id"] = world.token_ids.get(persona, world.token_ids["rm"])
        else:
            found["id"] = world.ids[ID_OF[collection]]
    return found
