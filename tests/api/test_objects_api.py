"""What a release holds and the shared catalogue, through the API: each write goes through its
service (audited), answers with the stored object, and refuses what the service refuses."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.environments.models import FreezeWindow, StopTheLine
from apps.releases.models import Application
from apps.signoffs.models import SignOff
from tests.builders import advance, planned_release
from tests.factories import EnvironmentFactory, give

from .conftest import token_header

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def send(client, method: str, url: str, body: Any, user) -> Any:
    return getattr(client, method)(
        url, data=body, content_type="application/json", **token_header(user)
    )


@pytest.fixture
def release(rita, alice, bob):
    return planned_release(rita, qa=alice, business_owner=bob)


@pytest.fixture
def testing(release, rita):
    return advance(release, rita, to="testing")


def test_application_created_and_renamed(client, rita) -> None:
    created = send(client, "post", f"{V1}/applications/", {"name": "HR", "slug": "hr"}, rita)
    renamed = send(
        client, "patch", f"{V1}/applications/{created.json()['id']}/", {"name": "People"}, rita
    )

    assert created.status_code == 201 and renamed.status_code == 200
    assert Application.objects.get(slug="hr").name == "People"
    assert AuditEvent.objects.filter(verb="application.updated").exists()


def test_application_slug_must_be_unique(client, rita, release) -> None:
    response = send(client, "post", f"{V1}/applications/", {"name": "Other", "slug": "crm"}, rita)

    assert response.status_code == 400
    assert response.json()["field"] == "name"


def test_stakeholder_named_and_removed(client, rita, vera, release) -> None:
    added = send(
        client,
        "post",
        f"{V1}/releases/{release.pk}/stakeholders/",
        {"user": vera.pk, "role": "security"},
        rita,
    )
    unknown_role = send(
        client,
        "post",
        f"{V1}/releases/{release.pk}/stakeholders/",
        {"user": vera.pk, "role": "astronaut"},
        rita,
    )
    removed = client.delete(f"{V1}/stakeholders/{added.json()['id']}/", **token_header(rita))

    assert added.status_code == 201
    assert added.json()["user"]["username"] == "vera" and added.json()["role"] == "security"
    assert unknown_role.status_code == 400 and unknown_role.json()["field"] == "role"
    assert removed.status_code == 204


def test_policy_replaced_and_read_back(client, rita, vera, release) -> None:
    body = {"requirements": [{"role": "qa", "count": 2}], "expiry_days": 14}

    response = send(client, "put", f"{V1}/releases/{release.pk}/signoff-policy/", body, rita)
    read = client.get(f"{V1}/releases/{release.pk}/signoff-policy/", **token_header(vera))

    assert response.status_code == 200
    assert read.json() == body


def test_approver_signs_off_and_repeating_is_harmless(client, alice, testing) -> None:
    url = f"{V1}/releases/{testing.pk}/signoffs/"

    first = send(client, "post", url, {"decision": "approve", "comment": "Good."}, alice)
    again = send(client, "post", url, {"decision": "approve", "comment": "Good."}, alice)
    changed = send(client, "post", url, {"decision": "reject", "comment": "No."}, alice)

    assert first.status_code == 201 and first.json()["current"] is True
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert changed.status_code == 409
    assert SignOff.objects.filter(release=testing).count() == 1


def test_owner_cannot_sign_off_their_own_release(client, rita, testing) -> None:
    give(rita, "approver")

    response = send(
        client, "post", f"{V1}/releases/{testing.pk}/signoffs/", {"decision": "approve"}, rita
    )

    assert response.status_code == 403
    assert "own or created" in response.json()["detail"]


def test_rejection_needs_a_comment(client, alice, testing) -> None:
    response = send(
        client, "post", f"{V1}/releases/{testing.pk}/signoffs/", {"decision": "reject"}, alice
    )

    assert response.status_code == 400
    assert response.json()["field"] == "comment"


def test_checklist_item_ticked_waived_and_reopened(client, oscar, testing) -> None:
    item = testing.checklist.get()
    url = f"{V1}/checklist-items/{item.pk}/"

    waived = send(client, "post", f"{url}waive/", {"reason": "Done by the DBA team."}, oscar)
    reopened = send(client, "patch", url, {"status": "open"}, oscar)
    no_reason = send(client, "patch", url, {"status": "waived"}, oscar)

    assert waived.json()["status"] == "waived"
    assert waived.json()["waive_reason"] == "Done by the DBA team."
    assert reopened.json()["status"] == "open"
    assert no_reason.status_code == 400 and no_reason.json()["field"] == "reason"


def test_test_case_recorded_and_defect_opened_and_closed(client, alice, testing) -> None:
    case = testing.test_cases.get()
    passed = send(client, "patch", f"{V1}/test-cases/{case.pk}/", {"status": "passed"}, alice)
    opened = send(
        client,
        "post",
        f"{V1}/releases/{testing.pk}/defects/",
        {"title": "Totals off", "severity": "critical"},
        alice,
    )
    blocked = client.get(f"{V1}/releases/{testing.pk}/status/", **token_header(alice)).json()
    closed = send(
        client,
        "post",
        f"{V1}/defects/{opened.json()['id']}/close/",
        {"resolution": "Fixed."},
        alice,
    )

    assert passed.json()["status"] == "passed"
    assert opened.status_code == 201
    assert "defect_open" in {b["code"] for b in blocked["blockers"]}
    assert closed.json()["status"] == "closed"


def test_review_written_only_once_in_support(client, rita, release, alice, bob) -> None:
    body = {"went_well": "Calm.", "went_badly": "Late docs.", "actions": "Docs first."}
    early = send(client, "put", f"{V1}/releases/{release.pk}/review/", body, rita)
    advance(release, rita, qa=alice, business_owner=bob, to="support")

    written = send(client, "put", f"{V1}/releases/{release.pk}/review/", body, rita)
    read = client.get(f"{V1}/releases/{release.pk}/review/", **token_header(rita))

    assert early.status_code == 409
    assert written.status_code == 200 and read.json()["actions"] == "Docs first."


def test_plan_strategy_set_and_wave_added(client, rita, release) -> None:
    env = EnvironmentFactory(name="prod-us", time_zone="America/New_York")

    plan = send(
        client, "put", f"{V1}/releases/{release.pk}/rollout-plan/", {"strategy": "rolling"}, rita
    )
    wave = send(
        client,
        "post",
        f"{V1}/releases/{release.pk}/waves/",
        {"name": "us 50%", "environment": env.pk, "percentage": 50},
        rita,
    )
    waves = client.get(f"{V1}/releases/{release.pk}/waves/", **token_header(rita)).json()

    assert plan.json()["strategy"] == "rolling"
    assert wave.status_code == 201 and wave.json()["position"] == 2
    assert [w["name"] for w in waves["results"]] == ["prod-eu 100%", "us 50%"]


def test_wave_percentage_out_of_range_names_the_field(client, rita, release) -> None:
    env = EnvironmentFactory()
    response = send(
        client,
        "post",
        f"{V1}/releases/{release.pk}/waves/",
        {"name": "x", "environment": env.pk, "percentage": 101},
        rita,
    )

    assert response.status_code == 400 and response.json()["field"] == "percentage"


def test_announcement_written_edited_and_deleted(client, rita, vera, release) -> None:
    created = send(
        client,
        "post",
        f"{V1}/releases/{release.pk}/announcements/",
        {"title": "New screen", "body": "From Monday.", "training_url": "https://learn.example/x"},
        rita,
    )
    url = f"{V1}/announcements/{created.json()['id']}/"
    edited = send(client, "patch", url, {"title": "New invoice screen"}, rita)
    bad_url = send(client, "patch", url, {"training_url": "javascript:alert(1)"}, rita)
    deleted = client.delete(url, **token_header(rita))

    assert created.status_code == 201 and created.json()["author"]["username"] == "rita"
    assert edited.json()["title"] == "New invoice screen"
    assert bad_url.status_code == 400 and bad_url.json()["field"] == "training_url"
    assert deleted.status_code == 204
    assert client.get(url, **token_header(vera)).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"body": ""}, "body"),
        ({"body": "b" * 20001}, "body"),
        ({"publish_at": "1969-12-31T23:00:00Z"}, "publish_at"),
        ({"publish_at": "not a time"}, "publish_at"),
        ({"training_url": "ftp://learn.example/x"}, "training_url"),
        ({"training_url": "https://learn.example/" + "x" * 200}, "training_url"),
    ],
)
def test_announcement_with_a_bad_value_is_400_and_not_written(
    client, rita, release, change, field
) -> None:
    body = {"title": "New screen", "body": "From Monday."} | change
    response = send(client, "post", f"{V1}/releases/{release.pk}/announcements/", body, rita)

    assert response.status_code == 400 and response.json()["field"] == field
    assert not release.announcements.exists()
    assert not AuditEvent.objects.filter(verb="announcement.created").exists()


def test_environment_created_with_a_real_time_zone_only(client, rita) -> None:
    ok = send(
        client,
        "post",
        f"{V1}/environments/",
        {"name": "prod-apac", "tier": "production", "region": "apac", "time_zone": "Asia/Tokyo"},
        rita,
    )
    bad = send(
        client,
        "post",
        f"{V1}/environments/",
        {"name": "moon", "tier": "production", "time_zone": "Moon/Base"},
        rita,
    )

    assert ok.status_code == 201 and ok.json()["time_zone"] == "Asia/Tokyo"
    assert bad.status_code == 400 and bad.json()["field"] == "time_zone"


def test_deployment_window_needs_its_end_after_its_start(client, rita) -> None:
    env = EnvironmentFactory()
    url = f"{V1}/environments/{env.pk}/deployment-windows/"

    ok = send(
        client, "post", url, {"weekdays": [0, 4], "start_time": "09:00", "end_time": "17:30"}, rita
    )
    bad = send(
        client, "post", url, {"weekdays": [0], "start_time": "17:00", "end_time": "09:00"}, rita
    )

    assert ok.status_code == 201 and ok.json()["end_time"] == "17:30:00"
    assert bad.status_code == 400 and bad.json()["field"] == "end_time"


def test_freeze_windows_declared_filtered_and_lifted(client, rita, vera) -> None:
    now = timezone.now()
    env = EnvironmentFactory(name="prod-us", region="us")
    body = {
        "scope": "environment",
        "environment": env.pk,
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=5)).isoformat(),
        "reason": "Quarter-end close",
    }
    created = send(client, "post", f"{V1}/freeze-windows/", body, rita)
    inconsistent = send(client, "post", f"{V1}/freeze-windows/", {**body, "scope": "global"}, rita)
    active = client.get(
        f"{V1}/freeze-windows/", {"active_at": now.isoformat()}, **token_header(vera)
    ).json()
    later = client.get(
        f"{V1}/freeze-windows/",
        {"active_at": (now + timedelta(days=1)).isoformat()},
        **token_header(vera),
    ).json()
    freeze_url = f"{V1}/freeze-windows/{created.json()['id']}/"
    unexplained = client.delete(freeze_url, **token_header(rita))
    lifted = client.delete(freeze_url + "?reason=Close+finished+early.", **token_header(rita))

    assert created.status_code == 201 and created.json()["environment"]["name"] == "prod-us"
    assert inconsistent.status_code == 400 and inconsistent.json()["field"] == "environment"
    assert active["count"] == 1 and later["count"] == 0
    assert unexplained.status_code == 400 and unexplained.json()["field"] == "reason"
    assert lifted.status_code == 204 and not FreezeWindow.objects.exists()
    assert AuditEvent.objects.get(verb="freeze.removed").reason == "Close finished early."


def test_stop_the_line_pulled_with_a_reason_and_lifted(client, oscar, vera) -> None:
    url = f"{V1}/stop-the-line/"
    no_reason = send(client, "put", url, {"active": True}, oscar)
    pulled = send(client, "put", url, {"active": True, "reason": "Payments down."}, oscar)
    seen = client.get(url, **token_header(vera)).json()
    lifted = send(client, "put", url, {"active": False}, oscar)

    assert no_reason.status_code == 400 and no_reason.json()["field"] == "reason"
    assert pulled.status_code == 200
    assert seen["active"] is True and seen["changed_by"]["username"] == "oscar"
    assert lifted.json()["active"] is False
    assert not StopTheLine.objects.get(pk=1).active
    verbs = list(
        AuditEvent.objects.filter(verb__startswith="stop_the_line").values_list("verb", flat=True)
    )
    assert verbs == ["stop_the_line.on", "stop_the_line.off"]


def test_unknown_ids_get_404_json_everywhere(client, vera) -> None:
    for url in (
        f"{V1}/releases/999999/status/",
        f"{V1}/releases/999999/checklist-items/",
        f"{V1}/waves/999999/",
        f"{V1}/releases/0/",
        f"{V1}/releases/99999999999999999999/",
    ):
        response = client.get(url, **token_header(vera))
        assert response.status_code == 404, url
        assert response.json()["detail"]
