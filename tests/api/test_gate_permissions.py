"""Who may clear a gate through the API: freezes, windows and environments are set by release
managers and administrators, not operators; a blocker or critical defect is closed by a release
manager or the release's qa stakeholder, with a resolution note. The deploy tool's URL and
secret are set through the API, the secret never read back."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.environments import services as es
from apps.environments.models import Environment, FreezeWindow
from apps.releases import services as rs
from apps.releases.models import Defect
from tests.builders import advance, planned_release
from tests.factories import EnvironmentFactory

from .conftest import token_header

pytestmark = pytest.mark.django_db

V1 = "/api/v1"
SECRET = "deploy-secret-0123456789"


def send(client: Any, method: str, url: str, body: Any, user: Any) -> Any:
    return getattr(client, method)(
        url, data=body, content_type="application/json", **token_header(user)
    )


@pytest.fixture
def freeze_in_force(rita) -> FreezeWindow:
    now = timezone.now()
    return es.freeze_create(
        scope="global",
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=6),
        reason="Incident review",
        actor=rita,
    )


# ---- Environments, windows and freezes ----


def test_an_operator_cannot_lift_shorten_or_reshape_what_holds_their_wave(
    client, oscar, freeze_in_force
) -> None:
    env = EnvironmentFactory(name="prod-eu", time_zone="Europe/Berlin")
    freeze_url = f"{V1}/freeze-windows/{freeze_in_force.pk}/"
    sooner = (freeze_in_force.end - timedelta(hours=5)).isoformat()

    answers = [
        client.delete(freeze_url + "?reason=Want+to+ship", **token_header(oscar)),
        send(client, "patch", freeze_url, {"end": sooner, "change_reason": "Ship"}, oscar),
        send(client, "patch", f"{V1}/environments/{env.pk}/", {"time_zone": "UTC"}, oscar),
        send(
            client,
            "post",
            f"{V1}/environments/{env.pk}/deployment-windows/",
            {"weekdays": [0, 1, 2, 3, 4, 5, 6], "start_time": "00:00", "end_time": "23:59"},
            oscar,
        ),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403, 403]
    assert all("platform" in a.json()["detail"] for a in answers)
    freeze_in_force.refresh_from_db()
    assert freeze_in_force.end > timezone.now() + timedelta(hours=5)
    assert Environment.objects.get(pk=env.pk).time_zone == "Europe/Berlin"


def test_a_freeze_in_force_is_lifted_or_shortened_only_with_a_reason(
    client, rita, freeze_in_force
) -> None:
    url = f"{V1}/freeze-windows/{freeze_in_force.pk}/"
    sooner = (freeze_in_force.end - timedelta(hours=5)).isoformat()

    shortened_silently = send(client, "patch", url, {"end": sooner}, rita)
    shortened = send(client, "patch", url, {"end": sooner, "change_reason": "Fixed."}, rita)
    lengthened = send(
        client, "patch", url, {"end": (freeze_in_force.end + timedelta(days=1)).isoformat()}, rita
    )
    lifted_silently = client.delete(url, **token_header(rita))
    lifted = client.delete(url + "?reason=Incident+closed", **token_header(rita))

    assert shortened_silently.status_code == 400
    assert shortened_silently.json()["field"] == "change_reason"
    assert shortened.status_code == 200
    assert lengthened.status_code == 200  # more protection needs no reason
    assert lifted_silently.status_code == 400 and lifted_silently.json()["field"] == "reason"
    assert lifted.status_code == 204
    assert AuditEvent.objects.get(verb="freeze.removed").reason == "Incident closed"
    assert AuditEvent.objects.filter(verb="freeze.updated", reason="Fixed.").exists()


def test_an_administrator_manages_freezes(client, root, freeze_in_force) -> None:
    answer = client.delete(
        f"{V1}/freeze-windows/{freeze_in_force.pk}/?reason=Override", **token_header(root)
    )

    assert answer.status_code == 204


def test_the_operator_still_pulls_stop_the_line(client, oscar) -> None:
    answer = send(client, "put", f"{V1}/stop-the-line/", {"active": True, "reason": "Down"}, oscar)

    assert answer.status_code == 200


# ---- The deploy tool's URL and secret ----


def test_deploy_url_and_secret_are_set_through_the_api_and_the_secret_never_read(
    client, rita, vera
) -> None:
    created = send(
        client,
        "post",
        f"{V1}/environments/",
        {
            "name": "prod-ap",
            "tier": "production",
            "time_zone": "Asia/Singapore",
            "deploy_url": "https://deploy.example.test/ap",
            "deploy_secret": SECRET,
        },
        rita,
    )
    url = f"{V1}/environments/{created.json()['id']}/"
    read = client.get(url, **token_header(vera))
    listed = client.get(f"{V1}/environments/", **token_header(vera))

    assert created.status_code == 201, created.json()
    assert created.json()["deploy_url"] == "https://deploy.example.test/ap"
    assert created.json()["deploy_secret_set"] is True
    for answer in (created, read, listed):
        assert SECRET not in answer.content.decode()
        assert b'deploy_secret"' not in answer.content
    env = Environment.objects.get(name="prod-ap")
    assert env.deploy_secret == SECRET
    audit = AuditEvent.objects.get(verb="environment.created")
    assert SECRET not in str(audit.after) and audit.after["deploy_secret"] == "set"

    rotated = send(client, "patch", url, {"deploy_secret": "another-secret-abcdefgh"}, rita)
    assert rotated.status_code == 200 and SECRET not in rotated.content.decode()
    env.refresh_from_db()
    assert env.deploy_secret == "another-secret-abcdefgh"

    removed = send(client, "patch", url, {"deploy_secret": ""}, rita)
    assert removed.json()["deploy_secret_set"] is False
    moved = send(client, "patch", url, {"deploy_url": "https://deploy.example.test/ap2"}, rita)
    assert moved.json()["deploy_url"] == "https://deploy.example.test/ap2"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"deploy_secret": "short"}, "deploy_secret"),
        ({"deploy_secret": " padded-secret-0123456 "}, "deploy_secret"),
        ({"deploy_url": "ftp://deploy.example.test/"}, "deploy_url"),
        ({"deploy_secret": "x" * 129}, "deploy_secret"),
    ],
)
def test_bad_deploy_settings_are_refused_naming_the_field(client, rita, body, field) -> None:
    env = EnvironmentFactory()

    answer = send(client, "patch", f"{V1}/environments/{env.pk}/", body, rita)

    assert answer.status_code == 400
    assert answer.json()["field"] == field


# ---- Blocking defects ----


@pytest.fixture
def testing(rita, alice, bob):
    return advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")


def _defect(release: Any, actor: Any, severity: str) -> Defect:
    return rs.defect_open(release_id=release.pk, title="Totals", severity=severity, actor=actor)


@pytest.mark.parametrize("severity", ["blocker", "critical"])
def test_operator_and_a_non_qa_approver_cannot_close_a_blocking_defect(
    client, testing, oscar, bob, severity
) -> None:
    defect = _defect(testing, oscar, severity)
    url = f"{V1}/defects/{defect.pk}/close/"

    by_operator = send(client, "post", url, {"resolution": "Looks fine."}, oscar)
    by_business_owner = send(client, "post", url, {"resolution": "Looks fine."}, bob)

    assert (by_operator.status_code, by_business_owner.status_code) == (403, 403)
    assert "qa stakeholder" in by_operator.json()["detail"]
    defect.refresh_from_db()
    assert defect.status == "open"
    transition = send(
        client, "post", f"{V1}/releases/{testing.pk}/transition/", {"to": "rollout"}, testing.owner
    )
    assert "defect_open" in {b["code"] for b in transition.json()["blockers"]}


@pytest.mark.parametrize("closer", ["alice", "rita"])
def test_qa_stakeholder_or_release_manager_closes_it_with_a_note(
    client, testing, oscar, closer, request
) -> None:
    user = request.getfixturevalue(closer)
    defect = _defect(testing, oscar, "blocker")
    url = f"{V1}/defects/{defect.pk}/close/"

    no_note = send(client, "post", url, {}, user)
    closed = send(client, "post", url, {"resolution": "Fixed in build 7."}, user)

    assert no_note.status_code == 400 and no_note.json()["field"] == "resolution"
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_an_operator_opens_and_closes_an_ordinary_defect(client, testing, oscar) -> None:
    opened = send(
        client,
        "post",
        f"{V1}/releases/{testing.pk}/defects/",
        {"title": "Typo", "severity": "minor"},
        oscar,
    )
    closed = send(client, "post", f"{V1}/defects/{opened.json()['id']}/close/", {}, oscar)

    assert (opened.status_code, closed.status_code) == (201, 200)
