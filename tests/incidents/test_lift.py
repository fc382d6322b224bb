"""Lifting an incident freeze early: the environment's quorum of distinct, entitled people."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict
from apps.environments import services as es
from apps.environments.models import FreezeWindow
from apps.incidents.models import FreezeLiftApproval, Incident
from apps.notifications import services as ns
from apps.notifications.models import Notification
from tests.api.conftest import token_header
from tests.db_state import db_state
from tests.factories import TeamFactory, UserFactory, give

from .conftest import bearer, post_hook

pytestmark = pytest.mark.django_db


@pytest.fixture
def freeze(client, generic, prod_eu) -> FreezeWindow:
    prod_eu.freeze_lift_quorum = 2
    prod_eu.save()
    body = json.dumps({"id": "INC-1", "status": "open", "title": "Payments down"}).encode()
    assert post_hook(client, "status", body, **bearer(generic.token)).status_code == 202
    return Incident.objects.get(external_id="INC-1").freeze


def signed_in(client, user) -> dict[str, str]:
    """Sign `user` in on `client` now (a session: using it writes no project row)."""
    client.force_login(user)
    return {}


def lift(client, freeze: FreezeWindow, who, reason: str = "Payments are back."):
    """`who`: a user (with a token), or the headers of a client already signed in."""
    headers = who if isinstance(who, dict) else token_header(who)
    return client.post(
        f"/api/v1/freeze-windows/{freeze.pk}/lift/",
        data={"reason": reason},
        content_type="application/json",
        **headers,
    )


def in_force(freeze: FreezeWindow) -> bool:
    freeze.refresh_from_db()
    return freeze.start <= timezone.now() < freeze.end


def test_one_approval_when_two_are_needed_leaves_the_freeze_in_force(client, freeze, oscar):
    response = lift(client, freeze, oscar)

    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["approvers"], body["needed"], body["lifted"]) == (["oscar"], 2, False)
    assert "1 of 2 approvals" in body["detail"]
    assert in_force(freeze)
    assert AuditEvent.objects.filter(verb="freeze.lift_approved").count() == 1
    assert not AuditEvent.objects.filter(verb="freeze.lifted").exists()


def test_the_same_person_approving_twice_is_refused_and_writes_nothing(client, freeze, oscar):
    headers = signed_in(client, oscar)
    lift(client, freeze, headers)
    before = db_state()

    response = lift(client, freeze, headers, reason="Really back.")

    assert response.status_code == 409
    assert "already approved" in response.json()["detail"]
    assert "1 more" in response.json()["blockers"][0]["message"]
    assert db_state() == before
    assert in_force(freeze)


def test_two_distinct_people_lift_it(client, freeze, oscar, rita):
    ns.webhook_create(
        name="Chat", url="https://chat.example.test/hook", secret="s" * 16, actor=rita
    )
    assert lift(client, freeze, oscar).status_code == 202

    response = lift(client, freeze, rita)

    assert response.status_code == 200, response.json()
    assert response.json()["lifted"] is True
    assert response.json()["approvers"] == ["oscar", "rita"]
    assert not in_force(freeze)
    lifted = AuditEvent.objects.get(verb="freeze.lifted")
    assert lifted.actor_label == "rita" and "oscar, rita" in lifted.reason
    events = set(Notification.objects.values_list("event", flat=True))
    assert {"freeze.lift_approved", "freeze.lifted"} <= events
    # Lifted once: a later approval changes nothing.
    assert lift(client, freeze, rita).status_code == 200
    assert AuditEvent.objects.filter(verb="freeze.lifted").count() == 1


@pytest.mark.parametrize("who", ["viewer", "team_operator", "staging_operator", "approver"])
def test_people_without_the_right_are_refused_and_write_nothing(client, freeze, vera, alice, who):
    if who == "viewer":
        user = vera
    elif who == "approver":
        user = alice
    else:
        user = UserFactory(username=who)
        if who == "team_operator":
            give(user, "operator", team=TeamFactory())
        else:
            give(user, "operator", tiers=("staging",))
    headers = signed_in(client, user)
    before = db_state()

    response = lift(client, freeze, headers)

    assert response.status_code == 403, response.json()
    assert db_state() == before


def test_an_incident_freeze_cannot_be_removed_or_shortened_by_hand(client, freeze, rita):
    headers = signed_in(client, rita)
    before = db_state()
    response = client.delete(f"/api/v1/freeze-windows/{freeze.pk}/?reason=Over", **headers)
    assert response.status_code == 409
    assert response.json()["blockers"][0]["code"] == "lift_needs_quorum"
    with pytest.raises(Conflict):
        es.freeze_update(freeze_id=freeze.pk, end=timezone.now(), actor=rita, change_reason="x")
    assert db_state() == before


def test_a_freeze_not_declared_for_an_incident_is_not_lifted_by_approvals(client, rita, prod_eu):
    now = timezone.now()
    plain = es.freeze_create(
        scope="global", start=now, end=now + timedelta(hours=1), reason="Close", actor=rita
    )
    response = lift(client, plain, rita)
    assert response.status_code == 409
    assert not FreezeLiftApproval.objects.exists()


def test_a_reason_is_required(client, freeze, oscar):
    headers = signed_in(client, oscar)
    before = db_state()
    response = lift(client, freeze, headers, reason="")
    assert response.status_code == 400
    assert db_state() == before


def test_the_platform_role_sets_an_environments_quorum(client, rita, oscar, prod_eu):
    url = f"/api/v1/environments/{prod_eu.pk}/"
    ok = client.patch(
        url, data={"freeze_lift_quorum": 3}, content_type="application/json", **token_header(rita)
    )
    assert ok.status_code == 200 and ok.json()["freeze_lift_quorum"] == 3
    for value in (0, "two"):
        bad = client.patch(
            url,
            data={"freeze_lift_quorum": value},
            content_type="application/json",
            **token_header(rita),
        )
        assert bad.status_code == 400
    denied = client.patch(
        url, data={"freeze_lift_quorum": 1}, content_type="application/json", **token_header(oscar)
    )
    assert denied.status_code == 403
    prod_eu.refresh_from_db()
    assert prod_eu.freeze_lift_quorum == 3


def test_a_wider_freeze_needs_the_largest_quorum_it_covers(rita, prod_eu, prod_us):
    from apps.environments.selectors import lift_quorum

    prod_us.freeze_lift_quorum = 3
    prod_us.save()
    now = timezone.now()
    freeze = es.freeze_declare_halting(
        scope="global", start=now, end=now + timedelta(hours=1), reason="Incident"
    )
    assert lift_quorum(freeze) == 3
